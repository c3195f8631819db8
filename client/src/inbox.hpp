// The bounded queue between the I/O side and the dispatcher. Its bound is
// payload bytes read but not yet dispatched: queued, or in the batch the
// dispatcher is working through (released per item by done()).
//
// Overflow policies:
//   drop_all  (NOTIFY) the socket is always drained, so the server's
//             notification queue never backs up: a message that does not fit
//             drops every buffered message, and one BufferOverflow (with the
//             counts) and one Resync{overflow} are queued in their place. The
//             next overflow needs the buffer to fill up again.
//   pause     (durable) nothing is dropped: the reader stops reading while
//             full() (the server waits), and the dispatcher wakes it.
// Thread-safe; its mutex is a leaf of the client's lock order.
#pragma once

#include "work.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace ectowatch::detail {

class Inbox {
public:
  enum class Policy { drop_all, pause };

  Inbox(std::size_t max_bytes, Policy policy) : max_bytes_(max_bytes), policy_(policy) {}

  // Queues what one read decoded, under one lock; leaves `batch` empty.
  void put(Batch &batch);
  void put(Work work);
  // Moves everything queued into `out` (which must be empty); false if
  // there was nothing. The bytes stay counted until done().
  bool take(Batch &out);
  // Puts back what a halted dispatcher did not get to, ahead of newer work.
  void put_back(Batch &rest);
  // One taken item has been dispatched: its bytes are free again.
  void done(const Work &work) noexcept { bytes_ -= size_of(work); }
  // Blocks until something is queued, `stopping` is set, or `deadline`.
  void wait(Clock::time_point deadline, const std::atomic<bool> &stopping);
  void notify() { changed_.notify_all(); }

  std::size_t bytes() const noexcept { return bytes_; }
  bool empty() const;
  // pause policy: reading stops while this is true.
  bool full() const noexcept { return bytes_ >= max_bytes_; }
  // Overflow episodes so far (drop_all).
  std::uint64_t overflows() const noexcept { return overflows_; }

private:
  void push_locked(Work work);
  void drop_buffered_locked();

  const std::size_t max_bytes_;
  const Policy policy_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Batch queue_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::uint64_t> overflows_{0};
};

} // namespace ectowatch::detail
