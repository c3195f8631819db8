#include "stats_json.hpp"

#include <ectowatch/protocol.hpp>

namespace ectowatch::cli {

std::string stats_json(const Stats &stats, bool durable) {
  auto field = [](const char *name, std::uint64_t value) {
    return std::string("\"") + name + "\":" + std::to_string(value);
  };
  std::string line = "{" + field("messages", stats.messages) + "," + field("bytes", stats.bytes) + "," +
                     field("events", stats.events) + "," + field("decode_errors", stats.decode_errors) + "," +
                     field("callback_errors", stats.callback_errors) + ",\"resyncs\":{";
  for (std::size_t reason = 0; reason < Resync::kReasons; ++reason) {
    std::string name(to_string(static_cast<Resync::Reason>(reason)));
    line += (reason ? "," : "") + field(name.c_str(), stats.resyncs[reason]);
  }
  line += "}," + field("overflows", stats.overflows) + "," + field("reconnects", stats.reconnects);
  if (durable) {
    char lsn[protocol::kLsnTextSize];
    protocol::format_lsn(stats.confirmed_lsn, lsn);
    line += std::string(",\"confirmed_lsn\":\"") + lsn + "\"";
  }
  return line + "}";
}

} // namespace ectowatch::cli
