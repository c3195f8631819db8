// The decoder's general path: any valid v1 message, parsed with simdjson
// (the fast path, fast_path_decoder.hpp, takes the canonical form the
// extension writes; message_decoder.cpp chooses and checks the result).
#pragma once

#include "ectowatch/message.hpp"

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ectowatch::detail {

// Throws the ProtocolError for a payload that is not an ectowatch message.
[[noreturn]] void not_a_message(std::string_view channel, std::string_view payload, const std::string &why);

// Parses `message.payload` (which has simdjson's padding): fills `message`'s
// fields and columns, and `row_sizes` with each row's column count (0 for a
// row that is not an object). Throws ProtocolError.
void decode_with_simdjson(std::string_view channel, Message &message, std::vector<std::size_t> &row_sizes,
                          simdjson::ondemand::parser &parser);

} // namespace ectowatch::detail
