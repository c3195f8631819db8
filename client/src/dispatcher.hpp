// The dispatch side: takes work from the inbox in arrival order, matches
// rows to subscriptions, coalesces, calls back, isolates callback errors
// (each goes to on_error), and tells the position tracker (durable) what is
// done. One dispatcher runs at a time (dispatch_mutex_), so callbacks of one
// client never overlap; no other lock of the client is held while a callback
// runs, so callbacks may subscribe, unsubscribe, watch() or stop().
#pragma once

#include "coalescer.hpp"
#include "inbox.hpp"
#include "position_tracker.hpp"
#include "subscription_registry.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ectowatch::detail {

class Dispatcher {
public:
  // `positions`: durable clients only (null: nothing to confirm).
  // `after_batch`: called after each batch taken from the inbox (durable:
  // wakes the I/O side to confirm and to read again if it had paused).
  Dispatcher(SubscriptionRegistry &registry, Inbox &inbox, PositionTracker *positions,
             std::function<void()> after_batch);

  void add_resync_callback(std::function<void(const Resync &)> callback);
  void set_error_callback(ErrorCallback callback);
  void set_connection_callback(std::function<void(bool)> callback);

  // Runs everything queued and every due coalescing window; returns the
  // events delivered. Stops after the current item once `stopping` is set
  // (durable: at the end of the current transaction).
  std::size_t dispatch_ready(const std::atomic<bool> &stopping);
  // When a coalescing window ends next.
  Clock::time_point next_deadline() const { return coalescer_.next_deadline(); }
  // Whether the calling thread is running a callback of this dispatcher.
  bool on_dispatching_thread() const { return dispatching_thread_.load() == std::this_thread::get_id(); }
  // Reports an error to on_error (never throws).
  void report(const Error &error);

private:
  std::size_t dispatch(const Work &work);
  void deliver(const SubscriptionPtr &subscription, const Event &event);
  void call(const SubscriptionPtr &subscription, const Event &event);
  void resync(const Resync &event);
  std::size_t announce_gap(const MessagePtr &message);
  std::size_t fire_windows();

  SubscriptionRegistry &registry_;
  Inbox &inbox_;
  PositionTracker *positions_;
  std::function<void()> after_batch_;
  Coalescer coalescer_;

  std::mutex callbacks_mutex_; // leaf: guards the three callback slots below
  std::vector<std::function<void(const Resync &)>> resync_callbacks_;
  ErrorCallback error_callback_;
  std::function<void(bool)> connection_callback_;

  std::mutex dispatch_mutex_;                        // one dispatcher at a time
  std::vector<SubscriptionRegistry::Match> matches_; // reused; under dispatch_mutex_
  std::atomic<std::thread::id> dispatching_thread_{};
};

} // namespace ectowatch::detail
