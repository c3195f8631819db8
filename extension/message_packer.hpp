// Where a message is built: packs row objects into v1 messages that each fit
// one NOTIFY payload (see docs/protocol.md).
//
// Plain C++, independent of PostgreSQL, so it can be unit-tested on its own.
// The rows arrive already rendered as JSON objects; this file only decides
// which rows share a message, which lose their extra columns ("truncated")
// and which are left out ("dropped"). pack_row() is the one packing rule: the
// trigger path (pending_changes.cpp, into its transaction arena) and
// MessagePacker (into strings, for the unit tests) both call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// What a message being packed holds, kept by whoever stores its bytes.
struct PackedMessage {
  std::uint64_t length = 0; // bytes of the body: the rows joined by ','
  std::uint64_t rows = 0;
  std::uint64_t dropped = 0; // rows left out while this message was open
  bool truncated = false;
};

// Packs one row into the messages of `store`, which provides
//   PackedMessage *open_message();  the message that may take more rows, or nullptr
//   PackedMessage *start_message(); a new empty message, now the open one
//   void append(const char *data, std::size_t length);  bytes at the end of its body
// `row` is a complete JSON object whose first `key_length` bytes are `{` and
// the key members; `row.substr(0, key_length) + "}"` is its key-only form. A
// row too big for a message of its own loses its extra columns; a key too big
// even then is counted as dropped. A message never fails a write.
template <typename Store>
inline void pack_row(Store &store, std::size_t capacity, std::string_view row, std::size_t key_length) {
  RowFit fit = fit_row(row.size(), key_length, capacity);
  PackedMessage *message = store.open_message();
  if (fit == RowFit::dropped) {
    if (!message)
      message = store.start_message();
    ++message->dropped;
    return;
  }
  std::size_t length = fit == RowFit::full ? row.size() : key_length + 1;
  if (!message || !fits_in_body(message->length, message->rows, length, capacity))
    message = store.start_message();
  if (message->rows > 0) {
    store.append(",", 1);
    ++message->length;
  }
  if (fit == RowFit::full) {
    store.append(row.data(), row.size());
  } else {
    store.append(row.data(), key_length);
    store.append("}", 1);
  }
  message->length += length;
  ++message->rows;
  message->truncated = message->truncated || fit == RowFit::key_only;
}

// PostgreSQL delivers byte-identical notifications of one transaction once
// (same channel and payload), so two messages that each carried "dropped"
// could arrive as one, and the count with them. A label's messages of one
// transaction therefore report the dropped rows of all of them on the last
// one, the only one that carries "dropped": `dropped_to_send` of message
// `index` of a label whose last message is `last_index` and whose messages'
// counts sum to `total`. A message that held nothing but dropped rows is then
// empty and is not sent (`worth_sending`).
constexpr std::uint64_t dropped_to_send(std::size_t index, std::size_t last_index, std::uint64_t total) {
  return index == last_index ? total : 0;
}
constexpr bool worth_sending(const PackedMessage &message, std::uint64_t dropped) {
  return message.rows > 0 || dropped > 0;
}

// One label's messages of one transaction, packed into strings exactly as the
// trigger path packs them into its arena (pack_row), and finished as it
// finishes them at commit. What the unit tests exercise.
class MessagePacker {
public:
  // `prefix` is the message up to and including `"rows":[`.
  explicit MessagePacker(std::string_view prefix, std::size_t max_bytes = kMaxPayloadBytes);

  void add_row(std::string_view row, std::size_t key_length) { pack_row(*this, capacity_, row, key_length); }

  // A whole message of the same label (a TRUNCATE) was queued: the next row
  // starts a new message, as in pending_add_message().
  void close() { open_ = false; }

  // The payloads, in order (nothing when nothing was added).
  std::vector<std::string> finish() const;

  // The store pack_row() writes to.
  PackedMessage *open_message() { return open_ ? &messages_.back().packed : nullptr; }
  PackedMessage *start_message();
  void append(const char *data, std::size_t length) { messages_.back().body.append(data, length); }

private:
  struct Message {
    PackedMessage packed;
    std::string body;
  };
  std::string prefix_;
  std::size_t capacity_;
  std::vector<Message> messages_;
  bool open_ = false;
};

} // namespace ectowatch
