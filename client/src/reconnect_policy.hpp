// When to try connecting again: at once after a loss, then with a backoff
// that starts at `initial`, doubles after each failed attempt and is capped.
// A successful connect resets it. No I/O: the runtime asks and reports.
#pragma once

#include <algorithm>
#include <chrono>

namespace ectowatch::detail {

class ReconnectPolicy {
public:
  using Clock = std::chrono::steady_clock;

  ReconnectPolicy(std::chrono::milliseconds initial, std::chrono::milliseconds max) : initial_(initial), max_(max) {}

  bool due(Clock::time_point now) const noexcept { return now >= next_attempt_; }
  Clock::time_point next_attempt() const noexcept { return next_attempt_; }
  std::chrono::milliseconds backoff() const noexcept { return backoff_; }

  void succeeded() noexcept { backoff_ = std::chrono::milliseconds(0); }
  // The connection was lost: the first retry is immediate (the backoff of
  // earlier failures stays until a connect succeeds).
  void lost(Clock::time_point now) noexcept { next_attempt_ = now; }
  void failed(Clock::time_point now) noexcept {
    backoff_ = backoff_.count() == 0 ? initial_ : std::min(backoff_ * 2, max_);
    next_attempt_ = now + backoff_;
  }

private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point next_attempt_{};
};

} // namespace ectowatch::detail
