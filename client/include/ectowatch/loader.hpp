// Loading the rows behind events (Client::subscribe_loaded): messages carry
// keys, not rows, so readers load fresh rows themselves. A loaded
// subscription collects the keys of its label's events over a window,
// deduplicates them, and runs one query per window and table on a
// connection of the client's own, shared by every loaded subscription with
// the same options: 100 subscribers of a label cost one query per window,
// not 100 per event.
#pragma once

#include "ectowatch/cxx20_check.hpp"

#include "ectowatch/message.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ectowatch {

struct Resync;

// The current row of one changed key, loaded after the event was received
// (so after its commit): at least as new as the event.
struct LoadedRow {
  std::string label;
  std::string table;   // schema-qualified, as in the message
  Op op = Op::updated; // the latest event's op for this key in the window
  // The key, in the watcher's key order: column -> value text (as Value::text()).
  std::vector<std::pair<std::string, std::string>> key;
  // The row is gone (deleted, or no longer visible to the loader's role).
  bool absent = false;
  // The row as a JSON object (row_to_json): the loaded columns, or only the
  // key columns when absent.
  std::string json;
  // The loaded columns in PostgreSQL's text form (SQL NULL: nullopt); empty when absent.
  std::vector<std::pair<std::string, std::optional<std::string>>> columns;

  // A loaded column's value (nullptr when the row has no such column).
  const std::optional<std::string> *find(std::string_view column) const noexcept {
    for (const auto &[name, value] : columns)
      if (name == column)
        return &value;
    return nullptr;
  }
};

// One call per window with the rows of this subscription's keys, in the
// order the keys first arrived (never empty).
using LoadedCallback = std::function<void(std::span<const LoadedRow>)>;

struct LoadOptions {
  // Keys are collected this long from the first one, then loaded.
  std::chrono::milliseconds window{10};
  // At most this many keys per query; more go in further queries.
  std::size_t max_batch = 1000;
  // The columns to load (the key columns are always loaded); empty: every column.
  std::vector<std::string> columns{};
  // Instead of SELECT ... FROM table WHERE key = ANY($1): a query of your
  // own, e.g. a join or a preload of associations. $1 is the array of key
  // values (typed as the key column's array type; $1, $2, ... for a
  // composite key), and its result must have the key columns by name.
  std::optional<std::string> query{};
  // Called when the label resyncs (reconnect, overflow, TRUNCATE, dropped
  // rows, a failed load): events may have been missed, reload everything.
  // Runs after the client's on_resync callbacks.
  std::function<void(const Resync &)> on_resync{};
};

} // namespace ectowatch
