// What the loader asks of the database: one query for a batch of keys of one
// table. Its libpq side (load_connection.hpp) is outside the client's core,
// so the core (and its tests) need no libpq.
#pragma once

#include "work.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ectowatch::detail {

struct LoadRequest {
  std::string table; // schema-qualified and quoted, as in messages
  std::vector<std::string> key_columns;
  const std::vector<std::string> *columns = nullptr; // empty: every column
  const std::optional<std::string> *query = nullptr; // a custom query ($1.. = key arrays)
  // Each key's values in key_columns order, as text (SQL NULL: nullopt).
  std::vector<std::vector<std::optional<std::string>>> keys;
};

// One row the query returned.
struct FoundRow {
  // Its key values as messages carry them (Value::text(); SQL NULL: nullopt).
  std::vector<std::optional<std::string>> key_texts;
  std::string json;
  std::vector<std::pair<std::string, std::optional<std::string>>> columns;
};

class LoadRunner {
public:
  virtual ~LoadRunner() = default;
  // Whether a connection is open, opening one if the backoff allows; throws
  // ConnectionError when an attempt fails (the next one waits the backoff).
  virtual bool ready(Clock::time_point now) = 0;
  // When the next connection attempt may be made.
  virtual Clock::time_point next_attempt() const = 0;
  // One query. Throws SqlError (the server refused, with its SQLSTATE),
  // UsageError (a bad custom query or column list) or ConnectionError; after
  // any of them, broken() says whether the connection was lost.
  virtual std::vector<FoundRow> load(const LoadRequest &request) = 0;
  virtual bool broken() const = 0;
};

} // namespace ectowatch::detail
