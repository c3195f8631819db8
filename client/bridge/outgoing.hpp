// What `ectowatch bridge` publishes for each event (docs/protocol.md, "NATS
// subjects"): the subject, the Nats-Msg-Id and the payload, which is the JSON
// line `ectowatch listen` prints plus "lsn".
#pragma once

#include "publisher.hpp"

#include <ectowatch/ectowatch.hpp>

namespace ectowatch::bridge {

// A row, a TRUNCATE or dropped rows. Throws std::invalid_argument when a key
// column is missing from the row (cannot happen with a well-formed message).
Outgoing outgoing_for(const std::string &prefix, const Event &event);

// A resync (slot created or lost) for one label. `sequence` makes the
// Nats-Msg-Id unique (a resync has no WAL position of its own); `lsn` is the
// tracker's position for it.
Outgoing outgoing_for_resync(const std::string &prefix, const std::string &label, std::string_view reason,
                             std::uint64_t lsn, const std::string &sequence);

} // namespace ectowatch::bridge
