// The batch loader behind Client::subscribe_loaded(): collects the keys of
// loaded subscriptions' events per window, deduplicated, and when a window
// ends loads them with one query per table and chunk of max_batch keys (the
// LoadRunner's connection), then hands the rows to every loaded subscription
// of each label. Subscriptions with the same options share one window per
// table, so the number of queries does not grow with the subscribers.
//
// Runs on the dispatching thread (under the dispatcher's lock): a window's
// callbacks run in order with the other callbacks. While keys wait for their
// window, the position tracker is held at the position before the first of
// them, so a durable or NATS client confirms nothing whose rows were not
// delivered. A query the server refuses goes to on_error and resyncs the
// labels of its keys (they are dropped: the application reloads); a lost
// connection also resyncs, but keeps the keys for the next connection
// (opened with the client's backoff).
#pragma once

#include "load_runner.hpp"
#include "position_tracker.hpp"
#include "stats_counters.hpp"
#include "subscription_registry.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace ectowatch::detail {

// A loaded subscription's part (Subscription::State::load).
struct LoadSpec {
  LoadedCallback callback;
  LoadOptions options;
  // Subscriptions with the same options (window, batch, columns, query) share windows.
  std::string group_key;
};

class Loader {
public:
  // What the loader tells through the dispatcher.
  struct Hooks {
    std::function<void(const Error &)> report;                  // to on_error
    std::function<void(const CallbackError &)> callback_failed; // counted, then to on_error
    std::function<void(const Resync &)> resync;                 // the label's resync callbacks
  };

  // `make_runner` opens the loading side when first needed, so a client
  // that loads nothing has no second connection. `positions`: durable and
  // NATS consumers (null: nothing to hold).
  Loader(std::function<std::unique_ptr<LoadRunner>()> make_runner, SubscriptionRegistry &registry,
         PositionTracker *positions, StatsCounters &stats);
  ~Loader();

  // A row event for a loaded subscription: its key joins the window.
  void collect(const SubscriptionPtr &subscription, const Event &event, Clock::time_point now);
  // Loads and delivers every window that ended by `now`; returns the rows delivered.
  std::size_t flush_due(Clock::time_point now, const Hooks &hooks);
  // When the next window ends (time_point::max() when none is open); any thread.
  Clock::time_point next_deadline() const;

private:
  struct PendingKey {
    std::vector<std::optional<std::string>> values; // Value::text() per key column (SQL NULL: nullopt)
    std::vector<std::string> json;                  // Value::json() per key column
    std::vector<std::pair<std::string, Op>> labels; // who wants it, with the latest op
  };
  struct Group {
    std::shared_ptr<const LoadSpec> spec;
    std::string table;
    std::vector<std::string> key_columns;
    std::vector<std::string> order; // canonical keys, in arrival order
    StringMap<PendingKey> keys;
    Clock::time_point due{};
    std::uint64_t hold = 0; // dispatched position when the window opened
  };

  std::size_t flush(Group &group, Clock::time_point now, const Hooks &hooks);
  std::size_t deliver(const Group &group, const std::vector<std::string> &order,
                      const StringMap<const FoundRow *> &found, const Hooks &hooks);
  void update_deadline_and_hold();

  std::function<std::unique_ptr<LoadRunner>()> make_runner_;
  std::unique_ptr<LoadRunner> runner_;
  SubscriptionRegistry &registry_;
  PositionTracker *positions_;
  StatsCounters &stats_;
  std::map<std::string, Group> groups_; // by options and table; dispatching thread only

  mutable std::mutex deadline_mutex_; // leaf
  Clock::time_point next_deadline_ = Clock::time_point::max();
};

} // namespace ectowatch::detail
