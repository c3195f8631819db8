// The relay's shared memory (one entry per relayed database), whether this
// backend can relay, and ectowatch_relay_status().
#include "boundary.hpp"
#include "pg_compat.hpp"
#include "relay.hpp"

namespace ectowatch {

bool relay_all = false;
char *relay_databases = nullptr;

namespace {

bool preloaded = false;
RelayShared *shared = nullptr;
compat::ShmemRequestHook previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

void request_shared_memory() {
  if (previous_request_hook)
    previous_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(RelayShared)));
}

void attach_shared_memory() {
  if (previous_startup_hook)
    previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  shared = static_cast<RelayShared *>(ShmemInitStruct("ectowatch relay", sizeof(RelayShared), &found));
  if (!found) {
    memset(shared, 0, sizeof(RelayShared));
    SpinLockInit(&shared->mutex);
  }
  LWLockRelease(AddinShmemInitLock);
}

// Whether `database` is one of ectowatch.relay_databases (a comma-separated
// list of names, quoted like identifiers when needed).
bool listed(const char *database) {
  if (!relay_databases || !*relay_databases)
    return false;
  char *copy = pstrdup(relay_databases);
  List *names = nullptr;
  bool found = false;
  if (SplitIdentifierString(copy, ',', &names)) {
    ListCell *cell;
    foreach (cell, names)
      found = found || strcmp(static_cast<const char *>(lfirst(cell)), database) == 0;
  }
  list_free(names);
  pfree(copy);
  return found;
}

} // namespace

bool check_relay_databases(char **value, void **, GucSource) {
  char *copy = pstrdup(*value ? *value : "");
  List *names = nullptr;
  bool ok = SplitIdentifierString(copy, ',', &names);
  if (!ok) {
    GUC_check_errdetail("It is not a comma-separated list of database names.");
    GUC_check_errhint("Quote a name like an identifier when it has capitals, spaces or commas: '\"My DB\", app'.");
  } else if (list_length(names) > kMaxRelayDatabases) {
    ok = false;
    GUC_check_errdetail("It lists %d databases; the relay serves at most %d.", list_length(names), kMaxRelayDatabases);
    GUC_check_errhint("List at most %d databases (each also needs a background worker: max_worker_processes).",
                      kMaxRelayDatabases);
  } else {
    ListCell *cell;
    foreach (cell, names) {
      const char *name = static_cast<const char *>(lfirst(cell));
      ListCell *other;
      for_each_cell(other, names, lnext(names, cell)) {
        if (strcmp(name, static_cast<const char *>(lfirst(other))) == 0) {
          ok = false;
          GUC_check_errdetail("It lists database \"%s\" twice.", name);
          break;
        }
      }
      if (!ok)
        break;
    }
  }
  list_free(names);
  pfree(copy);
  return ok;
}
RelayShared *relay_shared() { return shared; }

namespace {

// The name of this backend's database, looked up once (needs a transaction).
const char *my_database_name() {
  static char *name = nullptr;
  if (!name) {
    const char *found = get_database_name(MyDatabaseId);
    if (found)
      name = MemoryContextStrdup(TopMemoryContext, found);
  }
  return name;
}

// Whether this database's relay slot exists, is consistent (built its
// initial snapshot: every transaction committing from now on is decoded) and
// is not invalidated.
bool slot_is_ready(const char *slot_name) {
  bool ready = false;
  LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
  ReplicationSlot *slot = SearchNamedReplicationSlot(slot_name, false);
  if (slot) {
    SpinLockAcquire(&slot->mutex);
    // From 16 on, only a slot invalidated for removed WAL loses restart_lsn.
    ready = slot->data.persistency == RS_PERSISTENT && !XLogRecPtrIsInvalid(slot->data.confirmed_flush) &&
            !XLogRecPtrIsInvalid(slot->data.restart_lsn) && !compat::slot_invalidated(slot);
    SpinLockRelease(&slot->mutex);
  }
  LWLockRelease(ReplicationSlotControlLock);
  return ready;
}

} // namespace

