// A libpq connection of the client: LISTEN, queries; replication_stream.cpp
// speaks the replication protocol on one opened in replication mode.
// Not thread-safe by itself: Client serialises access with a mutex.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;

namespace ectowatch::detail {

class PgConnection {
public:
  // `replication`: a logical walsender connection (replication=database) for
  // ReplicationStream; it accepts simple queries and replication commands.
  enum class Mode { normal, replication };
  // Connects (blocking, bounded by connect_timeout); throws ConnectionError.
  PgConnection(const std::string &conninfo, const std::string &application_name, int connect_timeout_seconds,
               Mode mode = Mode::normal);
  ~PgConnection();
  PgConnection(const PgConnection &) = delete;
  PgConnection &operator=(const PgConnection &) = delete;

  int socket() const;

  void listen(const std::string &channel);
  void unlisten(const std::string &channel);

  // `sender_pid`: the backend that sent the notification (PGnotify::be_pid).
  using Visitor = std::function<void(std::string_view channel, std::string_view payload, int sender_pid)>;
  // Reads whatever the socket has without blocking and shows each
  // notification to `visit` (views valid during the call only); returns how
  // many there were. Throws ConnectionError if the connection broke.
  std::size_t read_notifications(const Visitor &visit);
  // The same for notifications libpq already holds (received during a command).
  std::size_t take_buffered(const Visitor &visit);
  // A cheap round trip; throws ConnectionError if the server does not answer.
  void check_alive();

  // Runs a statement with text parameters (NULL = std::nullopt) and returns
  // the first column of the first row (or nullopt). Throws SqlError.
  std::optional<std::string> query_value(const std::string &sql, const std::vector<std::optional<std::string>> &params);

  // The same with the simple query protocol (no parameters): the only kind a
  // replication connection accepts. Returns every row, NULL = std::nullopt.
  using Rows = std::vector<std::vector<std::optional<std::string>>>;
  Rows simple_query(const std::string &sql);

  std::string quote_identifier(const std::string &name) const;
  std::string quote_literal(const std::string &text) const;

  // For ReplicationStream, which speaks the COPY BOTH protocol on this connection.
  pg_conn *raw() const { return conn_; }
  [[noreturn]] void throw_connection_error(const std::string &what) const;

private:
  void command(const std::string &sql);
  pg_conn *conn_ = nullptr;
};

} // namespace ectowatch::detail
