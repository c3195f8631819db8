// libFuzzer target for the client's message decoder: any bytes must give a
// Message or a ProtocolError, never a crash, a leak or undefined behaviour.
// bench/fuzz runs it; scripts/test replays tests/fuzz/corpus.
#include "message_decoder.hpp"
#include "subscription_registry.hpp"

#include <ectowatch/ectowatch.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  std::string_view payload(reinterpret_cast<const char *>(data), size);
  try {
    auto message = ectowatch::detail::decode_message("fuzz", payload);
    // Everything a subscriber can touch.
    for (const ectowatch::Row &row : message->rows) {
      (void)row.json();
      (void)ectowatch::detail::row_key(*message, row);
      for (const auto &[name, value] : row.columns()) {
        (void)name;
        try {
          (void)value.as<std::int64_t>();
        } catch (const ectowatch::UsageError &) {
        }
        try {
          (void)value.as<double>();
          (void)value.as<bool>();
        } catch (const ectowatch::UsageError &) {
        }
        (void)value.as<std::string>();
      }
    }
  } catch (const ectowatch::ProtocolError &) {
  }
  return 0;
}