const char *relay_unavailable_reason(bool *starting) {
  if (starting)
    *starting = false;
  if (!preloaded)
    return "ectowatch is not in shared_preload_libraries, so no relay worker runs";
  if (!XLogLogicalInfoActive())
    return "wal_level is not logical";
  // Whether this backend's ectowatch.relay_databases lists the database only
  // changes with its value: cached per value.
  static char *cached_for = nullptr;
  static bool cached_listed = false;
  const char *now = relay_databases ? relay_databases : "";
  const char *database = my_database_name();
  if (!cached_for || strcmp(cached_for, now) != 0) {
    cached_listed = database && listed(database);
    if (cached_for)
      pfree(cached_for);
    cached_for = MemoryContextStrdup(TopMemoryContext, now);
  }
  // The launcher's entries: it may have read a new list before or after
  // this backend did.
  static char why[400];
  bool found = false, ready = false, stale = false;
  Latch *launcher = nullptr;
  SpinLockAcquire(&shared->mutex);
  for (RelayEntry &entry : shared->entries) {
    if (database && entry.database[0] && strcmp(entry.database, database) == 0) {
      found = true;
      ready = entry.slot_ready;
      strlcpy(why, entry.reason, sizeof why);
      // The worker failed before this session began, with no worker since:
      // perhaps because this database did not exist yet (created after it
      // was listed). It does now, so the reason may be stale: ask again.
      stale = entry.reason[0] && entry.pid == 0 && entry.last_error_at != 0 && entry.last_error_at < MyStartTimestamp;
      if (stale) {
        entry.retry_now = true;
        launcher = shared->launcher_latch;
      }
      break;
    }
  }
  SpinLockRelease(&shared->mutex);
  if (launcher)
    SetLatch(launcher);
  if (stale && starting)
    *starting = true; // relay_unavailable_wait() waits for the new attempt
  if (!found && !cached_listed)
    return "this database is not in ectowatch.relay_databases";
  if (!found) {
    if (starting)
      *starting = true;
    return "the relay launcher has not started a worker for this database yet";
  }
  if (why[0]) {
    char reason[256];
    strlcpy(reason, why, sizeof reason);
    snprintf(why, sizeof why, "the relay worker of this database cannot run: %s", reason);
    return why;
  }
  if (ready)
    return nullptr;
  // Not known ready: after a server start the worker may not have looked
  // yet, so look at the slot itself. Once it is relied on, a slot that goes
  // missing means a resync (relay_worker.cpp).
  char slot_name[NAMEDATALEN];
  snprintf(slot_name, sizeof slot_name, "ectowatch_relay_%u", MyDatabaseId);
  if (slot_is_ready(slot_name)) {
    SpinLockAcquire(&shared->mutex);
    for (RelayEntry &entry : shared->entries)
      if (strcmp(entry.database, database) == 0)
        entry.slot_ready = true;
    SpinLockRelease(&shared->mutex);
    return nullptr;
  }
  if (starting)
    *starting = true;
  return "the relay worker has not created its replication slot yet";
}

void relay_wake_worker() {
  if (!shared)
    return;
  Latch *latch = nullptr;
  SpinLockAcquire(&shared->mutex);
  for (const RelayEntry &entry : shared->entries)
    if (entry.database_id == MyDatabaseId && entry.pid != 0)
      latch = entry.latch;
  SpinLockRelease(&shared->mutex);
  if (latch)
    SetLatch(latch);
}

void relay_register_at_preload() {
  preloaded = true;
  previous_request_hook = compat::install_shmem_request_hook(request_shared_memory);
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = attach_shared_memory;

  BackgroundWorker launcher;
  memset(&launcher, 0, sizeof launcher);
  snprintf(launcher.bgw_name, BGW_MAXLEN, "ectowatch relay launcher");
  snprintf(launcher.bgw_type, BGW_MAXLEN, "ectowatch relay launcher");
  launcher.bgw_flags = BGWORKER_SHMEM_ACCESS;
  launcher.bgw_start_time = BgWorkerStart_RecoveryFinished;
  launcher.bgw_restart_time = 5;
  snprintf(launcher.bgw_library_name, BGW_MAXLEN, "ectowatch");
  snprintf(launcher.bgw_function_name, BGW_MAXLEN, "ectowatch_relay_launcher");
  RegisterBackgroundWorker(&launcher);
}

} // namespace ectowatch

