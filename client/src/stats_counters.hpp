// The counts behind Client::stats(). Each count has one writer at a time,
// serialized by a lock its writer already holds (the runtime's I/O mutex for
// what sources count, the dispatch mutex for what the dispatcher counts), and
// readers on any thread. So a count is a relaxed atomic bumped with a load
// and a store, not a locked read-modify-write: on the listener's hot path it
// costs a plain add.
//
// A source counts what it reads through SourceContext::stats
// (message_read()); decode errors, events, callback errors and resyncs are
// counted by the dispatcher as it reports and delivers them, whichever source
// queued them; overflows, reconnects and the confirmed position are read from
// where they are kept (Inbox, Runtime, PositionTracker).
#pragma once

#include "ectowatch/client.hpp"

#include <array>
#include <atomic>
#include <cstdint>

namespace ectowatch::detail {

class Counter {
public:
  void add(std::uint64_t amount = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

struct StatsCounters {
  // Source side (I/O mutex held).
  Counter messages;
  Counter bytes;
  void message_read(std::size_t payload_bytes) noexcept {
    messages.add();
    bytes.add(payload_bytes);
  }

  // Dispatch side (dispatch mutex held).
  Counter events;
  Counter decode_errors;
  Counter callback_errors;
  std::array<Counter, Resync::kReasons> resyncs;
  Counter load_queries; // the loader's (it runs on the dispatching side)
  Counter loaded_rows;

  // The counts of both sides; the caller adds what is kept elsewhere.
  Stats snapshot() const noexcept {
    Stats stats;
    stats.messages = messages.get();
    stats.bytes = bytes.get();
    stats.events = events.get();
    stats.decode_errors = decode_errors.get();
    stats.callback_errors = callback_errors.get();
    stats.load_queries = load_queries.get();
    stats.loaded_rows = loaded_rows.get();
    for (std::size_t reason = 0; reason < resyncs.size(); ++reason)
      stats.resyncs[reason] = resyncs[reason].get();
    return stats;
  }
};

} // namespace ectowatch::detail
