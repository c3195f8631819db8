// Where a message is decoded: a notification payload -> ectowatch::Message
// (format v1, docs/protocol.md). Messages as the extension writes them take
// a fast path (fast_path_decoder.hpp); anything else is parsed with simdjson.
#pragma once

#include "ectowatch/client.hpp"
#include "ectowatch/message.hpp"
#include "ectowatch/protocol.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace ectowatch::detail {

// How a payload is parsed: the canonical form by the fast path
// (fast_path_decoder.hpp) and everything else by simdjson; or by simdjson
// alone (tests and the fuzzer compare the two).
enum class Parser { fast_path_first, simdjson_only };

// Throws ProtocolError for anything that is not a valid v1 message. A row
// that cannot be decoded (it lacks a key column, or is not an object) is left
// out of a valid message and appended to `bad_rows`, so one bad row never
// takes its neighbours down; without `bad_rows` it fails the whole message.
std::shared_ptr<const Message> decode_message(std::string_view channel, std::string_view payload,
                                              Parser parser = Parser::fast_path_first,
                                              std::vector<RowError> *bad_rows = nullptr);
// The same for an output row of an 'ectowatch' replication slot, written at
// WAL position `lsn` (there is no channel: the label is the message's).
std::shared_ptr<const Message> decode_slot_message(std::uint64_t lsn, std::string_view payload,
                                                   std::vector<RowError> *bad_rows = nullptr);

// "inserted" -> Op::inserted; nothing for a name that is not an op (parse_op
// throws instead).
std::optional<Op> op_named(std::string_view text);

// Decoded messages are pooled, and a pooled message most often held one of the
// same watcher: its table, label and channel are copied only when they differ.
inline void assign_if_different(std::string &field, std::string_view value) {
  if (field != value)
    field.assign(value);
}

// "16/B374D848" -> 0x16B374D848 (a WAL position as PostgreSQL writes it); 0
// for anything else.
std::uint64_t parse_lsn(std::string_view text);

// Decodes the JSON array `ectowatch_watchers` gives as json_agg.
std::vector<WatcherInfo> decode_watchers(std::string_view json);

} // namespace ectowatch::detail
