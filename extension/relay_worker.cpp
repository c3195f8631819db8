// The relay's background workers.
//
// The launcher (registered at preload) keeps one relay worker running per
// database in ectowatch.relay_databases, restarting a failed one with a
// doubling backoff (1 s .. 60 s). A relay worker owns the logical slot
// "ectowatch_relay_<database oid>" (plugin 'ectowatch', option relay 'on'),
// decodes committed relayed messages in commit order, and sends everything it
// decoded in one round with NOTIFY in one transaction of its own: many source
// transactions per NOTIFY commit. Each notification gets a top-level "lsn"
// (docs/protocol.md), so PostgreSQL's collapsing of identical payloads in one
// transaction never swallows one. The slot is confirmed only after that
// transaction committed: after a crash some messages are relayed twice.
//
// Plain C data only in this file (no C++ objects with destructors), so
// PostgreSQL errors may unwind through it: an ERROR ends the worker (recorded
// in ectowatch_relay_status.last_error) and the launcher starts it again. The
// one exception, repack_batch(), keeps its C++ objects behind the boundary.
#include "boundary.hpp"
#include "pg_compat.hpp"
#include "relay.hpp"
#include "relay_packer.hpp"

namespace ectowatch {

namespace {

// --- the launcher ---------------------------------------------------------------

struct LaunchedWorker {
  BackgroundWorkerHandle *handle;
  TimestampTz next_start;
};

void start_worker(RelayShared *shared, int index, LaunchedWorker *launched) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof worker);
  snprintf(worker.bgw_name, BGW_MAXLEN, "ectowatch relay for %s", shared->entries[index].database);
  snprintf(worker.bgw_type, BGW_MAXLEN, "ectowatch relay");
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART; // the launcher restarts it, with backoff
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "ectowatch");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "ectowatch_relay_worker");
  worker.bgw_main_arg = Int32GetDatum(index);
  worker.bgw_notify_pid = MyProcPid;
  bool started = RegisterDynamicBackgroundWorker(&worker, &launched->handle);
  constexpr const char *kNoSlot = "no free background worker slot";
  char reason[256] = "";
  if (!started) {
    launched->handle = nullptr;
    snprintf(reason, sizeof reason, "%s (max_worker_processes = %d)", kNoSlot, max_worker_processes);
  }
  // Tried again at every pass; said once. A reason the worker gave (it could
  // not connect, or create its slot) stays until a worker has its slot.
  SpinLockAcquire(&shared->mutex);
  RelayEntry *entry = &shared->entries[index];
  bool news = !started && strcmp(entry->reason, reason) != 0;
  if (news || (started && strncmp(entry->reason, kNoSlot, strlen(kNoSlot)) == 0))
    strlcpy(entry->reason, reason, sizeof entry->reason);
  SpinLockRelease(&shared->mutex);
  if (news)
    ereport(WARNING, (errmsg("ectowatch: cannot start the relay worker for database \"%s\": %s",
                             shared->entries[index].database, reason),
                      errdetail("Relayed delivery is refused in that database until a worker runs for it."),
                      errhint("Raise max_worker_processes (restart), or list fewer databases in "
                              "ectowatch.relay_databases.")));
}

