#include "stats_json.hpp"

#include <ectowatch/protocol.hpp>

namespace ectowatch::cli {

namespace {

// Appends "name":value (appending, not `"..." + std::string`: GCC 12's
// -Wrestrict misfires on that at -O2).
void append_field(std::string &line, std::string_view name, std::uint64_t value) {
  line += '"';
  line += name;
  line += "\":";
  line += std::to_string(value);
}

} // namespace

std::string stats_json(const Stats &stats, bool durable) {
  std::string line = "{";
  append_field(line, "messages", stats.messages);
  line += ',';
  append_field(line, "bytes", stats.bytes);
  line += ',';
  append_field(line, "events", stats.events);
  line += ',';
  append_field(line, "decode_errors", stats.decode_errors);
  line += ',';
  append_field(line, "callback_errors", stats.callback_errors);
  line += ",\"resyncs\":{";
  for (std::size_t reason = 0; reason < Resync::kReasons; ++reason) {
    if (reason > 0)
      line += ',';
    append_field(line, to_string(static_cast<Resync::Reason>(reason)), stats.resyncs[reason]);
  }
  line += "},";
  append_field(line, "overflows", stats.overflows);
  line += ',';
  append_field(line, "reconnects", stats.reconnects);
  line += ',';
  append_field(line, "load_queries", stats.load_queries);
  line += ',';
  append_field(line, "loaded_rows", stats.loaded_rows);
  if (durable) {
    char lsn[protocol::kLsnTextSize];
    protocol::format_lsn(stats.confirmed_lsn, lsn);
    line += ",\"confirmed_lsn\":\"";
    line += lsn;
    line += '"';
  }
  line += '}';
  return line;
}

} // namespace ectowatch::cli
