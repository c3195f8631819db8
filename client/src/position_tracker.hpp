// Durable delivery's positions: what the stream has received, what the
// callbacks have finished (dispatched), what was confirmed to the server,
// and whether the callbacks are inside a transaction. A position is
// confirmed only after the callbacks for everything before it have returned:
// at-least-once. The I/O side calls received()/status_*(); the dispatcher
// calls done(); both may read.
#pragma once

#include "work.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace ectowatch::detail {

class PositionTracker {
public:
  // Status updates: soon after the confirmed position advances (a little
  // batched), and every 10 s so the server keeps the connection.
  static constexpr std::chrono::milliseconds kStatusBatch{20};
  static constexpr std::chrono::seconds kStatusInterval{10};

  // I/O side: the stream got this far.
  void received(std::uint64_t lsn) noexcept {
    if (lsn > received_)
      received_ = lsn;
  }
  std::uint64_t received() const noexcept { return received_; }

  // Dispatch side: every callback for `work` has returned.
  void done(const Work &work) noexcept;
  // Positions are the source's own counters, carried by Position items only
  // (NATS: messages delivered), not messages' WAL positions. Before reading.
  void count_positions_only() noexcept { message_positions_ = false; }
  std::uint64_t dispatched() const noexcept { return dispatched_; }
  // What may be confirmed: dispatched, and no further than `limit` says is
  // safe elsewhere (Durable::confirm_up_to, for forwarders such as ectowatch
  // bridge that are acknowledged later).
  void set_confirm_limit(std::function<std::uint64_t()> limit) { confirm_limit_ = std::move(limit); }
  std::uint64_t confirmable() const;
  // Dispatch side: callbacks still owe work for what came after `position`
  // (the loader's open windows): nothing beyond it may be confirmed. nullopt
  // lifts the hold.
  void hold(std::optional<std::uint64_t> position) noexcept { held_ = position ? *position : kNoHold; }
  // Callbacks have seen part of a transaction but not its end.
  bool inside_transaction() const noexcept { return inside_transaction_; }

  // I/O side: whether a status update is due at `now` (`force`: the server asked).
  bool status_due(Clock::time_point now, bool force) const noexcept;
  void status_sent(Clock::time_point now, std::uint64_t confirmed) noexcept;
  // The position last confirmed to the server (0: none yet); any thread.
  std::uint64_t confirmed() const noexcept { return reported_.load(std::memory_order_relaxed); }
  Clock::time_point last_status() const noexcept { return last_status_; }
  // When the next status update is due without input.
  Clock::time_point next_status() const noexcept;

private:
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> dispatched_{0};
  static constexpr std::uint64_t kNoHold = ~std::uint64_t{0};
  std::atomic<std::uint64_t> held_{kNoHold};
  std::atomic<bool> inside_transaction_{false};
  std::function<std::uint64_t()> confirm_limit_; // set before streaming starts
  bool message_positions_ = true;                // set before streaming starts
  std::atomic<std::uint64_t> reported_{0};       // written by the I/O side, read by stats()
  Clock::time_point last_status_{};
};

} // namespace ectowatch::detail
