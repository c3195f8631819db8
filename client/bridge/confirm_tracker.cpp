#include "confirm_tracker.hpp"

#include <algorithm>

namespace ectowatch::bridge {

void ConfirmTracker::add(std::uint64_t lsn) {
  std::lock_guard lock(mutex_);
  ++pending_[lsn];
  ++count_;
}

void ConfirmTracker::acked(std::uint64_t lsn) {
  std::lock_guard lock(mutex_);
  auto found = pending_.find(lsn);
  if (found == pending_.end())
    return; // cannot happen: each message is acknowledged once (the publisher sees to it)
  if (--found->second == 0)
    pending_.erase(found);
  if (--count_ == 0)
    emptied_.notify_all();
}

void ConfirmTracker::abandon(std::uint64_t lsn) {
  std::lock_guard lock(mutex_);
  abandoned_ = std::min(abandoned_, lsn);
}

std::uint64_t ConfirmTracker::confirm_up_to() const {
  std::lock_guard lock(mutex_);
  std::uint64_t first_unsafe = abandoned_;
  if (!pending_.empty())
    first_unsafe = std::min(first_unsafe, pending_.begin()->first);
  if (first_unsafe == kEverything)
    return kEverything;
  return first_unsafe == 0 ? 0 : first_unsafe - 1;
}

std::size_t ConfirmTracker::in_flight() const {
  std::lock_guard lock(mutex_);
  return count_;
}

} // namespace ectowatch::bridge
