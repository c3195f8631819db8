// Which slot positions `ectowatch bridge` may confirm: a position is safe
// once JetStream acknowledged every message published for it and for every
// position before it. The client asks (Durable::confirm_up_to) from its I/O
// thread; the publisher adds on the dispatch thread and acknowledges on
// libnats' thread, so everything here is under one mutex.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>

namespace ectowatch::bridge {

class ConfirmTracker {
public:
  static constexpr std::uint64_t kEverything = std::numeric_limits<std::uint64_t>::max();

  // A message for `lsn` is on its way to JetStream.
  void add(std::uint64_t lsn);
  // JetStream stored it (or had it already: a duplicate).
  void acked(std::uint64_t lsn);
  // A message for `lsn` will not be published by this process (shutdown while
  // NATS was unreachable): nothing from `lsn` on is ever confirmed, so the
  // next bridge on the slot reads it again.
  void abandon(std::uint64_t lsn);

  // Everything at or before the result is in the stream; kEverything when
  // nothing is outstanding.
  std::uint64_t confirm_up_to() const;
  std::size_t in_flight() const;
  // Blocks until nothing is in flight or `timeout` passed; true if nothing is.
  template <typename Duration> bool wait_until_empty(Duration timeout) {
    std::unique_lock lock(mutex_);
    return emptied_.wait_for(lock, timeout, [&] { return count_ == 0; });
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable emptied_;
  std::map<std::uint64_t, std::size_t> pending_; // lsn -> messages not yet acknowledged
  std::size_t count_ = 0;
  std::uint64_t abandoned_ = kEverything;
};

} // namespace ectowatch::bridge