// One pass: the entries follow ectowatch.relay_databases; a worker that
// stopped is started again when its backoff has passed.
void reconcile(RelayShared *shared, LaunchedWorker *launched) {
  char *copy = pstrdup(relay_databases ? relay_databases : "");
  List *names = nullptr;
  if (!SplitIdentifierString(copy, ',', &names)) {
    ereport(LOG,
            (errmsg("ectowatch: ectowatch.relay_databases is not a list of database names: \"%s\"", relay_databases)));
    names = nullptr;
  }
  TimestampTz now = GetCurrentTimestamp();
  for (int i = 0; i < kMaxRelayDatabases; ++i) {
    const char *wanted = i < list_length(names) ? static_cast<const char *>(list_nth(names, i)) : "";
    RelayEntry *entry = &shared->entries[i];
    pid_t pid = 0;
    BgwHandleStatus status = launched[i].handle ? GetBackgroundWorkerPid(launched[i].handle, &pid) : BGWH_STOPPED;
    if (strcmp(entry->database, wanted) != 0) {
      // The list changed: this slot of the list now names another database.
      if (launched[i].handle)
        TerminateBackgroundWorker(launched[i].handle);
      launched[i] = LaunchedWorker{nullptr, 0};
      SpinLockAcquire(&shared->mutex);
      memset(entry, 0, sizeof *entry);
      strlcpy(entry->database, wanted, NAMEDATALEN);
      SpinLockRelease(&shared->mutex);
      continue;
    }
    if (!wanted[0] || status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED)
      continue;
    SpinLockAcquire(&shared->mutex);
    bool retry_now = entry->retry_now;
    entry->retry_now = false;
    SpinLockRelease(&shared->mutex);
    if (launched[i].handle) {
      // It stopped: wait 1 s, 2 s, 4 s ... 60 s after consecutive failures.
      launched[i].handle = nullptr;
      SpinLockAcquire(&shared->mutex);
      int failures = ++entry->failures;
      entry->pid = 0;
      SpinLockRelease(&shared->mutex);
      long delay_ms = Min(60'000L, 1000L << Min(failures - 1, 6));
      launched[i].next_start = TimestampTzPlusMilliseconds(now, delay_ms);
    }
    // A database that does not exist (yet) makes the worker fail at once;
    // the backoff keeps that to one log line a minute, unless a backend of
    // that database asked (relay_unavailable_reason: it exists now).
    if (retry_now)
      launched[i].next_start = now;
    if (now < launched[i].next_start)
      continue;
    start_worker(shared, i, &launched[i]);
  }
  list_free(names);
  pfree(copy);
}

// --- a relay worker ---------------------------------------------------------------

// What one round decoded: messages in commit order, kept until relayed.
struct Batch {
  MemoryContext context;
  char **payloads;
  XLogRecPtr *positions;
  TransactionId *transactions; // relay_packer.hpp merges only within one
  int count;
  int capacity;
  Size bytes;
};
Batch batch;

void prepare_write(LogicalDecodingContext *context, XLogRecPtr, TransactionId, bool) { resetStringInfo(context->out); }

// An output row of the plugin: a message, or the empty row ending a transaction.
void collect_write(LogicalDecodingContext *context, XLogRecPtr position, TransactionId xid, bool) {
  if (context->out->len == 0)
    return;
  MemoryContext old = MemoryContextSwitchTo(batch.context);
  if (batch.count == batch.capacity) {
    batch.capacity = batch.capacity ? batch.capacity * 2 : 256;
    batch.payloads = static_cast<char **>(batch.payloads ? repalloc(batch.payloads, sizeof(char *) * batch.capacity)
                                                         : palloc(sizeof(char *) * batch.capacity));
    batch.positions =
        static_cast<XLogRecPtr *>(batch.positions ? repalloc(batch.positions, sizeof(XLogRecPtr) * batch.capacity)
                                                  : palloc(sizeof(XLogRecPtr) * batch.capacity));
    batch.transactions = static_cast<TransactionId *>(
        batch.transactions ? repalloc(batch.transactions, sizeof(TransactionId) * batch.capacity)
                           : palloc(sizeof(TransactionId) * batch.capacity));
  }
  batch.payloads[batch.count] = pnstrdup(context->out->data, context->out->len);
  batch.positions[batch.count] = position;
  batch.transactions[batch.count] = xid;
  ++batch.count;
  batch.bytes += context->out->len;
  MemoryContextSwitchTo(old);
}

// The notifications of one round, in plain memory of the batch context.
struct Outgoing {
  int count;
  char **channels;
  char **payloads;
};

// Repacks the batch (relay_packer.hpp). The C++ objects live only inside this
// function, behind the boundary; what leaves it is palloc'd.
Outgoing repack_batch() {
  Outgoing out{0, nullptr, nullptr};
  guarded_callback([&] {
    std::vector<RelayedMessage> messages;
    messages.reserve(static_cast<std::size_t>(batch.count));
    for (int i = 0; i < batch.count; ++i)
      messages.push_back({batch.payloads[i], batch.positions[i], batch.transactions[i]});
    std::vector<std::string_view> skipped;
    std::vector<Notification> notifications = repack_for_relay(messages, &skipped);
    call_postgres([&] {
      MemoryContext old = MemoryContextSwitchTo(batch.context);
      out.channels = static_cast<char **>(palloc(sizeof(char *) * (notifications.size() + 1)));
      out.payloads = static_cast<char **>(palloc(sizeof(char *) * (notifications.size() + 1)));
      for (const Notification &notification : notifications) {
        out.channels[out.count] = pnstrdup(notification.channel.data(), notification.channel.size());
        out.payloads[out.count] = pnstrdup(notification.payload.data(), notification.payload.size());
        ++out.count;
      }
      MemoryContextSwitchTo(old);
      for (std::string_view message : skipped)
        ereport(LOG, (errmsg("ectowatch relay: skipped a message that is not a v1 message: %.*s",
                             static_cast<int>(std::min<std::size_t>(message.size(), 100)), message.data())));
    });
  });
  return out;
}

// Holding a logical slot marks this process PROC_IN_LOGICAL_DECODING, and
// GetSnapshotData() leaves such a process's xid out of every other backend's
// snapshot. A listener that reads the notification queue between our
// PreCommit_Notify (entries queued) and our clog commit would then find our
// xid neither running nor committed, take the transaction for aborted and
// skip its notifications for good (issue 14, case 8). So the NOTIFY
// transaction runs with the flag cleared, as ReplicationSlotRelease() would
// clear it, and decoding goes on with it set again, as ReplicationSlotAcquire()
// sets it; the slot stays ours throughout.
void set_logical_decoding_flag(bool decoding) {
  LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
  if (decoding)
    MyProc->statusFlags |= PROC_IN_LOGICAL_DECODING;
  else
    MyProc->statusFlags &= ~PROC_IN_LOGICAL_DECODING;
  ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
  LWLockRelease(ProcArrayLock);
}

// Sends the batch with NOTIFY in one transaction; returns notifications sent.
int relay_batch() {
  Outgoing out = repack_batch();
  set_logical_decoding_flag(false); // before the xid is assigned (PreCommit_Notify)
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  pgstat_report_activity(STATE_RUNNING, "relaying ectowatch messages");
  for (int i = 0; i < out.count; ++i)
    Async_Notify(out.channels[i], out.payloads[i]);
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
  set_logical_decoding_flag(true);
  return out.count;
}

void reset_batch() {
  MemoryContextReset(batch.context);
  batch.payloads = nullptr;
  batch.positions = nullptr;
  batch.transactions = nullptr;
  batch.count = batch.capacity = 0;
  batch.bytes = 0;
}

// Runs one SQL statement with a text argument in a transaction of its own.
void run_sql(const char *statement, const char *argument) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  Datum value = CStringGetTextDatum(argument);
  Oid type = TEXTOID;
  int result = SPI_execute_with_args(statement, 1, &type, &value, nullptr, false, 0);
  if (result < 0)
    elog(ERROR, "ectowatch relay: \"%s\" failed: %s", statement, SPI_result_code_string(result));
  PopActiveSnapshot();
  SPI_finish();
  CommitTransactionCommand();
}

