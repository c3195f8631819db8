// The SQL of the loader's queries: text only, no I/O.
#pragma once

#include "load_runner.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ectowatch::detail {

// A key column's type, read from the catalog: its name for the casts
// (format_type) and its array type (the parameter's type).
struct KeyType {
  std::string name;
  unsigned array_oid = 0;
};

// The catalog query for the key columns' types: $1 the table, $2 the key
// column names (text[]); one row per name in order: (found, type name, array oid).
extern const char *const kKeyTypesSql;

// "name" quoted as an SQL identifier.
std::string quote_identifier(const std::string &name);

// The query for a batch: the rows whose key is one of $1 (composite keys:
// one array per key column, $1, $2, ...), or the custom query's rows, each as
// its key columns' match texts, then row_to_json, then the columns.
std::string load_sql(const LoadRequest &request, const std::vector<KeyType> &types);

// One key column's values as an array literal ({"1","2",NULL}).
std::string array_literal(const std::vector<std::vector<std::optional<std::string>>> &keys, std::size_t column);

} // namespace ectowatch::detail
