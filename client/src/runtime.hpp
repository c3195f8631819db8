// The client's engine: one event source feeding an inbox, a dispatcher
// draining it, and the loops that drive them (start(): an I/O thread and a
// dispatch thread; run(): both on the caller's thread; process(): one round
// for the application's own event loop).
//
//   source --(Batch)--> inbox --> dispatcher --> callbacks
//      ^                              |
//      +---- position tracker <-------+   (durable: confirm what is done)
//
// Lock order (a lock may only be taken while holding locks listed before it):
//   1. Dispatcher::dispatch_mutex_       one dispatcher at a time
//   2. Subscription::State::call_mutex   held while a callback runs
//   3. Runtime::io_mutex_                the source, the reconnect policy
//   4. leaves: Inbox, Coalescer, SubscriptionRegistry, the Loader's deadline
//      and Dispatcher::callbacks_mutex_ (none is held while taking another lock)
// No callback runs with io_mutex_ or a leaf held, so callbacks may call any
// method of the client.
#pragma once

#include "dispatcher.hpp"
#include "event_source.hpp"
#include "inbox.hpp"
#include "loader.hpp"
#include "position_tracker.hpp"
#include "reconnect_policy.hpp"
#include "stats_counters.hpp"
#include "subscription_registry.hpp"
#include "wakeup.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace ectowatch::detail {

class Runtime : public std::enable_shared_from_this<Runtime> {
public:
  // `nats`: read NATS JetStream instead (conninfo and durable unused).
  Runtime(std::string conninfo, ClientOptions options, std::optional<Durable> durable,
          std::optional<Nats> nats = std::nullopt);
  ~Runtime();
  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

  // The constructors' first connection: now (errors are thrown), or in the
  // background (a failure is reported and retried).
  void connect_first();
  void start();
  void run();
  void stop();
  std::size_t process();
  // The client goes away: last words to the server, connections closed.
  void finish() noexcept;

  int socket() const;
  std::chrono::milliseconds next_timeout() const;
  void run_query(const char *what, const std::function<void(PgConnection &)> &query);
  void add_subscription(const std::shared_ptr<Subscription::State> &state);

  Dispatcher &dispatcher() { return dispatcher_; }
  bool connected() const { return connected_; }
  bool inside_transaction() const { return durable_ && positions_.inside_transaction(); }
  std::uint64_t reconnects() const { return reconnects_; }
  std::size_t buffered_bytes() const { return inbox_.bytes(); }
  Stats stats() const;

private:
  void poll();
  void wait_for_input(Clock::time_point deadline);
  void io_loop();
  void dispatch_loop();
  void connect();     // io_mutex_ held
  void try_connect(); // io_mutex_ held
  void lost(const ConnectionError &error);
  void label_changed(const std::string &label);
  void remove_subscription(Subscription::State &state);

  const std::string conninfo_;
  const ClientOptions options_;
  const bool durable_;

  StatsCounters stats_;
  SubscriptionRegistry registry_;
  Inbox inbox_;
  PositionTracker positions_;
  Wakeup wakeup_;
  Loader loader_;
  Dispatcher dispatcher_;

  mutable std::mutex io_mutex_;
  std::unique_ptr<EventSource> source_;
  ReconnectPolicy reconnect_;
  Batch arrivals_; // decoded by one poll, then handed to the inbox (reused)
  bool ever_connected_ = false;

  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> next_subscription_id_{1};
  std::atomic<bool> stopping_{false};
  std::thread io_thread_;
  std::thread dispatch_thread_;
};

} // namespace ectowatch::detail
