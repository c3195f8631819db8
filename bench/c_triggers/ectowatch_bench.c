/* Baseline triggers for bench/run. Plain C on purpose: the floors that any
 * trigger (no-op) or any NOTIFY-per-row trigger (Async_Notify) cannot beat. */
#include "postgres.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bench_noop_trigger);
Datum
bench_noop_trigger(PG_FUNCTION_ARGS)
{
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(bench_notify_trigger);
Datum
bench_notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *data = (TriggerData *) fcinfo->context;
	TupleTableSlot *slot = TRIGGER_FIRED_BY_UPDATE(data->tg_event) ? data->tg_newslot : data->tg_trigslot;
	bool		isnull;
	Datum		id = slot_getattr(slot, 1, &isnull);
	StringInfoData payload;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"type\": \"%s\", \"values\": {\"id\": " INT64_FORMAT "}}",
					 data->tg_trigger->tgargs[1], isnull ? 0 : DatumGetInt64(id));
	Async_Notify(data->tg_trigger->tgargs[0], payload.data);
	return PointerGetDatum(NULL);
}
