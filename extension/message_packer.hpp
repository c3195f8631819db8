// Where a message is built: packs row objects into v1 messages that each fit
// one NOTIFY payload (see docs/protocol.md).
//
// Plain C++, independent of PostgreSQL, so it can be unit-tested on its own.
// The rows arrive already rendered as JSON objects; this file only decides
// which rows share a message, which lose their extra columns ("truncated")
// and which are left out ("dropped").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ectowatch {

// Async_Notify rejects payloads of 8000 bytes or more (the NUL included).
constexpr std::size_t kMaxPayloadBytes = 7999;

// Room kept free at the end of every message for `]`, `,"truncated":true`,
// `,"dropped":<20 digits>`, the `,"lsn":"<X/X>"` a relay worker adds (27
// bytes at most) and `}`.
constexpr std::size_t kTrailerReserve = 96;

// Largest row that fits a message on its own after `prefix_size` bytes.
constexpr std::size_t row_capacity(std::size_t prefix_size, std::size_t max_bytes = kMaxPayloadBytes) {
  return max_bytes > prefix_size + kTrailerReserve ? max_bytes - prefix_size - kTrailerReserve : 0;
}

// How a row enters a message (decided once, when the row is written).
enum class RowFit {
  full,     // the whole row fits a message
  key_only, // only `row[0, key_length) + "}"` fits: the message says "truncated"
  dropped,  // not even the key fits: the message counts it in "dropped"
};
RowFit fit_row(std::size_t row_size, std::size_t key_length, std::size_t capacity);

// Whether a row of `row_size` bytes still fits a body of `body_size` bytes
// holding `rows` rows (joined by ',').
constexpr bool fits_in_body(std::size_t body_size, std::size_t rows, std::size_t row_size, std::size_t capacity) {
  return body_size + (rows > 0 ? 1 : 0) + row_size <= capacity;
}

// Writes a complete message into `out`: prefix, body, `]`, the flags, `}`.
void finish_message(std::string &out, std::string_view prefix, std::string_view body, bool truncated,
                    std::uint64_t dropped);

// Packs a stream of rows into messages with the functions above. The
// extension packs incrementally into its transaction buffer with the same
// functions (extension/pending_changes.cpp); this class composes them for a
// whole stream and is what the unit tests (tests/unit) exercise.
class MessagePacker {
public:
  using Sink = std::function<void(const std::string &message)>;

  // `prefix` is the message up to and including `"rows":[`.
  MessagePacker(std::string_view prefix, Sink sink, std::size_t max_bytes = kMaxPayloadBytes);

  // Adds one row. `row` is a complete JSON object whose first `key_length`
  // bytes are `{` and the key members; `row.substr(0, key_length) + "}"` is the
  // key-only form. `already_truncated` marks a row whose extra columns were
  // removed before it got here.
  void add_row(std::string_view row, std::size_t key_length, bool already_truncated = false);

  // Counts a row that could not be sent at all.
  void add_dropped(std::uint64_t count = 1);

  // Sends what is pending (if anything) as one message.
  void flush();

  // Largest row (key-only or full) that fits a message on its own.
  std::size_t max_row_bytes() const { return row_capacity_; }

private:
  std::string prefix_;
  Sink sink_;
  std::size_t row_capacity_;
  std::string body_;
  std::string message_;
  std::size_t rows_ = 0;
  bool truncated_ = false;
  std::uint64_t dropped_ = 0;
};

} // namespace ectowatch
