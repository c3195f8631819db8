// Relayed delivery (delivery => 'relay', or ectowatch.relay = on for 'notify'
// watchers): the trigger writes its message to the WAL, like a durable
// watcher, so the user's commit takes no NOTIFY lock; a background worker per
// database (relay_worker.cpp) decodes those messages from its own slot and
// sends them with NOTIFY, many source transactions per relay transaction.
//
// This header: the settings, whether the relay can run for this backend, and
// the state the workers share (shown by ectowatch_relay_status()).
#pragma once

#include "ectowatch/protocol.hpp"
#include "postgres_api.hpp"

namespace ectowatch {

// Logical message prefix of relayed messages; the output plugin streams them
// only when asked to (option relay 'on'), so durable slots never see them.
constexpr const char *kRelayMessagePrefix = protocol::kRelayMessagePrefix;

// ectowatch.relay: relay every 'notify' watcher (reloadable).
extern bool relay_all;
// ectowatch.relay_databases: the databases that get a relay worker.
extern char *relay_databases;

// The check hook of ectowatch.relay_databases: a list of at most
// kMaxRelayDatabases distinct names, so every listed database can be served.
bool check_relay_databases(char **value, void **extra, GucSource source);

// Why messages of this backend cannot be relayed now (a sentence for an error
// or a warning), or nullptr when they can: the database is listed, its worker
// can run, and its slot exists and is consistent (a message committed from
// now on will be decoded). `*starting` (if given) says the reason may go away
// by itself soon (the worker is starting or creating its slot).
const char *relay_unavailable_reason(bool *starting = nullptr);
// Wakes this database's relay worker (after a commit that wrote relayed messages).
void relay_wake_worker();

// Called from _PG_init while shared_preload_libraries are loaded.
void relay_register_at_preload();

// --- shared state (relay_shared.cpp) ------------------------------------------
// The most databases ectowatch.relay_databases may list (its check hook
// refuses more): one shared entry, and one background worker, each.
constexpr int kMaxRelayDatabases = 16;

struct RelayEntry {
  char database[NAMEDATALEN]; // as listed in ectowatch.relay_databases; "" = unused
  Oid database_id;            // set by the worker once connected
  char slot_name[NAMEDATALEN];
  int pid;      // the worker, 0 when not running
  Latch *latch; // the worker's latch, for relay_wake_worker()
  XLogRecPtr confirmed_lsn;
  uint64 messages_relayed;
  uint64 notifications_sent;
  int failures; // consecutive worker failures, for the launcher's backoff
  char last_error[256];
  TimestampTz last_error_at;
  // Why this database is not served ("" while it is, or may soon be): no
  // free worker slot, the worker cannot connect, or cannot create its slot.
  // Relayed delivery is refused (and ectowatch.relay = on falls back to
  // direct NOTIFY) while it is set.
  char reason[256];
  // The slot exists and was relied on: some backend may have written
  // relayed messages for it. If the worker then finds it missing (dropped)
  // or lost, messages may be gone, and it sends a resync.
  bool slot_ready;
  // A backend of this database found a reason older than its own session:
  // the database exists now, so the launcher starts the worker at once
  // instead of after its backoff (reconcile clears it).
  bool retry_now;
};

struct RelayShared {
  slock_t mutex; // guards every entry
  RelayEntry entries[kMaxRelayDatabases];
  Latch *launcher_latch; // the launcher's, to wake it for retry_now; null before it ran
};

// Null unless preloaded.
RelayShared *relay_shared();

} // namespace ectowatch
