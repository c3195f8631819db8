// Decodes what `ectowatch bridge` publishes (docs/protocol.md, "NATS
// subjects", format 1) into the Work the other sources produce: a row
// becomes a one-row Message (the same Message a slot would give, lsn
// included), `~truncated` and `~dropped` a Message of that kind, and
// `~resync` a Resync.
//
// The payload has no "key" field: a row's key columns are the first N
// columns of its "row" object, N being the number of key tokens in the
// subject (rows list the key columns first, docs/protocol.md "Message").
// Those columns' values must escape to exactly the subject's tokens, which
// checks the inference and the bridge alike.
#pragma once

#include "ectowatch/errors.hpp"
#include "work.hpp"

#include <string_view>
#include <vector>

namespace ectowatch::detail {

// `prefix`: the bridge's --prefix. `op_header`: the Ectowatch-Op header
// (empty if missing; only ~dropped needs it). Queues the result into `out`;
// throws ProtocolError for anything that is not format 1, and appends a row
// that cannot be decoded to `bad_rows` (nothing is queued for it then).
void decode_nats_message(std::string_view prefix, std::string_view subject, std::string_view payload,
                         std::string_view op_header, Batch &out, std::vector<RowError> &bad_rows);

} // namespace ectowatch::detail
