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
#include <string>
#include <vector>

namespace ectowatch::detail {

// The header (`{"v":1,...,"rows":[`) of the last canonical message read.
// Messages of one watcher share it, so the next one that starts with the
// same bytes takes its fields from here instead of reading them again.
struct CanonicalHeader {
  std::string text;
  bool non_ascii = false; // then the whole payload is checked as UTF-8
  Op op = Op::inserted;
  std::string table;
  std::string label;
  std::vector<std::string> key_columns;
};

// Decodes `message.payload` into `message`'s fields and columns and appends
// the number of columns of each row to `row_sizes`. Returns false when the
// payload is not in the canonical form; `message` and `row_sizes` may then
// hold a partial result, which the caller discards. `last` is read and updated.
bool decode_canonical(Message &message, std::vector<std::size_t> &row_sizes, CanonicalHeader &last);

} // namespace ectowatch::detail
