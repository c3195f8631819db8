#include "load_sql.hpp"

#include <algorithm>

namespace ectowatch::detail {

const char *const kKeyTypesSql =
    "SELECT a.attname IS NOT NULL, format_type(a.atttypid, NULL), t.typarray::oid::bigint "
    "FROM unnest($2::text[]) WITH ORDINALITY AS k(name, i) "
    "LEFT JOIN pg_attribute a ON a.attrelid = $1::regclass AND a.attname = k.name AND a.attnum > 0 "
    "AND NOT a.attisdropped "
    "LEFT JOIN pg_type t ON t.oid = a.atttypid ORDER BY k.i";

std::string quote_identifier(const std::string &name) {
  std::string quoted = "\"";
  for (char character : name) {
    if (character == '"')
      quoted += '"';
    quoted += character;
  }
  return quoted + '"';
}

namespace {

std::string parameter(std::size_t index, const KeyType &type) {
  return "$" + std::to_string(index + 1) + "::" + type.name + "[]";
}

std::string default_query(const LoadRequest &request, const std::vector<KeyType> &types) {
  std::string columns;
  if (request.columns->empty()) {
    columns = "*";
  } else {
    // The key columns first and always: the rows are matched to keys by them.
    std::vector<std::string> names = request.key_columns;
    for (const std::string &column : *request.columns)
      if (std::find(names.begin(), names.end(), column) == names.end())
        names.push_back(column);
    for (const std::string &name : names)
      columns += (columns.empty() ? "" : ", ") + quote_identifier(name);
  }
  std::string sql = "SELECT " + columns + " FROM " + request.table + " WHERE ";
  if (request.key_columns.size() == 1)
    return sql + quote_identifier(request.key_columns[0]) + " = ANY(" + parameter(0, types[0]) + ")";
  std::string tuple;
  std::string arrays;
  for (std::size_t column = 0; column < request.key_columns.size(); ++column) {
    tuple += (column ? ", " : "") + quote_identifier(request.key_columns[column]);
    arrays += (column ? ", " : "") + parameter(column, types[column]);
  }
  return sql + "(" + tuple + ") IN (SELECT * FROM unnest(" + arrays + "))";
}

} // namespace

std::string load_sql(const LoadRequest &request, const std::vector<KeyType> &types) {
  std::string inner = *request.query ? **request.query : default_query(request, types);
  std::string sql = "SELECT ";
  for (const std::string &column : request.key_columns)
    sql += "to_json(q." + quote_identifier(column) + ") #>> '{}', ";
  return sql + "row_to_json(q)::text, q.* FROM (" + inner + ") AS q";
}

std::string array_literal(const std::vector<std::vector<std::optional<std::string>>> &keys, std::size_t column) {
  std::string literal = "{";
  for (std::size_t index = 0; index < keys.size(); ++index) {
    if (index > 0)
      literal += ',';
    const std::optional<std::string> &value = keys[index][column];
    if (!value) {
      literal += "NULL";
      continue;
    }
    literal += '"';
    for (char character : *value) {
      if (character == '"' || character == '\\')
        literal += '\\';
      literal += character;
    }
    literal += '"';
  }
  return literal + '}';
}

} // namespace ectowatch::detail
