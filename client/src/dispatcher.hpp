// The dispatch side: takes work from the inbox in arrival order, matches
// rows to subscriptions, coalesces, calls back, isolates callback errors
// (each goes to on_error), and tells the position tracker (durable) what is
// done. One dispatcher runs at a time (dispatch_mutex_), so callbacks of one
// client never overlap; no other lock of the client is held while a callback
// runs, so callbacks may subscribe, unsubscribe, watch() or stop().
// Batch subscriptions get one call per message with the rows they matched,
// after the message's single-event subscribers. What it delivers, reports and
// resyncs is counted in StatsCounters (under dispatch_mutex_). Loaded
// subscriptions' rows go to the loader, whose windows end here too.
#pragma once

#include "coalescer.hpp"
#include "inbox.hpp"
#include "loader.hpp"
#include "position_tracker.hpp"
#include "stats_counters.hpp"
#include "subscription_registry.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

namespace ectowatch::detail {

class Dispatcher {
public:
  // `positions`: durable clients only (null: nothing to confirm).
  // `after_batch`: called after each batch taken from the inbox (durable:
  // wakes the I/O side to confirm and to read again if it had paused).
  // `loader`: null where nothing loads (the core's tests).
  Dispatcher(SubscriptionRegistry &registry, Inbox &inbox, PositionTracker *positions,
             std::function<void()> after_batch, StatsCounters &stats, Loader *loader = nullptr);

  void add_resync_callback(std::function<void(const Resync &)> callback);
  void set_error_callback(ErrorCallback callback);
  void set_connection_callback(std::function<void(bool)> callback);
  void set_log_callback(std::function<void(LogLevel, std::string_view)> callback);

  // Runs everything queued and every due coalescing window; returns the
  // events delivered. Stops after the current item once `stopping` is set
  // (durable: at the end of the current transaction).
  std::size_t dispatch_ready(const std::atomic<bool> &stopping);
  // When a coalescing or loading window ends next.
  Clock::time_point next_deadline() const {
    return loader_ ? std::min(coalescer_.next_deadline(), loader_->next_deadline()) : coalescer_.next_deadline();
  }
  // Whether the calling thread is running a callback of this dispatcher.
  bool on_dispatching_thread() const { return dispatching_thread_.load() == std::this_thread::get_id(); }
  // Reports an error to on_error (never throws).
  void report(const Error &error);

private:
  std::size_t dispatch(const Work &work);
  void deliver(const SubscriptionPtr &subscription, const Event &event);
  void collect(const SubscriptionPtr &subscription, Event event);
  void flush_batches();
  void call(const SubscriptionPtr &subscription, std::span<const Event> events);
  void callback_failed(const CallbackError &error);
  void log(LogLevel level, std::string_view text);
  void resync(const Resync &event);
  std::size_t announce_gap(const MessagePtr &message);
  std::size_t fire_windows();
  std::size_t flush_loads();
  bool first_of_its_group(const SubscriptionRegistry::Match &match);
  void resync_loaded(const Resync &event);

  SubscriptionRegistry &registry_;
  Inbox &inbox_;
  PositionTracker *positions_;
  std::function<void()> after_batch_;
  StatsCounters &stats_;
  Coalescer coalescer_;
  Loader *loader_;

  std::mutex callbacks_mutex_; // leaf: guards the four callback slots below
  std::vector<std::function<void(const Resync &)>> resync_callbacks_;
  ErrorCallback error_callback_;
  std::function<void(bool)> connection_callback_;
  std::function<void(LogLevel, std::string_view)> log_callback_;

  std::mutex dispatch_mutex_;                        // one dispatcher at a time
  std::vector<SubscriptionRegistry::Match> matches_; // reused; under dispatch_mutex_
  // The loader's groups already given the current row (first_of_its_group;
  // the strings belong to subscriptions matches_ holds).
  std::size_t load_row_ = SIZE_MAX;
  std::vector<const std::string *> load_groups_;
  // A message's rows for each batch subscription that matched it (the first
  // batches_used_ entries; reused, under dispatch_mutex_).
  struct PendingBatch {
    SubscriptionPtr subscription;
    std::vector<Event> events;
  };
  std::vector<PendingBatch> batches_;
  std::size_t batches_used_ = 0;
  std::atomic<std::thread::id> dispatching_thread_{};
};

} // namespace ectowatch::detail