// Whether the slot exists but was invalidated (for example it kept more WAL than
// max_slot_wal_keep_size allows): it can never be read again.
bool slot_lost(const char *slot_name) {
  bool lost = false;
  LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
  ReplicationSlot *slot = SearchNamedReplicationSlot(slot_name, false);
  if (slot) {
    SpinLockAcquire(&slot->mutex);
    lost = compat::slot_invalidated(slot);
    SpinLockRelease(&slot->mutex);
  }
  LWLockRelease(ReplicationSlotControlLock);
  return lost;
}

// What the worker is doing, for the reason it gives if that fails.
const char *doing = nullptr;

// The slot exists and is consistent when this returns. Clients get a resync
// when messages may have been lost: the slot was invalidated, or it was
// relied on (RelayEntry::slot_ready) and is gone. The resync is sent after
// the new slot is consistent, so a message it could not decode was committed
// before the resync.
void ensure_slot(RelayEntry *entry, const char *slot_name) {
  RelayShared *shared = relay_shared();
  SpinLockAcquire(&shared->mutex);
  bool relied_on = entry->slot_ready;
  SpinLockRelease(&shared->mutex);
  const char *resync = nullptr;
  if (slot_lost(slot_name)) {
    ereport(WARNING, (errmsg("ectowatch relay: replication slot \"%s\" was invalidated; creating it again", slot_name),
                      errdetail("Messages written while the relay was too far behind are lost; listeners get a "
                                "resync on channel ectowatch_resync."),
                      errhint("Raise max_slot_wal_keep_size, or keep the relay worker running.")));
    SpinLockAcquire(&shared->mutex);
    entry->slot_ready = false; // backends fall back to direct NOTIFY meanwhile
    SpinLockRelease(&shared->mutex);
    run_sql("SELECT pg_drop_replication_slot($1)", slot_name);
    resync = "relay slot lost";
  } else if (!SearchNamedReplicationSlot(slot_name, true) && relied_on) {
    ereport(WARNING, (errmsg("ectowatch relay: replication slot \"%s\" was dropped; creating it again", slot_name),
                      errdetail("Messages written while it did not exist are lost; listeners get a resync on "
                                "channel ectowatch_resync."),
                      errhint("Do not drop the relay's slot; remove the database from ectowatch.relay_databases.")));
    SpinLockAcquire(&shared->mutex);
    entry->slot_ready = false;
    SpinLockRelease(&shared->mutex);
    resync = "relay slot dropped";
  }
  if (!SearchNamedReplicationSlot(slot_name, true)) {
    // Through SQL: it builds the initial snapshot (waiting for transactions
    // that have an xid) exactly as pg_create_logical_replication_slot does.
    doing = "cannot create its replication slot";
    run_sql("SELECT pg_create_logical_replication_slot($1, 'ectowatch')", slot_name);
    doing = nullptr;
    ereport(LOG, (errmsg("ectowatch relay: created replication slot \"%s\"", slot_name)));
  }
  if (resync) {
    // Every client LISTENs on ectowatch_resync (Resync::Reason::relay_lost).
    char statement[256];
    snprintf(statement, sizeof statement, "SELECT pg_notify('%s', '{\"reason\":\"%s\",\"slot\":\"' || $1 || '\"}')",
             protocol::kResyncChannel, resync);
    run_sql(statement, slot_name);
  }
  SpinLockAcquire(&shared->mutex);
  entry->slot_ready = true;
  entry->reason[0] = '\0'; // served
  SpinLockRelease(&shared->mutex);
}

