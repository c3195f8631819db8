// Writing JSON text (the client only parses JSON with simdjson; writing a
// string literal needs no library).
#pragma once

#include <string>
#include <string_view>

namespace ectowatch::detail {

// Appends `text` as a JSON string literal, quotes included.
void append_json_string(std::string &out, std::string_view text);

} // namespace ectowatch::detail
