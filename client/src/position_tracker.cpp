#include "position_tracker.hpp"

#include <algorithm>

namespace ectowatch::detail {

void PositionTracker::done(const Work &work) noexcept {
  std::uint64_t lsn = 0;
  if (auto *message = std::get_if<MessagePtr>(&work)) {
    lsn = message_positions_ ? (*message)->lsn : 0;
    inside_transaction_ = true;
  } else if (auto *position = std::get_if<Position>(&work)) {
    lsn = position->lsn;
    if (position->transaction_end)
      inside_transaction_ = false;
  }
  if (lsn > dispatched_)
    dispatched_ = lsn;
}

std::uint64_t PositionTracker::confirmable() const {
  std::uint64_t done = std::min<std::uint64_t>(dispatched_, held_); // the loader's open windows hold it back
  return confirm_limit_ ? std::min(done, confirm_limit_()) : done;
}

bool PositionTracker::status_due(Clock::time_point now, bool force) const noexcept {
  bool advanced = confirmable() > reported_;
  return force || (advanced && now - last_status_ >= kStatusBatch) || now - last_status_ >= kStatusInterval;
}

void PositionTracker::status_sent(Clock::time_point now, std::uint64_t confirmed) noexcept {
  reported_.store(std::max(reported_.load(std::memory_order_relaxed), confirmed), std::memory_order_relaxed);
  last_status_ = now;
}

Clock::time_point PositionTracker::next_status() const noexcept {
  return confirmable() > reported_ ? last_status_ + kStatusBatch : last_status_ + kStatusInterval;
}

} // namespace ectowatch::detail
