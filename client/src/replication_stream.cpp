#include "replication_stream.hpp"

#include "ectowatch/errors.hpp"
#include "libpq_helpers.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <thread>

namespace ectowatch::detail {

namespace {

constexpr const char *kPlugin = protocol::kMessagePrefix; // the output plugin has its name
constexpr const char *kPgoutput = "pgoutput";

// The COPY BOTH sub-protocol is big-endian.
std::uint64_t read_u64(const char *bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

void write_u64(char *bytes, std::uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

// Microseconds since 2000-01-01, PostgreSQL's epoch.
std::uint64_t postgres_now() {
  using namespace std::chrono;
  constexpr std::int64_t kUnixToPostgresMicros = 946'684'800'000'000;
  auto micros = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  return static_cast<std::uint64_t>(micros - kUnixToPostgresMicros);
}

PgConnection connect(const std::string &conninfo, const std::string &application_name, int timeout) {
  try {
    return PgConnection(conninfo, application_name, timeout, PgConnection::Mode::replication);
  } catch (const ConnectionError &error) {
    std::string what = error.what();
    // A role without REPLICATION: 14 and 15 say "must be superuser or
    // replication role to start walsender", 16 and later "permission denied to
    // start WAL sender" (with "REPLICATION" in the detail).
    std::string lower = what;
    for (char &c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("replication") != std::string::npos || lower.find("wal sender") != std::string::npos ||
        lower.find("pg_hba") != std::string::npos)
      throw ConnectionError(what + " (durable delivery reads a replication slot: the role needs the REPLICATION "
                                   "attribute, ALTER ROLE name REPLICATION, and pg_hba.conf must let it connect to "
                                   "this database)");
    throw;
  }
}

} // namespace

void check_slot_name(const std::string &name) {
  bool valid = !name.empty() && name.size() <= 63;
  for (char c : name)
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (!valid)
    throw UsageError("invalid slot name \"" + name +
                     "\": use 1 to 63 lower-case letters, digits and underscores, e.g. billing_worker");
}

std::string format_lsn(std::uint64_t lsn) {
  char text[protocol::kLsnTextSize];
  protocol::format_lsn(lsn, text);
  return text;
}

ReplicationStream::ReplicationStream(const std::string &conninfo, const std::string &application_name,
                                     int connect_timeout_seconds)
    : connection_(connect(conninfo, application_name, connect_timeout_seconds)) {}

ReplicationStream::SlotState ReplicationStream::prepare_slot(const std::string &slot, bool create) {
  check_slot_name(slot);
  auto settings = connection_.simple_query(
      "SELECT current_setting('wal_level'), (SELECT setting FROM pg_settings WHERE name = 'wal_sender_timeout')");
  if (settings.at(0).at(0) != std::optional<std::string>("logical"))
    throw SqlError("durable delivery needs wal_level = logical (this server has " + settings.at(0).at(0).value_or("") +
                       ")",
                   "55000", "set wal_level = logical in postgresql.conf and restart PostgreSQL");
  sender_timeout_ = std::chrono::milliseconds(std::stoll(settings.at(0).at(1).value_or("0"))); // pg_settings: in ms

  std::string quoted = connection_.quote_identifier(slot);
  std::string find = "SELECT coalesce(plugin, '(physical)'), coalesce(database::text, ''), "
                     "database IS NOT DISTINCT FROM current_database(), wal_status, active_pid "
                     "FROM pg_replication_slots WHERE slot_name = " +
                     connection_.quote_literal(slot);
  SlotState state;
  // A consumer that was just killed may hold the slot for a moment (its
  // walsender has not noticed yet): wait for it a little before giving up.
  for (int attempt = 0;; ++attempt) {
    auto rows = connection_.simple_query(find);
    if (rows.empty())
      break;
    const auto &row = rows.front();
    bool ours = row[0] == std::optional<std::string>(kPlugin) || row[0] == std::optional<std::string>(kPgoutput);
    if (!ours || row[2] != std::optional<std::string>("t"))
      throw UsageError("replication slot \"" + slot + "\" exists for plugin " + row[0].value_or("") +
                       (row[1]->empty() ? std::string() : " in database " + *row[1]) +
                       ", not for ectowatch or pgoutput in this database: choose another slot name");
    if (row[4]) {
      if (attempt < 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      throw ConnectionError("replication slot \"" + slot + "\" is in use by the process with PID " + *row[4] +
                            ": a slot has one consumer at a time; give each consumer its own slot");
    }
    if (row[3] != std::optional<std::string>("lost")) {
      // An existing slot's plugin decides how it is read, unless it cannot
      // read this database's edition (each would miss the other's messages).
      state.plugin = *row[0];
      check_plugin_reads_edition(slot, state.plugin);
      if (state.plugin == kPgoutput)
        use_pgoutput();
      return state;
    }
    // Invalidated (it held more WAL than max_slot_wal_keep_size): it cannot be
    // read any more; start again, and say that events were missed.
    connection_.simple_query("DROP_REPLICATION_SLOT " + quoted);
    state.lost = true;
    break;
  }
  state.plugin = choose_plugin();
  if (!create)
    throw UsageError("replication slot \"" + slot + "\" does not exist" +
                     (state.lost ? " any more (it was lost and dropped)" : "") +
                     "; let the client create it (Durable::create_slot) or run "
                     "SELECT pg_create_logical_replication_slot('" +
                     slot + "', '" + state.plugin + "')");
  // The publication first: pgoutput looks publications up as of each
  // change it decodes, so it must exist before the slot's first change.
  if (state.plugin == kPgoutput)
    use_pgoutput();
  try {
    connection_.simple_query("CREATE_REPLICATION_SLOT " + quoted + " LOGICAL " + state.plugin +
                             " (SNAPSHOT 'nothing')");
  } catch (const SqlError &error) {
    std::string hint = error.hint();
    std::string what = error.what();
    if (what.find("output_plugin_libraries") != std::string::npos ||
        what.find("could not access file") != std::string::npos ||
        what.find("may not be used as an output plugin") != std::string::npos) {
      hint = "the server must be allowed to load the plugin: add 'ectowatch' to output_plugin_libraries "
             "(ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, ectowatch') and reload";
      // The setting as the server read it: a mis-quoted list (one quoted
      // entry, a stray quote) looks right in postgresql.conf but is not.
      try {
        auto setting = connection_.simple_query("SELECT current_setting('output_plugin_libraries', true)");
        if (!setting.empty() && setting.at(0).at(0))
          what += " (output_plugin_libraries is now: " + *setting.at(0).at(0) + ")";
      } catch (const Error &) {
        // the refusal itself is what matters; the setting is only a help
      }
    }
    throw SqlError("cannot create replication slot \"" + slot + "\": " + what, error.sqlstate(), hint, error.detail());
  }
  state.created = true;
  return state;
}

// The plugin a new slot gets. The native edition's messages carry a MAC that
// only the 'ectowatch' plugin checks and strips; the portable edition's
// (PL/pgSQL, no C function) are read through pgoutput. In a database with
// neither yet: 'ectowatch' where the server has the extension's files,
// pgoutput where it has not (a managed service).
std::string ReplicationStream::choose_plugin() {
  switch (installed_edition()) {
  case Edition::native:
    return kPlugin;
  case Edition::portable:
    return kPgoutput;
  case Edition::none:
    break;
  }
  auto files = connection_.simple_query("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'ectowatch')");
  return files.at(0).at(0) == std::optional<std::string>("t") ? kPlugin : kPgoutput;
}

ReplicationStream::Edition ReplicationStream::installed_edition() {
  auto found = connection_.simple_query("SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                                        "WHERE l.lanname = 'c' AND p.probin LIKE '%ectowatch%'), "
                                        "EXISTS (SELECT FROM pg_proc WHERE proname = 'ectowatch_watch')");
  const auto &row = found.at(0);
  if (row.at(0) == std::optional<std::string>("t"))
    return Edition::native;
  return row.at(1) == std::optional<std::string>("t") ? Edition::portable : Edition::none;
}

// pgoutput would pass the native edition's MAC trailers on as text nobody can
// decode, and the 'ectowatch' plugin leaves the portable edition's unsigned
// messages out (as forged, with only a server WARNING): refused, not misread.
void ReplicationStream::check_plugin_reads_edition(const std::string &slot, const std::string &plugin) {
  Edition edition = installed_edition();
  bool wrong =
      (plugin == kPgoutput && edition == Edition::native) || (plugin == kPlugin && edition == Edition::portable);
  if (!wrong)
    return;
  bool native = edition == Edition::native;
  throw UsageError("replication slot \"" + slot + "\" is of the " + plugin + " plugin, which cannot read the " +
                   (native ? "native" : "portable") + " edition of ectowatch installed in this database (" +
                   (native ? "its messages are signed for ectowatch's own plugin"
                           : "its messages are unsigned, and ectowatch's plugin leaves those out") +
                   "): drop it (SELECT pg_drop_replication_slot('" + slot +
                   "')) and let the client create one for this edition, or choose another slot name");
}

// Makes the server ready to stream messages through pgoutput (its
// publication), and this stream to read them.
void ReplicationStream::use_pgoutput() {
  auto server = connection_.simple_query(
      "SELECT current_setting('server_version_num')::int >= 140000, current_setting('server_encoding')");
  if (server.at(0).at(0) != std::optional<std::string>("t"))
    throw UsageError("durable delivery without ectowatch's output plugin reads messages through pgoutput, which "
                     "carries them from PostgreSQL 14 on: upgrade the server, or install the native edition");
  // pgoutput sends a message's text as stored, in the database encoding (the
  // 'ectowatch' plugin converts it to UTF-8, as messages are).
  if (server.at(0).at(1) != std::optional<std::string>("UTF8"))
    throw UsageError("durable delivery through pgoutput needs a UTF8 database: pgoutput does not convert messages, "
                     "and this database's encoding is " +
                     server.at(0).at(1).value_or("") + "; use notify delivery here, or a UTF8 database");
  std::string name = kPgoutputPublication;
  if (connection_.simple_query("SELECT FROM pg_publication WHERE pubname = " + connection_.quote_literal(name))
          .empty()) {
    try {
      connection_.simple_query("CREATE PUBLICATION " + connection_.quote_identifier(name));
    } catch (const SqlError &error) {
      // duplicate_object, or unique_violation in the catalog: another client
      // created it at the same moment, which is just as good.
      if (error.sqlstate() != "42710" && error.sqlstate() != "23505")
        throw SqlError("cannot create publication \"" + name +
                           "\" (empty: pgoutput needs one to stream messages): " + error.what(),
                       error.sqlstate(),
                       "grant the role CREATE on the database, or have its owner run CREATE PUBLICATION " + name +
                           " once",
                       error.detail());
    }
  }
  pgoutput_.emplace();
}

void ReplicationStream::start(const std::string &slot, std::uint64_t from_lsn) {
  std::string command =
      "START_REPLICATION SLOT " + connection_.quote_identifier(slot) + " LOGICAL " + format_lsn(from_lsn);
  if (pgoutput_) {
    command += std::string(" ") + kPgoutputOptions;
    pgoutput_.emplace(); // the stream begins between transactions
  }
  Result result(PQexec(connection_.raw(), command.c_str()));
  if (!result || PQstatus(connection_.raw()) != CONNECTION_OK)
    connection_.throw_connection_error("connection lost");
  if (PQresultStatus(result.get()) != PGRES_COPY_BOTH)
    throw ConnectionError("cannot read replication slot \"" + slot +
                          "\": " + trimmed(PQresultErrorMessage(result.get())));
  streaming_ = true;
}

std::size_t ReplicationStream::read(const Handler &handler, bool &reply_requested) {
  pg_conn *conn = connection_.raw();
  if (!PQconsumeInput(conn))
    connection_.throw_connection_error("connection lost");
  std::size_t count = 0;
  for (;;) {
    char *raw = nullptr;
    int length = PQgetCopyData(conn, &raw, /*async=*/1);
    if (length == 0)
      return count;
    if (length == -2)
      connection_.throw_connection_error("connection lost");
    if (length == -1) {
      // The server ended the stream (terminated, slot invalidated, shutdown).
      streaming_ = false;
      Result result(PQgetResult(conn));
      std::string why = result ? trimmed(PQresultErrorMessage(result.get())) : "";
      throw ConnectionError("the server ended the replication stream" + (why.empty() ? "" : ": " + why));
    }
    std::unique_ptr<char, FreememDeleter> data(raw);
    ++count;
    if (raw[0] == 'w' && length >= 25) {
      // XLogData: start, end, send time, then one output row (pgoutput: one
      // protocol message, which the reader turns into such rows).
      std::uint64_t lsn = read_u64(raw + 1);
      std::string_view data(raw + 25, static_cast<std::size_t>(length - 25));
      if (pgoutput_)
        pgoutput_->read(lsn, data, handler.message);
      else
        handler.message(lsn, data);
    } else if (raw[0] == 'k' && length >= 18) {
      // Primary keepalive: the server's position, send time, reply requested.
      handler.position(read_u64(raw + 1));
      if (raw[17])
        reply_requested = true;
    }
  }
}

void ReplicationStream::send_status(std::uint64_t received, std::uint64_t confirmed, bool request_reply) {
  char message[34];
  message[0] = 'r';
  write_u64(message + 1, received);
  write_u64(message + 9, confirmed);
  write_u64(message + 17, confirmed);
  write_u64(message + 25, postgres_now());
  message[33] = request_reply ? 1 : 0;
  pg_conn *conn = connection_.raw();
  if (PQputCopyData(conn, message, sizeof message) != 1 || PQflush(conn) != 0)
    connection_.throw_connection_error("connection lost");
}

void ReplicationStream::finish(std::uint64_t received, std::uint64_t confirmed, std::chrono::milliseconds timeout) {
  if (!streaming_)
    return;
  streaming_ = false;
  pg_conn *conn = connection_.raw();
  try {
    send_status(received, confirmed, false);
  } catch (const ConnectionError &) {
    return;
  }
  if (PQputCopyEnd(conn, nullptr) != 1 || PQflush(conn) != 0)
    return;
  // Drain what the server still sends (not confirmed: it comes again next
  // time) until it ends the COPY, then collect the command's result.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    char *raw = nullptr;
    int length = PQgetCopyData(conn, &raw, /*async=*/1);
    if (raw)
      PQfreemem(raw);
    if (length == -1)
      break;
    if (length == -2)
      return;
    if (length == 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return;
      pollfd fd{PQsocket(conn), POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(left.count()));
      if (!PQconsumeInput(conn))
        return;
    }
  }
  while (PGresult *result = PQgetResult(conn))
    PQclear(result);
}

} // namespace ectowatch::detail
