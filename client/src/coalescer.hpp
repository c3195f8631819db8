// Coalescing (SubscribeOptions::coalesce): at most one event per key per
// window. The first event of a key is delivered at once and opens a window;
// later ones in the window replace each other, and the latest is delivered
// when the window ends (opening the next one). A window without a later event
// forgets the key. Only row events are coalesced.
//
// The per-key state lives in each subscription (touched only by the one
// dispatching thread); the windows' ends are kept here under a leaf mutex so
// the I/O side can read the next deadline.
#pragma once

#include "subscription_registry.hpp"
#include "work.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace ectowatch::detail {

class Coalescer {
public:
  // Whether `event` is to be delivered now; otherwise it is kept for the end
  // of its key's window.
  bool admit(const SubscriptionPtr &subscription, const Event &event, Clock::time_point now);

  struct Due {
    SubscriptionPtr subscription;
    Event event;
  };
  // The next event whose window ended by `now`, if any.
  std::optional<Due> take_due(Clock::time_point now);

  // When the earliest window ends (time_point::max() when none is open).
  Clock::time_point next_deadline() const;

private:
  void schedule(Clock::time_point due, const SubscriptionPtr &subscription, const std::string &key);

  mutable std::mutex mutex_;
  // Window ends: (due, subscription, key).
  std::multimap<Clock::time_point, std::pair<std::weak_ptr<Subscription::State>, std::string>> timers_;
};

} // namespace ectowatch::detail
