#include "runtime.hpp"

#include "load_connection.hpp"
#include "nats_source.hpp"
#include "notify_source.hpp"
#include "slot_source.hpp"

#include <poll.h>

#include <algorithm>

namespace ectowatch::detail {

Runtime::Runtime(std::string conninfo, ClientOptions options, std::optional<Durable> durable, std::optional<Nats> nats)
    : conninfo_(std::move(conninfo)), options_(std::move(options)),
      durable_(durable.has_value() || (nats && !nats->consumer.empty())),
      inbox_(options_.max_buffered_bytes, durable_ ? Inbox::Policy::pause : Inbox::Policy::drop_all),
      // The loading connection: the client's own database unless told otherwise.
      loader_(
          [this] {
            return std::make_unique<LoadConnection>(options_.load_conninfo.empty() ? conninfo_ : options_.load_conninfo,
                                                    options_);
          },
          registry_, durable_ ? &positions_ : nullptr, stats_),
      dispatcher_(registry_, inbox_, durable_ ? &positions_ : nullptr,
                  // Durable: the I/O side confirms, and reads again if it had paused.
                  durable_ ? std::function<void()>([this] { wakeup_.notify(); }) : std::function<void()>(), stats_,
                  &loader_),
      reconnect_(options_.reconnect_initial, options_.reconnect_max) {
  SourceContext context{conninfo_, options_, registry_, inbox_, stats_};
  if (nats)
    source_ = std::make_unique<NatsSource>(context, std::move(*nats), durable_ ? &positions_ : nullptr);
  else if (durable)
    source_ = std::make_unique<SlotSource>(context, std::move(*durable), positions_);
  else
    source_ = std::make_unique<NotifySource>(context);
}

Runtime::~Runtime() {
  // Only a thread that was neither joined nor detached (stop() does both).
  for (std::thread *thread : {&io_thread_, &dispatch_thread_})
    if (thread->joinable())
      thread->detach();
}

// --- connecting (io_mutex_ held) ------------------------------------------------------

void Runtime::connect() {
  source_->connect(arrivals_, ever_connected_);
  connected_ = true;
  reconnect_.succeeded();
  if (ever_connected_)
    ++reconnects_;
  arrivals_.emplace_front(ConnectionChange{true}); // socket() changed, before anything it read
  arrivals_.emplace_front(LogLine{LogLevel::info, ever_connected_
                                                      ? "reconnected (reconnect " + std::to_string(reconnects_) + ")"
                                                      : std::string("connected")});
  ever_connected_ = true;
  inbox_.put(arrivals_);
}

void Runtime::try_connect() {
  if (!reconnect_.due(Clock::now()))
    return;
  try {
    connect();
  } catch (const Error &error) {
    arrivals_.clear();
    source_->close();
    reconnect_.failed(Clock::now());
    inbox_.put(ErrorItem{std::current_exception()});
    inbox_.put(LogLine{LogLevel::warning, std::string("connecting failed: ") + error.what() + "; next attempt in " +
                                              std::to_string(reconnect_.backoff().count()) + " ms"});
  }
}

void Runtime::lost(const ConnectionError &error) {
  source_->close();
  connected_ = false;
  reconnect_.lost(Clock::now());
  inbox_.put(ErrorItem{std::make_exception_ptr(error)});
  inbox_.put(ConnectionChange{false});
  inbox_.put(LogLine{LogLevel::warning, std::string("disconnected: ") + error.what() + "; reconnecting"});
}

void Runtime::connect_first() {
  std::lock_guard lock(io_mutex_);
  if (options_.connect_in_background)
    try_connect();
  else
    connect();
}

// --- I/O ---------------------------------------------------------------------------

// One round without blocking: reconnect if due, read, keep the connection
// healthy. A connection found lost is replaced at once, not at the next round.
void Runtime::poll() {
  std::lock_guard lock(io_mutex_);
  if (!source_->is_open())
    try_connect();
  if (!source_->is_open())
    return;
  try {
    source_->poll(arrivals_);
    inbox_.put(arrivals_);
  } catch (const ConnectionError &error) {
    inbox_.put(arrivals_);
    lost(error);
    try_connect();
  }
}

// Blocks until the socket is readable, a wake-up, or `deadline`.
void Runtime::wait_for_input(Clock::time_point deadline) {
  int socket_fd = -1;
  {
    std::lock_guard lock(io_mutex_);
    if (source_->is_open()) {
      socket_fd = source_->reading_paused() ? -1 : source_->socket();
      deadline = std::min(deadline, source_->next_deadline());
    } else {
      deadline = std::min(deadline, reconnect_.next_attempt());
    }
  }
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  pollfd fds[2] = {{wakeup_.fd(), POLLIN, 0}, {socket_fd, POLLIN, 0}};
  ::poll(fds, socket_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<long long>(timeout, 0, 60'000)));
  wakeup_.drain();
}

int Runtime::socket() const {
  std::lock_guard lock(io_mutex_);
  return source_->socket();
}

std::chrono::milliseconds Runtime::next_timeout() const {
  auto now = Clock::now();
  Clock::time_point due;
  {
    std::lock_guard lock(io_mutex_);
    due = source_->is_open() ? source_->next_deadline() : reconnect_.next_attempt();
  }
  due = std::min(due, dispatcher_.next_deadline());
  if (due <= now || !inbox_.empty())
    return std::chrono::milliseconds(0);
  if (due == Clock::time_point::max())
    return options_.health_check_interval;
  return std::chrono::ceil<std::chrono::milliseconds>(due - now);
}

void Runtime::run_query(const char *what, const std::function<void(PgConnection &)> &query) {
  std::lock_guard lock(io_mutex_);
  bool was_open = source_->is_open();
  try {
    source_->run_query(what, query, arrivals_);
    inbox_.put(arrivals_);
  } catch (const ConnectionError &error) {
    inbox_.put(arrivals_);
    if (was_open && !source_->is_open()) {
      lost(error);
      wakeup_.notify();
    }
    throw;
  }
}

// --- loops ------------------------------------------------------------------------------

void Runtime::io_loop() {
  while (!stopping_) {
    poll();
    wait_for_input(Clock::now() + options_.health_check_interval);
  }
}

void Runtime::dispatch_loop() {
  while (!stopping_) {
    dispatcher_.dispatch_ready(stopping_);
    auto due = std::min(dispatcher_.next_deadline(), Clock::now() + std::chrono::seconds(1));
    inbox_.wait(due, stopping_);
  }
}

void Runtime::start() {
  if (io_thread_.joinable() || dispatch_thread_.joinable())
    throw UsageError("start: the client is already running");
  stopping_ = false;
  // Each thread keeps the runtime alive: a callback may destroy the Client.
  io_thread_ = std::thread([self = shared_from_this()] { self->io_loop(); });
  dispatch_thread_ = std::thread([self = shared_from_this()] { self->dispatch_loop(); });
}

void Runtime::run() {
  stopping_ = false;
  while (!stopping_) {
    poll();
    dispatcher_.dispatch_ready(stopping_);
    wait_for_input(std::min(dispatcher_.next_deadline(), Clock::now() + options_.health_check_interval));
  }
}

void Runtime::stop() {
  stopping_ = true;
  wakeup_.notify();
  inbox_.notify();
  for (std::thread *thread : {&io_thread_, &dispatch_thread_}) {
    if (!thread->joinable())
      continue;
    if (thread->get_id() == std::this_thread::get_id())
      thread->detach(); // stop() from a callback: this thread ends after it returns
    else
      thread->join();
  }
}

std::size_t Runtime::process() {
  if (!inside_transaction())
    stopping_ = false; // a stop() that took effect; one that waits for a transaction's end stays
  poll();
  return dispatcher_.dispatch_ready(stopping_);
}

Stats Runtime::stats() const {
  Stats stats = stats_.snapshot();
  stats.overflows = inbox_.overflows();
  stats.reconnects = reconnects_;
  stats.confirmed_lsn = durable_ ? positions_.confirmed() : 0;
  return stats;
}

void Runtime::finish() noexcept {
  std::lock_guard lock(io_mutex_);
  source_->finish();
  source_->close();
  connected_ = false;
}

// --- subscriptions ------------------------------------------------------------------

void Runtime::add_subscription(const std::shared_ptr<Subscription::State> &state) {
  bool every_label = state->kind == Subscription::State::Kind::every_label;
  if (every_label && !durable_)
    throw UsageError("subscribe_every_label: only a durable client (Client(conninfo, Durable{...})) reads every "
                     "label at once; subscribe to each label instead");
  if (state->label.empty() && !every_label)
    throw UsageError("subscribe: the label must not be empty");
  state->id = next_subscription_id_++;
  std::weak_ptr<Runtime> self = weak_from_this();
  state->unsubscribe = [self](Subscription::State &subscription) {
    if (auto runtime = self.lock())
      runtime->remove_subscription(subscription);
  };
  registry_.add(state);
  if (every_label)
    return;                    // a slot carries every label: nothing to ask of the server
  label_changed(state->label); // also for a label already wanted: a NATS Key subscription needs its own filter
}

void Runtime::remove_subscription(Subscription::State &subscription) {
  if (!subscription.active.exchange(false))
    return;
  registry_.remove(subscription);
  if (subscription.kind != Subscription::State::Kind::every_label)
    label_changed(subscription.label);
  // Wait for a callback running on another thread; from the dispatching
  // thread itself (unsubscribing inside a callback) there is nothing to wait for.
  if (!dispatcher_.on_dispatching_thread())
    std::lock_guard wait_for_callback(subscription.call_mutex);
}

void Runtime::label_changed(const std::string &label) {
  std::lock_guard lock(io_mutex_);
  if (!source_->is_open())
    return; // the reconnect LISTENs every wanted channel
  try {
    source_->label_changed(label, arrivals_);
    inbox_.put(arrivals_);
  } catch (const ConnectionError &error) {
    inbox_.put(arrivals_);
    lost(error);
    wakeup_.notify();
  }
}

} // namespace ectowatch::detail
