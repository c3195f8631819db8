// The relay's shared memory (one entry per relayed database), whether this
// backend can relay, and ectowatch_relay_status().
#include "boundary.hpp"
#include "pg_compat.hpp"
#include "relay.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/varlena.h"
}

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

bool relay_preloaded() { return preloaded; }
RelayShared *relay_shared() { return shared; }

const char *relay_unavailable_reason() {
  if (!preloaded)
    return "ectowatch is not in shared_preload_libraries, so no relay worker runs";
  if (!XLogLogicalInfoActive())
    return "wal_level is not logical";
  // The answer only changes with ectowatch.relay_databases: cached per value.
  static char *cached_for = nullptr;
  static bool cached_listed = false;
  const char *now = relay_databases ? relay_databases : "";
  if (!cached_for || strcmp(cached_for, now) != 0) {
    const char *database = get_database_name(MyDatabaseId);
    cached_listed = database && listed(database);
    if (cached_for)
      pfree(cached_for);
    cached_for = MemoryContextStrdup(TopMemoryContext, now);
  }
  if (!cached_listed)
    return "this database is not in ectowatch.relay_databases";
  return nullptr;
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
}

extern "C" {

PG_FUNCTION_INFO_V1(ectowatch_relay_unavailable);
PG_FUNCTION_INFO_V1(ectowatch_relay_workers);

// Why this backend's relayed messages would not be relayed, or NULL.
Datum ectowatch_relay_unavailable(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo]() -> Datum {
    const char *reason = ectowatch::relay_unavailable_reason();
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
    Datum values[8];
    bool nulls[8] = {false, false, false, false, false, false, false, false};
    values[0] = CStringGetTextDatum(entry.database);
    values[1] = CStringGetTextDatum(entry.slot_name);
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
    tuplestore_putvalues(result_info->setResult, result_info->setDesc, values, nulls);
  }
  return (Datum)0;
}

} // namespace ectowatch
