// The one place that knows which PostgreSQL major version ectowatch is built
// against: every PG_VERSION_NUM conditional of the extension is in this file
// (model: Citus's pg_version_compat.h). The rest of the extension calls the
// small functions below and reads the same on every supported version.
//
// Supported: 14 to 19 (19 at its release candidate). 15, 17, 18 and 19 are
// built and tested on every CI run (scripts/test-versions); the 14 and 16 branches are written
// from the PostgreSQL sources and release notes and are checked at compile
// time where a static_assert can check them (README.md, "PostgreSQL versions").
//
// Each function says what changed, in which version, and why the choice made
// for the older or newer API keeps ectowatch's behaviour the same.
#pragma once

#include "postgres_api.hpp"

#include <type_traits>

#if PG_VERSION_NUM < 140000
// The Makefile says this in one line before compiling anything; this is the
// backstop for builds that bypass it. 14 is the first version with CREATE OR
// REPLACE TRIGGER (the SQL scripts), raw_parser(..., RAW_PARSE_DEFAULT) and
// SelectStmt::groupDistinct (condition_check.cpp).
#error "ectowatch needs PostgreSQL 14 or later"
#endif

namespace ectowatch::compat {

// --- WAL ----------------------------------------------------------------------

// Writes a logical decoding message to the WAL (durable and relayed delivery).
// 17 added a fifth argument, `flush`: whether to flush the WAL at once. Our
// messages are transactional, so they reach disk with their commit record;
// false is what 14-16 always did.
inline XLogRecPtr log_logical_message(const char *prefix, const char *message, size_t size, bool transactional) {
#if PG_VERSION_NUM >= 170000
  static_assert(
      std::is_same_v<decltype(&LogLogicalMessage), XLogRecPtr (*)(const char *, const char *, size_t, bool, bool)>);
  return LogLogicalMessage(prefix, message, size, transactional, false);
#else
  static_assert(std::is_same_v<decltype(&LogLogicalMessage), XLogRecPtr (*)(const char *, const char *, size_t, bool)>);
  return LogLogicalMessage(prefix, message, size, transactional);
#endif
}

// --- cache invalidation (watcher_plan.cpp) --------------------------------------------

// The type of the cache a syscache invalidation callback is told about: an
// int until 18, the enum SysCacheIdentifier from 19 on. Only the type
// changed; ectowatch's callback ignores the value.
#if PG_VERSION_NUM >= 190000
using SyscacheId = SysCacheIdentifier;
#else
using SyscacheId = int;
#endif
static_assert(std::is_same_v<SyscacheCallbackFunction, void (*)(Datum, SyscacheId, uint32)>);

// --- message MACs (message_auth.cpp) ------------------------------------------------

// common/hmac.h (pg_hmac_create, _init, _update, _final, _free) came in 14 and
// is the same in 14-19: no conditional. Checked here so that a change breaks
// the build, not the MACs. Not used: pg_hmac_error (15+ only).
static_assert(std::is_same_v<decltype(&pg_hmac_create), pg_hmac_ctx *(*)(pg_cryptohash_type)>);
static_assert(std::is_same_v<decltype(&pg_hmac_init), int (*)(pg_hmac_ctx *, const uint8 *, size_t)>);
static_assert(std::is_same_v<decltype(&pg_hmac_update), int (*)(pg_hmac_ctx *, const uint8 *, size_t)>);
static_assert(std::is_same_v<decltype(&pg_hmac_final), int (*)(pg_hmac_ctx *, uint8 *, size_t)>);

// The position up to which the WAL is flushed (the relay worker decodes up to
// it). 15 added an out-parameter for the timeline; we do not need it.
inline XLogRecPtr flushed_wal_position() {
#if PG_VERSION_NUM >= 150000
  static_assert(std::is_same_v<decltype(&GetFlushRecPtr), XLogRecPtr (*)(TimeLineID *)>);
  return GetFlushRecPtr(nullptr);
#else
  static_assert(std::is_same_v<decltype(&GetFlushRecPtr), XLogRecPtr (*)(void)>);
  return GetFlushRecPtr();
#endif
}

// --- replication slots -----------------------------------------------------------

// Whether `slot` was invalidated: it can never be decoded again. The caller
// holds slot->mutex.
// 14 and 15 mark an invalidated slot by moving restart_lsn to invalidated_at
// (only max_slot_wal_keep_size invalidates slots there). 16 replaced
// invalidated_at with `invalidated`, the cause (RS_INVAL_NONE when valid), and
// added causes (a standby's catalog horizon or wal_level; 18: the idle
// timeout); every one of them leaves the slot unreadable, so any cause counts.
inline bool slot_invalidated(const ReplicationSlot *slot) {
#if PG_VERSION_NUM >= 160000
  static_assert(std::is_same_v<decltype(ReplicationSlotPersistentData::invalidated), ReplicationSlotInvalidationCause>);
  return slot->data.invalidated != RS_INVAL_NONE;
#else
  static_assert(std::is_same_v<decltype(ReplicationSlotPersistentData::invalidated_at), XLogRecPtr>);
  return XLogRecPtrIsInvalid(slot->data.restart_lsn) && !XLogRecPtrIsInvalid(slot->data.invalidated_at);
#endif
}

// Makes the named slot this backend's MyReplicationSlot.
// 18 added `error_if_invalid`. We pass false: the relay worker checks for
// invalidation itself first (slot_invalidated), and otherwise the decoding
// context refuses an invalidated slot, as on 14-17.
inline void acquire_replication_slot(const char *name, bool nowait) {
#if PG_VERSION_NUM >= 180000
  static_assert(std::is_same_v<decltype(&ReplicationSlotAcquire), void (*)(const char *, bool, bool)>);
  ReplicationSlotAcquire(name, nowait, false);
#else
  static_assert(std::is_same_v<decltype(&ReplicationSlotAcquire), void (*)(const char *, bool)>);
  ReplicationSlotAcquire(name, nowait);
#endif
}

// --- logical decoding (output_plugin.cpp) -----------------------------------------

// Called for every row change the output plugin skips (ectowatch sends only
// its messages). Decoding a transaction of a million row changes then sends
// nothing for as long as it takes, and unless the plugin reports progress the
// walsender neither reads the client's status updates nor sends a keepalive
// meanwhile: the client takes the silence for a dead connection, reconnects,
// and the new walsender decodes the same transaction again. 16 made the
// reorder buffer report progress itself every 100 changes
// (update_progress_txn); before 16 a plugin does it, as pgoutput does, every
// 100 changes. OutputPluginUpdateProgress gained `skipped_xact` in 15; the
// template picks the call this version has.
template <typename UpdateProgress> inline void report_progress(UpdateProgress update, LogicalDecodingContext *context) {
  if constexpr (std::is_invocable_v<UpdateProgress, LogicalDecodingContext *, bool>)
    update(context, false);
  else
    update(context);
}
inline void skipped_change(LogicalDecodingContext *context) {
#if PG_VERSION_NUM >= 160000
  (void)context;
#else
  static int skipped = 0; // one decoding context per walsender
  if (++skipped >= 100) {
    skipped = 0;
    report_progress(&OutputPluginUpdateProgress, context);
  }
#endif
}

// --- loading the library ----------------------------------------------------------

// Reserves the "ectowatch." prefix of settings: a misspelt ectowatch.* setting
// gets a warning instead of becoming a silent placeholder. 15 renamed
// EmitWarningsOnPlaceholders to MarkGUCPrefixReserved (and made it also
// remove placeholders already set); on 14 the old function warns the same way.
inline void reserve_setting_prefix(const char *prefix) {
#if PG_VERSION_NUM >= 150000
  MarkGUCPrefixReserved(prefix);
#else
  EmitWarningsOnPlaceholders(prefix);
#endif
}

// How a preloaded library asks for shared memory. 15 added shmem_request_hook
// and made RequestAddinShmemSpace outside it an error; 14 has no such hook and
// lets _PG_init (while shared_preload_libraries load) ask directly.
// `request` chains to the hook it replaces, which this returns (nullptr on 14,
// where `request` runs at once).
using ShmemRequestHook = void (*)(void);
inline ShmemRequestHook install_shmem_request_hook(ShmemRequestHook request) {
#if PG_VERSION_NUM >= 150000
  static_assert(std::is_same_v<shmem_request_hook_type, ShmemRequestHook>);
  ShmemRequestHook previous = shmem_request_hook;
  shmem_request_hook = request;
  return previous;
#else
  request();
  return nullptr;
#endif
}

// --- set-returning functions ------------------------------------------------------

// Prepares a set-returning function that fills a tuplestore in one call
// (fcinfo->resultinfo's setResult and setDesc). 16 named this
// InitMaterializedSRF; 15.0 called it SetSingleFuncCall (15.1 added the new
// name and kept the old one, so the old name builds on every 15 minor); 14
// has neither, and does by hand what InitMaterializedSRF(fcinfo, 0) does.
inline void init_materialized_srf(FunctionCallInfo fcinfo) {
#if PG_VERSION_NUM >= 160000
  InitMaterializedSRF(fcinfo, 0);
#elif PG_VERSION_NUM >= 150000
  SetSingleFuncCall(fcinfo, 0);
#else
  ReturnSetInfo *result_info = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  if (result_info == nullptr || !IsA(result_info, ReturnSetInfo))
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("set-valued function called in context that cannot accept a set")));
  if (!(result_info->allowedModes & SFRM_Materialize))
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("materialize mode required, but it is not allowed in this context")));
  MemoryContext caller = MemoryContextSwitchTo(result_info->econtext->ecxt_per_query_memory);
  TupleDesc descriptor;
  if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "return type must be a row type");
  bool random_access = (result_info->allowedModes & SFRM_Materialize_Random) != 0;
  result_info->returnMode = SFRM_Materialize;
  result_info->setResult = tuplestore_begin_heap(random_access, false, work_mem);
  result_info->setDesc = descriptor;
  MemoryContextSwitchTo(caller);
#endif
}

} // namespace ectowatch::compat
