#include "load_connection.hpp"

#include "libpq_helpers.hpp"

namespace ectowatch::detail {

namespace {

std::optional<std::string> value_at(const PGresult *result, int row, int column) {
  if (PQgetisnull(result, row, column))
    return std::nullopt;
  return std::string(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
}

} // namespace

LoadConnection::LoadConnection(std::string conninfo, const ClientOptions &options)
    : conninfo_(std::move(conninfo)), application_name_(options.application_name + " loader"),
      connect_timeout_seconds_(options.connect_timeout_seconds),
      reconnect_(options.reconnect_initial, options.reconnect_max) {}

bool LoadConnection::ready(Clock::time_point now) {
  if (connection_)
    return true;
  if (!reconnect_.due(now))
    return false;
  try {
    connection_ = std::make_unique<PgConnection>(conninfo_, application_name_, connect_timeout_seconds_);
  } catch (const ConnectionError &error) {
    reconnect_.failed(now);
    throw ConnectionError(std::string("loading rows: ") + error.what() + "; next attempt in " +
                          std::to_string(reconnect_.backoff().count()) + " ms");
  }
  reconnect_.succeeded();
  return true;
}

// A failed statement: a lost connection is closed (reopened by ready() with
// the backoff), and the server's error thrown as SqlError with its SQLSTATE
// (a terminated backend's 57P01 included, when libpq read it).
void LoadConnection::check_result(const void *raw) {
  const auto *result = static_cast<const PGresult *>(raw);
  bool lost = PQstatus(connection_->raw()) != CONNECTION_OK;
  bool failed = !result || (PQresultStatus(result) != PGRES_TUPLES_OK && PQresultStatus(result) != PGRES_COMMAND_OK);
  if (!lost && !failed)
    return;
  key_types_.clear(); // a table dropped or changed: read its types again
  std::string libpq_message = trimmed(PQerrorMessage(connection_->raw()));
  const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (lost) {
    connection_.reset();
    reconnect_.lost(Clock::now());
    if (!sqlstate)
      throw ConnectionError("loading rows: connection lost: " + libpq_message);
  }
  if (!result)
    throw ConnectionError("loading rows: " + libpq_message);
  throw_sql_error(result);
}

const std::vector<KeyType> &LoadConnection::key_types(const LoadRequest &request) {
  std::string cache_key = request.table;
  std::vector<std::vector<std::optional<std::string>>> columns;
  for (const std::string &column : request.key_columns) {
    cache_key += '\n' + column;
    columns.push_back({column});
  }
  std::string names = array_literal(columns, 0);
  auto cached = key_types_.find(cache_key);
  if (cached != key_types_.end())
    return cached->second;
  const char *values[] = {request.table.c_str(), names.c_str()};
  Result result(PQexecParams(connection_->raw(), kKeyTypesSql, 2, nullptr, values, nullptr, nullptr, 0));
  check_result(result.get());
  std::vector<KeyType> types;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    if (std::string(PQgetvalue(result.get(), row, 0)) != "t")
      throw UsageError("loading rows of " + request.table + ": it has no column \"" +
                       request.key_columns[static_cast<std::size_t>(row)] +
                       "\" (the watcher's key); watch the table again with its key columns");
    types.push_back({PQgetvalue(result.get(), row, 1),
                     static_cast<unsigned>(std::stoul(value_at(result.get(), row, 2).value_or("0")))});
  }
  return key_types_[cache_key] = std::move(types);
}

std::vector<FoundRow> LoadConnection::load(const LoadRequest &request) {
  const std::vector<KeyType> &types = key_types(request);
  std::string sql = load_sql(request, types);
  std::vector<std::string> arrays;
  std::vector<const char *> values;
  std::vector<Oid> oids;
  for (std::size_t column = 0; column < request.key_columns.size(); ++column)
    arrays.push_back(array_literal(request.keys, column));
  for (std::size_t column = 0; column < arrays.size(); ++column) {
    values.push_back(arrays[column].c_str());
    oids.push_back(types[column].array_oid);
  }
  Result result(PQexecParams(connection_->raw(), sql.c_str(), static_cast<int>(values.size()), oids.data(),
                             values.data(), nullptr, nullptr, 0));
  check_result(result.get());
  const int keys = static_cast<int>(request.key_columns.size());
  std::vector<FoundRow> rows(static_cast<std::size_t>(PQntuples(result.get())));
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    FoundRow &found = rows[static_cast<std::size_t>(row)];
    for (int column = 0; column < keys; ++column)
      found.key_texts.push_back(value_at(result.get(), row, column));
    found.json = PQgetvalue(result.get(), row, keys);
    for (int column = keys + 1; column < PQnfields(result.get()); ++column)
      found.columns.emplace_back(PQfname(result.get(), column), value_at(result.get(), row, column));
  }
  return rows;
}

} // namespace ectowatch::detail
