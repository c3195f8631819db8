#include "coalescer.hpp"

namespace ectowatch::detail {

bool Coalescer::admit(const SubscriptionPtr &subscription, const Event &event, Clock::time_point now) {
  if (!subscription->options.coalesce || event.kind() != Event::Kind::row)
    return true;
  std::string key = row_key(event.message(), event.row());
  if (subscription->kind == Subscription::State::Kind::every_label)
    key = event.message().label + '\n' + key; // one key's rows of two labels are two records (labels have no \n)
  auto [slot, fresh] = subscription->slots.try_emplace(key);
  if (!fresh) {
    slot->second.pending = event; // the latest wins; sent when the window ends
    return false;
  }
  slot->second.last_delivery = now;
  schedule(now + *subscription->options.coalesce, subscription, key);
  return true;
}

std::optional<Coalescer::Due> Coalescer::take_due(Clock::time_point now) {
  for (;;) {
    std::weak_ptr<Subscription::State> weak;
    std::string key;
    {
      std::lock_guard lock(mutex_);
      if (timers_.empty() || timers_.begin()->first > now)
        return std::nullopt;
      weak = timers_.begin()->second.first;
      key = std::move(timers_.begin()->second.second);
      timers_.erase(timers_.begin());
    }
    SubscriptionPtr subscription = weak.lock();
    if (!subscription)
      continue;
    auto slot = subscription->slots.find(key);
    if (slot == subscription->slots.end())
      continue;
    if (!slot->second.pending) {
      subscription->slots.erase(slot); // a quiet window: forget the key
      continue;
    }
    Event event = std::move(*slot->second.pending);
    slot->second.pending.reset();
    slot->second.last_delivery = now;
    schedule(now + *subscription->options.coalesce, subscription, key);
    return Due{std::move(subscription), std::move(event)};
  }
}

Clock::time_point Coalescer::next_deadline() const {
  std::lock_guard lock(mutex_);
  return timers_.empty() ? Clock::time_point::max() : timers_.begin()->first;
}

void Coalescer::schedule(Clock::time_point due, const SubscriptionPtr &subscription, const std::string &key) {
  std::lock_guard lock(mutex_);
  timers_.emplace(due, std::make_pair(std::weak_ptr<Subscription::State>(subscription), key));
}

} // namespace ectowatch::detail