void record_confirmed(RelayEntry *entry, XLogRecPtr confirmed, int messages, int notifications) {
  RelayShared *shared = relay_shared();
  SpinLockAcquire(&shared->mutex);
  entry->confirmed_lsn = confirmed;
  entry->messages_relayed += static_cast<uint64>(messages);
  entry->notifications_sent += static_cast<uint64>(notifications);
  entry->failures = 0;
  SpinLockRelease(&shared->mutex);
}

[[noreturn]] void relay_loop(RelayEntry *entry, const char *slot_name) {
  ensure_slot(entry, slot_name);
  compat::acquire_replication_slot(slot_name, true);

  batch.context = AllocSetContextCreate(TopMemoryContext, "ectowatch relay batch", ALLOCSET_DEFAULT_SIZES);
  MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
  List *options = list_make1(makeDefElem(pstrdup("relay"), reinterpret_cast<Node *>(makeString(pstrdup("on"))), -1));
  static XLogReaderRoutine reader_routine = {read_local_xlog_page, wal_segment_open, wal_segment_close};
  LogicalDecodingContext *context =
      CreateDecodingContext(InvalidXLogRecPtr, options, false, &reader_routine, prepare_write, collect_write, nullptr);
  MemoryContextSwitchTo(old);
  XLogBeginRead(context->reader, MyReplicationSlot->data.restart_lsn);
  ResourceOwner owner = CurrentResourceOwner;

  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    // Decode what is flushed, in bounded rounds so a huge backlog is relayed
    // (and confirmed) piece by piece.
    XLogRecPtr flushed = compat::flushed_wal_position();
    bool progressed = false;
    while (context->reader->EndRecPtr < flushed && batch.bytes < 4 * 1024 * 1024) {
      char *error = nullptr;
      XLogRecord *record = XLogReadRecord(context->reader, &error);
      if (error)
        elog(ERROR, "ectowatch relay: cannot read WAL: %s", error);
      if (record)
        LogicalDecodingProcessRecord(context, context->reader);
      // Decoding runs catalog lookups in transactions of its own.
      CurrentResourceOwner = owner;
      progressed = true;
      CHECK_FOR_INTERRUPTS();
    }
    int messages = batch.count;
    int notifications = messages > 0 ? relay_batch() : 0;
    reset_batch();
    if (progressed) {
      // Everything decoded up to here has been relayed: confirm it.
      LogicalConfirmReceivedLocation(context->reader->EndRecPtr);
      ReplicationSlotMarkDirty();
      record_confirmed(entry, context->reader->EndRecPtr, messages, notifications);
    }
    if (context->reader->EndRecPtr >= compat::flushed_wal_position()) {
      // Writers set the latch after committing relayed messages; the timeout
      // catches commits whose WAL was flushed later (synchronous_commit = off).
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    }
  }
}

} // namespace

