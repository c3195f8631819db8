// Where a message is decoded: a notification payload -> ectowatch::Message
// (format v1, docs/protocol.md). JSON is parsed with simdjson.
#pragma once

#include "ectowatch/client.hpp"
#include "ectowatch/message.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace ectowatch::detail {

// Throws ProtocolError for anything that is not a valid v1 message.
std::shared_ptr<const Message> decode_message(std::string_view channel, std::string_view payload);
// The same for an output row of an 'ectowatch' replication slot, written at
// WAL position `lsn` (there is no channel: the label is the message's).
std::shared_ptr<const Message> decode_slot_message(std::uint64_t lsn, std::string_view payload);

// Decodes the JSON array `ectowatch_watchers` gives as json_agg.
std::vector<WatcherInfo> decode_watchers(std::string_view json);

} // namespace ectowatch::detail
