// libFuzzer target for the client's message decoder: any bytes must give a
// Message or a ProtocolError, never a crash, a leak or undefined behaviour;
// and the fast path (fast_path_decoder.hpp) must decode every input exactly
// as simdjson alone does: the same message, or an error from both.
// bench/fuzz runs it; scripts/test replays tests/fuzz/corpus.
#include "message_decoder.hpp"
#include "subscription_registry.hpp"

#include <ectowatch/ectowatch.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

namespace {

using ectowatch::Message;
using ectowatch::detail::Parser;

// Rows left out of a valid message (ectowatch::RowError): their positions.
using BadRows = std::vector<std::size_t>;

std::shared_ptr<const Message> decode_or_null(std::string_view payload, Parser parser, BadRows &bad_rows) {
  try {
    std::vector<ectowatch::RowError> errors;
    auto message = ectowatch::detail::decode_message("fuzz", payload, parser, &errors);
    for (const auto &error : errors)
      bad_rows.push_back(error.row_index());
    return message;
  } catch (const ectowatch::ProtocolError &) {
    return nullptr;
  }
}

bool same_rows(const Message &a, const Message &b) {
  if (a.rows.size() != b.rows.size())
    return false;
  for (std::size_t r = 0; r < a.rows.size(); ++r) {
    auto x = a.rows[r].columns(), y = b.rows[r].columns();
    if (x.size() != y.size())
      return false;
    for (std::size_t c = 0; c < x.size(); ++c)
      if (x[c].first != y[c].first || x[c].second.kind() != y[c].second.kind() ||
          x[c].second.json() != y[c].second.json() || x[c].second.text() != y[c].second.text())
        return false;
  }
  return true;
}

bool same(const Message &a, const Message &b) {
  return a.version == b.version && a.op == b.op && a.table == b.table && a.label == b.label && a.channel == b.channel &&
         a.key_columns == b.key_columns && a.truncated == b.truncated && a.dropped == b.dropped && a.lsn == b.lsn &&
         same_rows(a, b);
}

// Everything a subscriber can touch.
void touch(const Message &message) {
  for (const ectowatch::Row &row : message.rows) {
    (void)row.json();
    (void)ectowatch::detail::row_key(message, row);
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
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  std::string_view payload(reinterpret_cast<const char *>(data), size);
  BadRows fast_bad, general_bad;
  auto fast = decode_or_null(payload, Parser::fast_path_first, fast_bad);
  auto general = decode_or_null(payload, Parser::simdjson_only, general_bad);
  if (static_cast<bool>(fast) != static_cast<bool>(general) || (fast && !same(*fast, *general)) ||
      fast_bad != general_bad)
    std::abort(); // the two paths disagree
  if (fast)
    touch(*fast);
  return 0;
}
