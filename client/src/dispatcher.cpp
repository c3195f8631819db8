#include "dispatcher.hpp"

namespace ectowatch::detail {

Dispatcher::Dispatcher(SubscriptionRegistry &registry, Inbox &inbox, PositionTracker *positions,
                       std::function<void()> after_batch)
    : registry_(registry), inbox_(inbox), positions_(positions), after_batch_(std::move(after_batch)) {}

void Dispatcher::add_resync_callback(std::function<void(const Resync &)> callback) {
  std::lock_guard lock(callbacks_mutex_);
  resync_callbacks_.push_back(std::move(callback));
}

void Dispatcher::set_error_callback(ErrorCallback callback) {
  std::lock_guard lock(callbacks_mutex_);
  error_callback_ = std::move(callback);
}

void Dispatcher::set_connection_callback(std::function<void(bool)> callback) {
  std::lock_guard lock(callbacks_mutex_);
  connection_callback_ = std::move(callback);
}

void Dispatcher::report(const Error &error) {
  ErrorCallback callback;
  {
    std::lock_guard lock(callbacks_mutex_);
    callback = error_callback_;
  }
  if (callback) {
    try {
      callback(error);
    } catch (...) {
      // An error handler that throws has nobody left to tell.
    }
  }
}

void Dispatcher::call(const SubscriptionPtr &subscription, const Event &event) {
  std::lock_guard lock(subscription->call_mutex);
  if (!subscription->active)
    return;
  try {
    subscription->callback(event);
  } catch (const std::exception &error) {
    report(CallbackError(std::string("a subscriber of \"") + subscription->label + "\" threw: " + error.what()));
  } catch (...) {
    report(CallbackError("a subscriber of \"" + subscription->label + "\" threw a non-standard exception"));
  }
}

void Dispatcher::deliver(const SubscriptionPtr &subscription, const Event &event) {
  if (subscription->active && coalescer_.admit(subscription, event, Clock::now()))
    call(subscription, event);
}

void Dispatcher::resync(const Resync &event) {
  std::vector<std::function<void(const Resync &)>> callbacks;
  {
    std::lock_guard lock(callbacks_mutex_);
    callbacks = resync_callbacks_;
  }
  for (auto &callback : callbacks) {
    try {
      callback(event);
    } catch (const std::exception &error) {
      report(CallbackError(std::string("a resync callback threw: ") + error.what()));
    } catch (...) {
      report(CallbackError("a resync callback threw a non-standard exception"));
    }
  }
}

// Rows were left out of `message` (dropped) or its table was truncated:
// every subscriber of the label is told, then the resync callbacks. Nobody
// is when the label has no subscriber (left since the message was sent).
std::size_t Dispatcher::announce_gap(const MessagePtr &message) {
  auto subscribers = registry_.all_of(message->label);
  if (subscribers.empty())
    return 0;
  Event event(message, message->op == Op::truncated ? Event::Kind::truncated : Event::Kind::dropped);
  for (const SubscriptionPtr &subscription : subscribers)
    deliver(subscription, event);
  resync(Resync{message->op == Op::truncated ? Resync::Reason::truncated : Resync::Reason::dropped, message->label});
  return subscribers.size();
}

std::size_t Dispatcher::dispatch(const Work &work) {
  std::size_t delivered = 0;
  if (auto *message = std::get_if<MessagePtr>(&work)) {
    const auto &shared = *message;
    registry_.match(*shared, matches_);
    for (const auto &match : matches_) {
      deliver(match.subscription, Event(shared, Event::Kind::row, match.row_index));
      ++delivered;
    }
    matches_.clear();
    if (shared->dropped > 0 || shared->op == Op::truncated)
      delivered += announce_gap(shared);
  } else if (auto *event = std::get_if<Resync>(&work)) {
    resync(*event);
  } else if (auto *item = std::get_if<ErrorItem>(&work)) {
    try {
      std::rethrow_exception(item->error);
    } catch (const Error &error) {
      report(error);
    } catch (...) {
    }
  } else if (auto *change = std::get_if<ConnectionChange>(&work)) {
    std::function<void(bool)> callback;
    {
      std::lock_guard lock(callbacks_mutex_);
      callback = connection_callback_;
    }
    if (callback) {
      try {
        callback(change->connected);
      } catch (const std::exception &error) {
        report(CallbackError(std::string("a connection callback threw: ") + error.what()));
      } catch (...) {
        report(CallbackError("a connection callback threw a non-standard exception"));
      }
    }
  }
  return delivered;
}

std::size_t Dispatcher::fire_windows() {
  std::size_t delivered = 0;
  while (auto due = coalescer_.take_due(Clock::now())) {
    call(due->subscription, due->event);
    ++delivered;
  }
  return delivered;
}

std::size_t Dispatcher::dispatch_ready(const std::atomic<bool> &stopping) {
  std::lock_guard dispatching(dispatch_mutex_);
  dispatching_thread_ = std::this_thread::get_id();
  std::size_t delivered = 0;
  Batch batch;
  // stop() (also from a callback) ends dispatch after the current message,
  // or for a durable client at the end of the current transaction: the rest
  // stays queued, unconfirmed.
  auto halted = [&] { return stopping && !(positions_ && positions_->inside_transaction()); };
  while (!halted() && inbox_.take(batch)) {
    while (!batch.empty() && !halted()) {
      delivered += dispatch(batch.front());
      if (positions_)
        positions_->done(batch.front());
      // Room for the reading side as soon as a message is through, so a
      // slow consumer's long batch does not hold the whole budget.
      inbox_.done(batch.front());
      batch.pop_front();
    }
    inbox_.put_back(batch);
    if (after_batch_)
      after_batch_();
  }
  delivered += fire_windows();
  dispatching_thread_ = std::thread::id{};
  return delivered;
}

} // namespace ectowatch::detail
