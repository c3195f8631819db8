#include "pg_connection.hpp"

#include "ectowatch/errors.hpp"
#include "libpq_helpers.hpp"

#include <libpq-fe.h>

#include <memory>

namespace ectowatch::detail {

namespace {

std::string field(const PGresult *result, int code) {
  const char *text = PQresultErrorField(result, code);
  return text ? text : "";
}

} // namespace

// The server's error as an exception: its message (and detail), the hint
// apart, and no CONTEXT (a PL/pgSQL call stack of the extension's own
// functions says nothing to the caller, and repeated the hint).
void throw_sql_error(const PGresult *result) {
  std::string message = field(result, PG_DIAG_MESSAGE_PRIMARY);
  if (message.empty())
    message = trimmed(PQresultErrorMessage(result));
  std::string detail = field(result, PG_DIAG_MESSAGE_DETAIL);
  if (!detail.empty())
    message += " (" + detail + ")";
  throw SqlError(message, field(result, PG_DIAG_SQLSTATE), field(result, PG_DIAG_MESSAGE_HINT), detail);
}

PgConnection::PgConnection(const std::string &conninfo, const std::string &application_name,
                           int connect_timeout_seconds, Mode mode) {
  // Our defaults first, the caller's conninfo (a string or a URI, expanded in
  // place) next, so whatever it sets wins; `replication` last, because a
  // replication stream needs exactly a logical walsender. Keepalives find a
  // silently dead peer. client_encoding UTF8 after the conninfo too: the
  // server then converts NOTIFY payloads and channel names (and query
  // results) from the database encoding to the UTF-8 that messages are read
  // as (durable messages are converted by the output plugin).
  std::string timeout = std::to_string(connect_timeout_seconds);
  const char *keywords[] = {
      "fallback_application_name", "connect_timeout", "keepalives",      "keepalives_idle", "keepalives_interval",
      "keepalives_count",          "dbname",          "client_encoding", "replication",     nullptr};
  const char *values[] = {application_name.c_str(),
                          timeout.c_str(),
                          "1",
                          "30",
                          "10",
                          "3",
                          conninfo.c_str(),
                          "UTF8",
                          mode == Mode::replication ? "database" : nullptr,
                          nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!conn_)
    throw ConnectionError("cannot connect: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw ConnectionError("cannot connect to PostgreSQL: " + message);
  }
  PQsetnonblocking(conn_, 0);
  // Server notices (and the FATAL of a terminated backend) would go to
  // stderr; a lost connection is reported as a ConnectionError instead.
  PQsetNoticeProcessor(
      conn_, [](void *, const char *) {}, nullptr);
}

PgConnection::~PgConnection() {
  if (conn_)
    PQfinish(conn_);
}

int PgConnection::socket() const { return PQsocket(conn_); }

void PgConnection::throw_connection_error(const std::string &what) const {
  throw ConnectionError(what + ": " + trimmed(PQerrorMessage(conn_)));
}

std::string PgConnection::quote_identifier(const std::string &name) const {
  std::unique_ptr<char, FreememDeleter> quoted(PQescapeIdentifier(conn_, name.data(), name.size()));
  if (!quoted)
    throw UsageError("cannot quote \"" + name + "\": " + trimmed(PQerrorMessage(conn_)));
  return quoted.get();
}

std::string PgConnection::quote_literal(const std::string &text) const {
  std::unique_ptr<char, FreememDeleter> quoted(PQescapeLiteral(conn_, text.data(), text.size()));
  if (!quoted)
    throw UsageError("cannot quote '" + text + "': " + trimmed(PQerrorMessage(conn_)));
  return quoted.get();
}

void PgConnection::command(const std::string &sql) {
  Result result(PQexec(conn_, sql.c_str()));
  if (!result || PQstatus(conn_) != CONNECTION_OK)
    throw_connection_error("connection lost");
  auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY)
    throw_sql_error(result.get());
}

void PgConnection::listen(const std::string &channel) { command("LISTEN " + quote_identifier(channel)); }
void PgConnection::unlisten(const std::string &channel) { command("UNLISTEN " + quote_identifier(channel)); }

std::size_t PgConnection::take_buffered(const Visitor &visit) {
  std::size_t count = 0;
  while (PGnotify *raw = PQnotifies(conn_)) {
    std::unique_ptr<PGnotify, FreememDeleter> notify(raw);
    visit(notify->relname, notify->extra ? notify->extra : "", notify->be_pid);
    ++count;
  }
  return count;
}

std::size_t PgConnection::read_notifications(const Visitor &visit) {
  if (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK)
    throw_connection_error("connection lost");
  return take_buffered(visit);
}

void PgConnection::check_alive() {
  Result result(PQexec(conn_, ""));
  if (!result || PQstatus(conn_) != CONNECTION_OK || PQresultStatus(result.get()) == PGRES_FATAL_ERROR)
    throw_connection_error("connection lost");
}

std::optional<std::string> PgConnection::query_value(const std::string &sql,
                                                     const std::vector<std::optional<std::string>> &params) {
  std::vector<const char *> values;
  for (const auto &param : params)
    values.push_back(param ? param->c_str() : nullptr);
  Result result(
      PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  if (!result || PQstatus(conn_) != CONNECTION_OK)
    throw_connection_error("connection lost");
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK)
    throw_sql_error(result.get());
  if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0))
    return std::nullopt;
  return std::string(PQgetvalue(result.get(), 0, 0));
}

PgConnection::Rows PgConnection::simple_query(const std::string &sql) {
  Result result(PQexec(conn_, sql.c_str()));
  if (!result || PQstatus(conn_) != CONNECTION_OK)
    throw_connection_error("connection lost");
  auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw_sql_error(result.get());
  Rows rows(static_cast<std::size_t>(PQntuples(result.get())));
  for (int row = 0; row < PQntuples(result.get()); ++row)
    for (int column = 0; column < PQnfields(result.get()); ++column)
      rows[row].push_back(PQgetisnull(result.get(), row, column)
                              ? std::nullopt
                              : std::optional<std::string>(PQgetvalue(result.get(), row, column)));
  return rows;
}

} // namespace ectowatch::detail
