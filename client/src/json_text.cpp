#include "json_text.hpp"

#include "ectowatch/message.hpp"

namespace ectowatch::detail {

void append_json_string(std::string &out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        out += "\\u00";
        out.push_back(hex[(c >> 4) & 0xf]);
        out.push_back(hex[c & 0xf]);
      } else {
        out.push_back(c);
      }
    }
  }
  out.push_back('"');
}

} // namespace ectowatch::detail

namespace ectowatch {

void append_json_string(std::string &out, std::string_view text) { detail::append_json_string(out, text); }

} // namespace ectowatch
