// Where relayed messages are repacked: the messages one relay round decoded
// (in commit order) become the notifications the relay worker sends. Plain
// C++, independent of PostgreSQL, so it can be unit-tested on its own.
//
// Adjacent messages of one source transaction with the same prefix (same
// label, op, table and key) are merged into one while the result fits
// (message_packer.hpp's limit), their flags combined; a message never moves
// past another, so listeners keep commit order on every channel and across
// channels. Each notification gets `,"lsn":"X/Y"` before its closing brace:
// the position of its last source message, unique within the relay
// transaction, so PostgreSQL never collapses two of them. Merging never
// crosses a source transaction, so how a transaction's messages are packed,
// and the lsn each carries, depend on that transaction alone, not on what
// else the round decoded: when a crash makes the worker relay a transaction
// again, its notifications repeat with the same rows and the same lsn.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ectowatch {

struct RelayedMessage {
  std::string_view payload;      // a v1 message as the trigger wrote it
  std::uint64_t lsn;             // where it was written
  std::uint64_t transaction = 0; // its source transaction: messages of different ones never merge
};

struct Notification {
  std::string channel; // the label
  std::string payload;
};

// Messages that are not v1 messages of ours (no label, not a JSON object) are
// passed to `skipped` and left out.
std::vector<Notification> repack_for_relay(const std::vector<RelayedMessage> &messages,
                                           std::vector<std::string_view> *skipped = nullptr);

} // namespace ectowatch
