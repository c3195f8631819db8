// The trigger functions ectowatch_watch() attaches to watched tables: the
// write path. A row trigger renders the changed row (keys, then extra
// columns) and queues it; so does a DELETE watcher's statement trigger for
// each row of its transition table; the TRUNCATE trigger queues a
// "truncated" message.
// Nothing is sent before the transaction commits (pending_changes.hpp).
#include "boundary.hpp"
#include "pending_changes.hpp"
#include "settings.hpp"
#include "watcher_plan.hpp"

namespace ectowatch {

namespace {

// What an AFTER trigger returns: nothing (the result is ignored). Spelled as
// the Datum 0: kNoTuple stops compiling as C++ in 19, whose
// macro is `true ? (X) : NULL`, and nullptr and NULL have different types.
constexpr Datum kNoTuple = 0;

TriggerData *trigger_data_or_error(FunctionCallInfo fcinfo, const char *function_name) {
  if (!CALLED_AS_TRIGGER(fcinfo))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("%s() may only be called as a trigger", function_name),
                    errhint("Use ectowatch_watch() to create watchers.")));
  auto *data = reinterpret_cast<TriggerData *>(fcinfo->context);
  if (!TRIGGER_FIRED_AFTER(data->tg_event))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("%s() must be fired AFTER the change", function_name),
                    errhint("Use ectowatch_watch() to create watchers.")));
  return data;
}

// Reused for every row: rendering allocates nothing once it has grown.
StringInfo scratch_row() {
  static StringInfo row = nullptr;
  if (!row) {
    MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);
    row = makeStringInfo();
    MemoryContextSwitchTo(caller);
  } else if (row->maxlen > 1024 * 1024) {
    // A huge row grew it; give the memory back.
    pfree(row->data);
    MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);
    initStringInfo(row);
    MemoryContextSwitchTo(caller);
  }
  resetStringInfo(row);
  return row;
}

// Renders one row (keys, then extra columns) and queues it.
void queue_row(WatcherPlan *plan, TupleTableSlot *slot) {
  StringInfo row = scratch_row();
  appendStringInfoChar(row, '{');
  int key_length = 0;
  for (int i = 0; i < plan->column_count; ++i) {
    const WatcherColumn *column = &plan->columns[i];
    if (i > 0)
      appendStringInfoChar(row, ',');
    appendBinaryStringInfo(row, column->json_name, column->json_name_length);
    bool isnull = true;
    Datum value = (Datum)0;
    if (column->attnum != InvalidAttrNumber)
      value = slot_getattr(slot, column->attnum, &isnull);
    append_json_value(row, &column->encoder, value, isnull);
    if (i == plan->key_count - 1)
      key_length = row->len;
  }
  appendStringInfoChar(row, '}');
  pending_add_row(&plan->target, std::string_view(row->data, static_cast<std::size_t>(row->len)), key_length);
}

// A DELETE watcher's statement trigger: every deleted row is in the
// statement's transition table. (PostgreSQL refetches each deleted row to
// fire an AFTER ROW trigger, which costs a bulk DELETE more than the delete
// itself; ectowatch_watch uses this form where it sees every delete, see
// sql/functions/ectowatch_attach_triggers.sql.) Watchers of one table share the
// transition table, so each reads it with a read pointer of its own.
void queue_deleted_rows(WatcherPlan *plan, TriggerData *data) {
  Tuplestorestate *rows = data->tg_oldtable;
  int reader = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND); // as nodeNamedtuplestorescan.c does
  tuplestore_select_read_pointer(rows, reader);
  tuplestore_rescan(rows);
  TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(data->tg_relation), &TTSOpsMinimalTuple);
  while (tuplestore_gettupleslot(rows, true, false, slot))
    queue_row(plan, slot);
  ExecDropSingleTupleTableSlot(slot);
  tuplestore_select_read_pointer(rows, 0); // leave the store as we found it
}

Datum fire_row_trigger(FunctionCallInfo fcinfo) {
  TriggerData *data = trigger_data_or_error(fcinfo, "ectowatch_row_trigger");
  bool for_row = TRIGGER_FIRED_FOR_ROW(data->tg_event);
  bool for_deleted_rows = TRIGGER_FIRED_BY_DELETE(data->tg_event) && data->tg_oldtable != nullptr;
  if (!for_row && !for_deleted_rows)
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("ectowatch_row_trigger() must be fired FOR EACH ROW, or on DELETE FOR EACH STATEMENT "
                           "with REFERENCING OLD TABLE"),
                    errhint("Use ectowatch_watch() to create watchers.")));
  if (!enabled)
    return kNoTuple;
  WatcherPlan *plan = watcher_plan_for(data);
  if (!plan)
    return kNoTuple;
  if (!for_row) {
    queue_deleted_rows(plan, data);
    return kNoTuple;
  }
  // A deleted row is described by its old values, others by their new ones.
  queue_row(plan, TRIGGER_FIRED_BY_UPDATE(data->tg_event) ? data->tg_newslot : data->tg_trigslot);
  return kNoTuple;
}

Datum fire_truncate_trigger(FunctionCallInfo fcinfo) {
  TriggerData *data = trigger_data_or_error(fcinfo, "ectowatch_truncate_trigger");
  if (!TRIGGER_FIRED_BY_TRUNCATE(data->tg_event))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("ectowatch_truncate_trigger() must be fired by TRUNCATE"),
                    errhint("Use ectowatch_watch() to create watchers.")));
  if (!enabled)
    return kNoTuple;
  WatcherPlan *plan = watcher_plan_for(data);
  if (plan)
    pending_add_message(&plan->target, plan->truncate_message);
  return kNoTuple;
}

} // namespace

} // namespace ectowatch

extern "C" {

PG_FUNCTION_INFO_V1(ectowatch_row_trigger);
Datum ectowatch_row_trigger(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo] { return ectowatch::fire_row_trigger(fcinfo); });
}

PG_FUNCTION_INFO_V1(ectowatch_truncate_trigger);
Datum ectowatch_truncate_trigger(PG_FUNCTION_ARGS) {
  return ectowatch::guarded_entry([fcinfo] { return ectowatch::fire_truncate_trigger(fcinfo); });
}
}
