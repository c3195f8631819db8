// Durable delivery: a logical replication slot with the 'ectowatch' output
// plugin, or, where that cannot be loaded, the built-in 'pgoutput'
// (pgoutput_reader.hpp), read over libpq's replication protocol
// (START_REPLICATION ... LOGICAL, COPY BOTH). Each output row is one v1
// message, and an empty row ends a transaction; the server also sends
// keepalives with its current position. Positions are confirmed only when the
// client says so (after the callbacks for them have returned): at-least-once.
// Not thread-safe by itself: Client serialises access with its mutex.
#pragma once

#include "ectowatch/protocol.hpp"
#include "pg_connection.hpp"
#include "pgoutput_reader.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ectowatch::detail {

// Throws UsageError unless `name` is a valid slot name (PostgreSQL's rule:
// lower-case letters, digits, underscores, at most 63 bytes).
void check_slot_name(const std::string &name);

// "0/16B3748" <-> 0x16B3748.
std::string format_lsn(std::uint64_t lsn);

class ReplicationStream {
public:
  // Connects with replication=database; throws ConnectionError (with a hint
  // about the REPLICATION privilege when that is what failed).
  ReplicationStream(const std::string &conninfo, const std::string &application_name, int connect_timeout_seconds);

  struct SlotState {
    bool created = false; // it did not exist: events before now were never recorded
    bool lost = false;    // it had been invalidated (max_slot_wal_keep_size) and was created again
    std::string plugin;   // 'ectowatch' or 'pgoutput'
  };
  // Makes sure `slot` exists in this database, for the 'ectowatch' or the
  // 'pgoutput' plugin, and is not in use; creates it when missing (if
  // `create`), for the plugin the database's edition needs
  // (choose_plugin()). Throws UsageError or SqlError with what to do.
  SlotState prepare_slot(const std::string &slot, bool create);

  // The server's wal_sender_timeout for this connection (0: none), read by
  // prepare_slot(). While the walsender decodes a long transaction that sends
  // nothing, it reads status updates (and answers a request for a reply) only
  // every half of it: a client waits that long for an answer before it takes
  // the connection for dead.
  std::chrono::milliseconds sender_timeout() const { return sender_timeout_; }

  // START_REPLICATION from `from_lsn` (0: where the slot's confirmed position is).
  void start(const std::string &slot, std::uint64_t from_lsn);
  bool streaming() const { return streaming_; }
  int socket() const { return connection_.socket(); }

  struct Handler {
    // One output row: a v1 message written at `lsn`.
    std::function<void(std::uint64_t lsn, std::string_view payload)> message;
    // Everything before `lsn` has been sent (a keepalive).
    std::function<void(std::uint64_t lsn)> position;
  };
  // Reads what the socket has without blocking; returns the number of
  // messages and keepalives seen. Sets `reply_requested` when the server asked
  // for a status update. Throws ConnectionError (or SqlError when the server
  // ended the stream with an error).
  std::size_t read(const Handler &handler, bool &reply_requested);

  // A standby status update: `received` is written, `confirmed` flushed and
  // applied (the slot may forget everything before it).
  void send_status(std::uint64_t received, std::uint64_t confirmed, bool request_reply);

  // Ends the stream cleanly: a last status update, then CopyDone, waiting (at
  // most `timeout`) for the server to end its side. The server has then
  // processed the update, so a consumer that starts next resumes exactly
  // there. Errors are swallowed: unconfirmed events are simply sent again.
  void finish(std::uint64_t received, std::uint64_t confirmed, std::chrono::milliseconds timeout);

private:
  // Which ectowatch this database has: the native one (C functions from its
  // library) or the portable one (PL/pgSQL, e.g. through pg_tle).
  enum class Edition { native, portable, none };
  Edition installed_edition();
  std::string choose_plugin();
  void check_plugin_reads_edition(const std::string &slot, const std::string &plugin);
  void use_pgoutput();

  PgConnection connection_;
  std::chrono::milliseconds sender_timeout_{0};
  bool streaming_ = false;
  std::optional<PgoutputReader> pgoutput_; // set when the slot is pgoutput's
};

} // namespace ectowatch::detail