namespace ectowatch {
Datum relay_workers(FunctionCallInfo fcinfo);

// How long ectowatch_relay_unavailable() waits for a starting worker: a
// worker starts and creates its slot in well under a second, unless long
// transactions hold up the slot's initial snapshot.
constexpr int kStartWaitSeconds = 5;

const char *relay_unavailable_wait() {
  bool starting = false;
  const char *reason = relay_unavailable_reason(&starting);
  for (int waited_ms = 0; reason && starting && waited_ms < kStartWaitSeconds * 1000; waited_ms += 100) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    reason = relay_unavailable_reason(&starting);
  }
  if (reason && starting) {
    static char why[400];
    snprintf(why, sizeof why, "%s (waited %d s)", reason, kStartWaitSeconds);
    return why;
  }
  return reason;
}
} // namespace ectowatch

extern "C" {

PG_FUNCTION_INFO_V1(ectowatch_relay_unavailable);
PG_FUNCTION_INFO_V1(ectowatch_relay_workers);

// Why this backend's relayed messages would not be relayed, or NULL. While
// the worker is starting (creating its slot), waits for it up to
// kStartWaitSeconds, so `reload, then watch` works as one sequence.
Datum ectowatch_relay_unavailable(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo]() -> Datum {
    const char *reason = ectowatch::relay_unavailable_wait();
    if (!reason)
      PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(reason));
  });
}

// One row per relayed database: what the workers report in shared memory
// (the view ectowatch_relay_status adds the slot's position).
Datum ectowatch_relay_workers(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo] { return ectowatch::relay_workers(fcinfo); });
}
}

namespace ectowatch {

Datum relay_workers(FunctionCallInfo fcinfo) {
  ReturnSetInfo *result_info = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  compat::init_materialized_srf(fcinfo);
  RelayShared *shared = relay_shared();
  if (!shared)
    return (Datum)0;
  for (int i = 0; i < kMaxRelayDatabases; ++i) {
    RelayEntry entry;
    SpinLockAcquire(&shared->mutex);
    entry = shared->entries[i];
    SpinLockRelease(&shared->mutex);
    if (!entry.database[0])
      continue;
    // Served, on its way, or not served and why.
    const char *state = entry.reason[0] ? "not served" : entry.pid != 0 && entry.slot_ready ? "running" : "starting";
    Datum values[10];
    bool nulls[10] = {false, false, false, false, false, false, false, false, false, false};
    values[0] = CStringGetTextDatum(entry.database);
    values[1] = CStringGetTextDatum(entry.slot_name);
    nulls[1] = entry.slot_name[0] == '\0'; // known once the worker connected
    values[2] = Int32GetDatum(entry.pid);
    nulls[2] = entry.pid == 0;
    values[3] = LSNGetDatum(entry.confirmed_lsn);
    nulls[3] = entry.confirmed_lsn == InvalidXLogRecPtr;
    values[4] = Int64GetDatum(static_cast<int64>(entry.messages_relayed));
    values[5] = Int64GetDatum(static_cast<int64>(entry.notifications_sent));
    values[6] = CStringGetTextDatum(entry.last_error);
    nulls[6] = entry.last_error[0] == '\0';
    values[7] = TimestampTzGetDatum(entry.last_error_at);
    nulls[7] = entry.last_error_at == 0;
    values[8] = CStringGetTextDatum(state);
    values[9] = CStringGetTextDatum(entry.reason);
    nulls[9] = entry.reason[0] == '\0';
    // Only as many columns as the SQL declaration has: an older one (before
    // ALTER EXTENSION UPDATE) has the first eight.
    Assert(result_info->setDesc->natts <= 10);
    tuplestore_putvalues(result_info->setResult, result_info->setDesc, values, nulls);
  }
  return (Datum)0;
}

} // namespace ectowatch
