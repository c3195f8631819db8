// The names of the public enumerations (to_string), for logs and output.
#include "ectowatch/client.hpp"

namespace ectowatch {

std::string_view to_string(Resync::Reason reason) {
  switch (reason) {
  case Resync::Reason::reconnected:
    return "reconnected";
  case Resync::Reason::truncated:
    return "truncated";
  case Resync::Reason::dropped:
    return "dropped";
  case Resync::Reason::overflow:
    return "overflow";
  case Resync::Reason::slot_created:
    return "slot_created";
  case Resync::Reason::slot_lost:
    return "slot_lost";
  case Resync::Reason::relay_lost:
    return "relay_lost";
  case Resync::Reason::consumer_created:
    return "consumer_created";
  case Resync::Reason::aged_out:
    return "aged_out";
  case Resync::Reason::consumer_lost:
    return "consumer_lost";
  case Resync::Reason::load_failed:
    return "load_failed";
  }
  return "unknown";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
  case LogLevel::debug:
    return "debug";
  case LogLevel::info:
    return "info";
  case LogLevel::warning:
    return "warning";
  case LogLevel::error:
    return "error";
  }
  return "unknown";
}

} // namespace ectowatch
