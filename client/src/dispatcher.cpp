#include "dispatcher.hpp"

namespace ectowatch::detail {

Dispatcher::Dispatcher(SubscriptionRegistry &registry, Inbox &inbox, PositionTracker *positions,
                       std::function<void()> after_batch, StatsCounters &stats, Loader *loader)
    : registry_(registry), inbox_(inbox), positions_(positions), after_batch_(std::move(after_batch)), stats_(stats),
      loader_(loader) {}

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

void Dispatcher::set_log_callback(std::function<void(LogLevel, std::string_view)> callback) {
  std::lock_guard lock(callbacks_mutex_);
  log_callback_ = std::move(callback);
}

void Dispatcher::log(LogLevel level, std::string_view text) {
  std::function<void(LogLevel, std::string_view)> callback;
  {
    std::lock_guard lock(callbacks_mutex_);
    callback = log_callback_;
  }
  if (!callback)
    return;
  try {
    callback(level, text);
  } catch (const std::exception &error) {
    callback_failed(CallbackError(std::string("a log callback threw: ") + error.what()));
  } catch (...) {
    callback_failed(CallbackError("a log callback threw a non-standard exception"));
  }
}

void Dispatcher::callback_failed(const CallbackError &error) {
  stats_.callback_errors.add();
  report(error);
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

void Dispatcher::call(const SubscriptionPtr &subscription, std::span<const Event> events) {
  std::lock_guard lock(subscription->call_mutex);
  if (!subscription->active)
    return;
  try {
    if (subscription->batch_callback)
      subscription->batch_callback(events);
    else
      subscription->callback(events.front());
  } catch (const std::exception &error) {
    callback_failed(
        CallbackError(std::string("a subscriber of \"") + subscription->label + "\" threw: " + error.what()));
  } catch (...) {
    callback_failed(CallbackError("a subscriber of \"" + subscription->label + "\" threw a non-standard exception"));
  }
}

// Events are counted before their callback runs: a callback that sees the
// Nth event also sees stats().events >= N. One held back by coalescing is
// counted when its window delivers it.
void Dispatcher::deliver(const SubscriptionPtr &subscription, const Event &event) {
  if (subscription->load)
    return; // a loaded subscription hears of a gap through its resync callback
  if (subscription->active && coalescer_.admit(subscription, event, Clock::now())) {
    stats_.events.add();
    call(subscription, {&event, 1});
  }
}

// A batch subscription's row: kept for flush_batches(), after the message's
// other subscribers (coalescing applies per row, as for subscribe()).
void Dispatcher::collect(const SubscriptionPtr &subscription, Event event) {
  if (!subscription->active || !coalescer_.admit(subscription, event, Clock::now()))
    return;
  stats_.events.add();
  for (std::size_t index = 0; index < batches_used_; ++index)
    if (batches_[index].subscription == subscription) {
      batches_[index].events.push_back(std::move(event));
      return;
    }
  if (batches_used_ == batches_.size())
    batches_.emplace_back();
  PendingBatch &batch = batches_[batches_used_++];
  batch.subscription = subscription;
  batch.events.push_back(std::move(event));
}

void Dispatcher::flush_batches() {
  for (std::size_t index = 0; index < batches_used_; ++index) {
    PendingBatch &batch = batches_[index];
    call(batch.subscription, batch.events);
    batch.events.clear(); // releases the message for the decoder's pool
    batch.subscription.reset();
  }
  batches_used_ = 0;
}

void Dispatcher::resync(const Resync &event) {
  std::vector<std::function<void(const Resync &)>> callbacks;
  {
    std::lock_guard lock(callbacks_mutex_);
    callbacks = resync_callbacks_;
  }
  stats_.resyncs[static_cast<std::size_t>(event.reason)].add();
  log(LogLevel::info, "resync (" + std::string(to_string(event.reason)) +
                          (event.label.empty() ? std::string() : " of \"" + event.label + "\"") + ")");
  for (auto &callback : callbacks) {
    try {
      callback(event);
    } catch (const std::exception &error) {
      callback_failed(CallbackError(std::string("a resync callback threw: ") + error.what()));
    } catch (...) {
      callback_failed(CallbackError("a resync callback threw a non-standard exception"));
    }
  }
  resync_loaded(event);
}

// The on_resync of every loaded subscription the resync concerns (all of
// them when it names no label).
void Dispatcher::resync_loaded(const Resync &event) {
  std::vector<std::string> labels = event.label.empty() ? registry_.labels() : std::vector<std::string>{event.label};
  for (const std::string &label : labels)
    for (const SubscriptionPtr &subscription : registry_.all_of(label)) {
      if (!subscription->load || !subscription->load->options.on_resync)
        continue;
      std::lock_guard lock(subscription->call_mutex);
      if (!subscription->active)
        continue;
      try {
        subscription->load->options.on_resync(event);
      } catch (const std::exception &error) {
        callback_failed(CallbackError(std::string("a loaded subscriber's resync callback threw: ") + error.what()));
      } catch (...) {
        callback_failed(CallbackError("a loaded subscriber's resync callback threw a non-standard exception"));
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

// Loaded subscriptions with the same options share the loader's window, so
// a row is collected once per option set, not once per subscriber (1 000
// subscribers of a label made 1 000 identical collects per row). Matches
// come in row order, so the groups seen are kept for the current row only.
bool Dispatcher::first_of_its_group(const SubscriptionRegistry::Match &match) {
  if (match.row_index != load_row_) {
    load_row_ = match.row_index;
    load_groups_.clear();
  }
  const std::string &group = match.subscription->load->group_key;
  for (const std::string *seen : load_groups_)
    if (*seen == group)
      return false;
  load_groups_.push_back(&group);
  return true;
}

std::size_t Dispatcher::dispatch(const Work &work) {
  std::size_t delivered = 0;
  if (auto *message = std::get_if<MessagePtr>(&work)) {
    const auto &shared = *message;
    registry_.match(*shared, matches_);
    load_row_ = SIZE_MAX; // a new message: no row's groups seen yet
    for (const auto &match : matches_) {
      if (match.subscription->load) {
        if (loader_ && match.subscription->active && first_of_its_group(match))
          loader_->collect(match.subscription, Event(shared, Event::Kind::row, match.row_index), Clock::now());
      } else if (match.subscription->batch_callback)
        collect(match.subscription, Event(shared, Event::Kind::row, match.row_index));
      else
        deliver(match.subscription, Event(shared, Event::Kind::row, match.row_index));
      ++delivered;
    }
    matches_.clear();
    if (batches_used_ > 0)
      flush_batches();
    if (shared->dropped > 0 || shared->op == Op::truncated)
      delivered += announce_gap(shared);
  } else if (auto *event = std::get_if<Resync>(&work)) {
    resync(*event);
  } else if (auto *item = std::get_if<ErrorItem>(&work)) {
    try {
      std::rethrow_exception(item->error);
    } catch (const ProtocolError &error) {
      stats_.decode_errors.add();
      report(error);
    } catch (const BufferOverflow &error) {
      report(error);
      log(LogLevel::warning, error.what());
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
        callback_failed(CallbackError(std::string("a connection callback threw: ") + error.what()));
      } catch (...) {
        callback_failed(CallbackError("a connection callback threw a non-standard exception"));
      }
    }
  } else if (auto *line = std::get_if<LogLine>(&work)) {
    log(line->level, line->text);
  }
  return delivered;
}

std::size_t Dispatcher::fire_windows() {
  std::size_t delivered = 0;
  while (auto due = coalescer_.take_due(Clock::now())) {
    stats_.events.add();
    call(due->subscription, {&due->event, 1});
    ++delivered;
  }
  return delivered;
}

// Windows of the loader that ended: their queries and callbacks run here, in
// order with the other callbacks. A window's end lifts its hold on the
// positions: the I/O side may confirm further.
std::size_t Dispatcher::flush_loads() {
  if (!loader_ || loader_->next_deadline() > Clock::now())
    return 0;
  Loader::Hooks hooks{[this](const Error &error) { report(error); },
                      [this](const CallbackError &error) { callback_failed(error); },
                      [this](const Resync &event) { resync(event); }};
  std::size_t delivered = loader_->flush_due(Clock::now(), hooks);
  if (after_batch_)
    after_batch_();
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
    delivered += flush_loads(); // a window that ended loads now, also while events keep coming
  }
  delivered += fire_windows();
  delivered += flush_loads();
  dispatching_thread_ = std::thread::id{};
  return delivered;
}

} // namespace ectowatch::detail
