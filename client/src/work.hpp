// What the I/O side hands to the dispatch side, in arrival order: decoded
// messages, resyncs, errors to report, positions to confirm (durable),
// connection changes (on_connection) and log lines (on_log).
#pragma once

#include "ectowatch/client.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <variant>

namespace ectowatch::detail {

using Clock = std::chrono::steady_clock;
using MessagePtr = std::shared_ptr<const Message>;

struct ErrorItem {
  std::exception_ptr error;
};
// Durable: the stream got this far with nothing (more) for the subscribers;
// once dispatched, the position may be confirmed. `transaction_end`: the
// plugin's empty row after a transaction's messages (lsn = end of its commit).
struct Position {
  std::uint64_t lsn;
  bool transaction_end = false;
};
// socket() changed: the connection was lost (false) or (re)opened (true).
struct ConnectionChange {
  bool connected;
};

// A line for on_log, in order with the rest (the I/O side never calls an
// application callback itself).
struct LogLine {
  LogLevel level;
  std::string text;
};

using Work = std::variant<MessagePtr, Resync, ErrorItem, Position, ConnectionChange, LogLine>;
using Batch = std::deque<Work>;

// What a work item weighs against the inbox's bound: a message's payload bytes.
inline std::size_t size_of(const Work &work) {
  auto *message = std::get_if<MessagePtr>(&work);
  return message ? (*message)->payload.size() : 0;
}

} // namespace ectowatch::detail
