// The decoder's fast path: a message exactly as the extension writes it
// (extension/watcher_plan.cpp's prefix, extension/message_packer.cpp's rows
// and flags, the relay's "lsn"), with plain values only. simdjson's general
// parse costs about 2 600 instructions for a one-row message, more than
// everything else a listener does together (docs/performance.md); this scan
// of the canonical form costs a fraction of it.
//
// It never decides that a payload is invalid: anything it does not recognise
// (escapes, whitespace, nested values, exponents, other field orders, unknown
// fields) makes it return false, and the caller parses the payload with
// simdjson, which accepts or rejects it. tests/fuzz/decoder_fuzzer.cpp checks
// that both paths decode every input the same way.
#pragma once

#include "ectowatch/message.hpp"

#include <cstddef>
#include <vector>

namespace ectowatch::detail {

// Decodes `message.payload` into `message`'s fields and columns and appends
// the number of columns of each row to `row_sizes`. Returns false when the
// payload is not in the canonical form; `message` and `row_sizes` may then
// hold a partial result, which the caller discards.
bool decode_canonical(Message &message, std::vector<std::size_t> &row_sizes);

} // namespace ectowatch::detail