// The entry of a worker that is connecting, for keep_startup_error().
RelayEntry *startup_entry = nullptr;
emit_log_hook_type previous_emit_log_hook = nullptr;

void keep_startup_error(ErrorData *error) {
  if (previous_emit_log_hook)
    previous_emit_log_hook(error);
  if (error->elevel < ERROR || !startup_entry)
    return;
  RelayShared *shared = relay_shared();
  TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&shared->mutex);
  snprintf(startup_entry->reason, sizeof startup_entry->reason, "cannot connect: %s",
           error->message ? error->message : "unknown error");
  strlcpy(startup_entry->last_error, startup_entry->reason, sizeof startup_entry->last_error);
  startup_entry->last_error_at = now;
  SpinLockRelease(&shared->mutex);
}

} // namespace ectowatch

extern "C" {

PGDLLEXPORT void ectowatch_relay_launcher(Datum);
PGDLLEXPORT void ectowatch_relay_worker(Datum);

void ectowatch_relay_launcher(Datum) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  ectowatch::RelayShared *shared = ectowatch::relay_shared();
  static ectowatch::LaunchedWorker launched[ectowatch::kMaxRelayDatabases];
  SpinLockAcquire(&shared->mutex);
  shared->launcher_latch = MyLatch;
  SpinLockRelease(&shared->mutex);
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    ectowatch::reconcile(shared, launched);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

void ectowatch_relay_worker(Datum argument) {
  int index = DatumGetInt32(argument);
  ectowatch::RelayShared *shared = ectowatch::relay_shared();
  ectowatch::RelayEntry *entry = &shared->entries[index];
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();

  char database[NAMEDATALEN];
  SpinLockAcquire(&shared->mutex);
  strlcpy(database, entry->database, NAMEDATALEN);
  SpinLockRelease(&shared->mutex);
  // A worker that cannot connect (the database does not exist, or takes no
  // connections) ends with a FATAL: keep its message as the reason.
  ectowatch::startup_entry = entry;
  ectowatch::previous_emit_log_hook = emit_log_hook;
  emit_log_hook = ectowatch::keep_startup_error;
  BackgroundWorkerInitializeConnection(database, nullptr, 0);
  emit_log_hook = ectowatch::previous_emit_log_hook;
  CurrentResourceOwner = ResourceOwnerCreate(nullptr, "ectowatch relay");

  char slot_name[NAMEDATALEN];
  snprintf(slot_name, NAMEDATALEN, "ectowatch_relay_%u", MyDatabaseId);
  SpinLockAcquire(&shared->mutex);
  entry->database_id = MyDatabaseId;
  strlcpy(entry->slot_name, slot_name, NAMEDATALEN);
  entry->pid = MyProcPid;
  entry->latch = MyLatch;
  SpinLockRelease(&shared->mutex);
  ereport(LOG, (errmsg("ectowatch relay: relaying for database \"%s\" from slot \"%s\"", database, slot_name)));

  // Raw PG_TRY, not call_postgres: the ERROR must end the worker unchanged
  // (PG_RE_THROW keeps its SQLSTATE, message and context for the log), and
  // relay_loop keeps only plain C data on its stack (its one C++ part,
  // repack_batch, is behind the boundary), so nothing needs C++ unwinding.
  PG_TRY();
  { ectowatch::relay_loop(entry, slot_name); }
  PG_CATCH();
  {
    // Keep the reason for ectowatch_relay_status, then end the worker (the
    // ERROR becomes FATAL here); the launcher starts it again.
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    TimestampTz now = GetCurrentTimestamp();
    const char *message = error->message ? error->message : "unknown error";
    SpinLockAcquire(&shared->mutex);
    strlcpy(entry->last_error, message, sizeof entry->last_error);
    entry->last_error_at = now;
    if (ectowatch::doing) // it cannot run: relayed delivery is refused until it can
      snprintf(entry->reason, sizeof entry->reason, "%s: %s", ectowatch::doing, message);
    entry->latch = nullptr;
    SpinLockRelease(&shared->mutex);
    PG_RE_THROW();
  }
  PG_END_TRY();
}
}
