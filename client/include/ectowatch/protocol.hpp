// The facts of the wire that the extension (extension/) and the client
// (client/) must agree on, defined once: both sides include this header
// (docs/protocol.md describes them). Free of PostgreSQL and of C++20, since
// the extension is built with the server's headers and C++17.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace ectowatch::protocol {

// Prefix of the logical messages durable delivery writes to the WAL; also the
// name of the output plugin that decodes them for a slot.
inline constexpr const char *kMessagePrefix = "ectowatch";
// Prefix of the logical messages the relay worker reads (delivery 'relay').
inline constexpr const char *kRelayMessagePrefix = "ectowatch_relay";
// The channel on which every client is told that its messages may be lost.
inline constexpr const char *kResyncChannel = "ectowatch_resync";

// The values of ectowatch_watch's op and delivery arguments, in the order of
// the C++ enums that mirror them. The SQL side defines them once in
// sql/values; tests/unit/watch_values_test.cpp checks that both agree.
inline constexpr const char *kInserted = "inserted";
inline constexpr const char *kUpdated = "updated";
inline constexpr const char *kDeleted = "deleted";
inline constexpr const char *kOps[] = {kInserted, kUpdated, kDeleted};
inline constexpr const char *kDeliveries[] = {"notify", "durable", "relay"};

// A WAL position as PostgreSQL writes it: two hexadecimal halves, "16/B374D848".
inline constexpr std::size_t kLsnTextSize = 18; // 8 + "/" + 8 + NUL
inline void format_lsn(std::uint64_t lsn, char (&text)[kLsnTextSize]) {
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
}

// The position written by format_lsn (either letter case); 0, which no
// message has, for anything else.
inline std::uint64_t parse_lsn(std::string_view text) {
  std::uint64_t high = 0, low = 0;
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
      text.size() - slash - 1 > 8)
    return 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == slash)
      continue;
    char c = text[i];
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
    if (digit < 0)
      return 0;
    std::uint64_t &part = i < slash ? high : low;
    part = part * 16 + static_cast<std::uint64_t>(digit);
  }
  return high << 32 | low;
}

} // namespace ectowatch::protocol
