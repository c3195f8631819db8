#include "watcher_plan.hpp"

#include "pg_compat.hpp"

#include "ectowatch/protocol.hpp"

namespace ectowatch {

namespace {

struct PlanCacheEntry {
  Oid trigger_oid; // hash key
  WatcherPlan *plan;
};

HTAB *plans_by_trigger = nullptr;

const char *op_of_trigger(const Trigger *trigger) {
  const int16 events =
      trigger->tgtype & (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_DELETE | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_TRUNCATE);
  switch (events) {
  case TRIGGER_TYPE_INSERT:
    return protocol::kInserted;
  case TRIGGER_TYPE_UPDATE:
    return protocol::kUpdated;
  case TRIGGER_TYPE_DELETE:
    return protocol::kDeleted;
  case TRIGGER_TYPE_TRUNCATE:
    return "truncated";
  default:
    return nullptr;
  }
}

// Partitions carry clones of the parent's row trigger; the message names the
// table the user watched, found by following tgparentid to the top.
Oid watched_table_of(const Trigger *trigger, Oid relid) {
  if (!trigger->tgisclone)
    return relid;
  Relation triggers = table_open(TriggerRelationId, AccessShareLock);
  Oid trigger_oid = trigger->tgoid;
  Oid watched = relid;
  while (OidIsValid(trigger_oid)) {
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(trigger_oid));
    SysScanDesc scan = systable_beginscan(triggers, TriggerOidIndexId, true, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    trigger_oid = InvalidOid;
    if (HeapTupleIsValid(tuple)) {
      auto *form = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
      watched = form->tgrelid;
      trigger_oid = form->tgparentid;
    }
    systable_endscan(scan);
  }
  table_close(triggers, AccessShareLock);
  return watched;
}

void append_json_name_list(StringInfo out, const WatcherColumn *columns, int count) {
  appendStringInfoChar(out, '[');
  for (int i = 0; i < count; ++i) {
    if (i > 0)
      appendStringInfoChar(out, ',');
    // json_name is `"name":`; the list wants `"name"`.
    appendBinaryStringInfo(out, columns[i].json_name, columns[i].json_name_length - 1);
  }
  appendStringInfoChar(out, ']');
}

const char *message_prefix(const char *op, Oid watched_relid, const char *label, const WatcherColumn *columns,
                           int key_count) {
  StringInfoData out;
  initStringInfo(&out);
  appendStringInfoString(&out, "{\"v\":1,\"op\":\"");
  appendStringInfoString(&out, op);
  appendStringInfoString(&out, "\",\"table\":");
  escape_json(&out, quote_qualified_identifier(get_namespace_name(get_rel_namespace(watched_relid)),
                                               get_rel_name(watched_relid)));
  appendStringInfoString(&out, ",\"label\":");
  escape_json(&out, label);
  appendStringInfoString(&out, ",\"key\":");
  append_json_name_list(&out, columns, key_count);
  appendStringInfoString(&out, ",\"rows\":[");
  return out.data;
}

// The trigger's arguments, in every layout ectowatch_watch() ever wrote:
//   '1', label, N, N key columns, extra columns             (0.1.0: notify)
//   '2', label, delivery, N, N key columns, extra columns   (0.2.0)
//   '3{delivery,N,key columns...,extra columns...}', label  (0.5.0: one array
//       literal, as PostgreSQL copies each argument at every statement; the
//       reason is in sql/fragments/trigger_when_and_arguments.sql)
// Layout 3 is read into layout 2's list (ArgumentList), which the rest reads.
struct ArgumentList {
  int count;
  const char *const *values;
};

ArgumentList argument_list(const Trigger *trigger) {
  if (trigger->tgnargs != 2 || trigger->tgargs[0][0] != '3' || trigger->tgargs[0][1] != '{')
    return ArgumentList{trigger->tgnargs, trigger->tgargs};
  // array_in raises an ERROR on a malformed literal, which only a trigger
  // attached by hand can hold (as a foreign label does, below).
  // (array_in needs the FmgrInfo that OidInputFunctionCall sets up.)
  ArrayType *array = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, trigger->tgargs[0] + 1, TEXTOID, -1));
  Datum *elements;
  bool *nulls;
  int count;
  deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
  auto **values = static_cast<const char **>(palloc(sizeof(const char *) * (count + 2)));
  values[0] = "2";
  values[1] = trigger->tgargs[1];
  for (int i = 0; i < count; ++i)
    values[i + 2] = nulls[i] ? "" : TextDatumGetCString(elements[i]);
  return ArgumentList{count + 2, values};
}

struct TriggerArguments {
  const char *label;
  Delivery delivery;
  int key_count;
  int first_column; // index of the first key column in the list
};

bool parse_arguments(const ArgumentList &list, TriggerArguments *parsed) {
  if (list.count < 1)
    return false;
  int count_index;
  if (strcmp(list.values[0], "1") == 0) {
    parsed->delivery = Delivery::notify;
    count_index = 2;
  } else if (strcmp(list.values[0], "2") == 0) {
    if (list.count < 5)
      return false;
    // protocol::kDeliveries is in the order of enum Delivery (relay: 0.3.0).
    const char *delivery = list.values[2];
    int found = -1;
    for (int i = 0; i < static_cast<int>(std::size(protocol::kDeliveries)); ++i)
      if (strcmp(delivery, protocol::kDeliveries[i]) == 0)
        found = i;
    if (found < 0)
      return false;
    parsed->delivery = static_cast<Delivery>(found);
    count_index = 3;
  } else {
    return false;
  }
  if (list.count < count_index + 2)
    return false;
  char *end = nullptr;
  long keys = strtol(list.values[count_index], &end, 10);
  if (*end != '\0' || keys < 1 || keys > list.count - count_index - 1)
    return false;
  parsed->label = list.values[1];
  parsed->key_count = static_cast<int>(keys);
  parsed->first_column = count_index + 1;
  return true;
}

const char *delivery_name(Delivery delivery) {
  // protocol::kDeliveries is in the order of enum Delivery.
  return protocol::kDeliveries[static_cast<int>(delivery)];
}

// What the catalog (ectowatch_catalog, in the schema of the trigger's
// function) says about a trigger's label.
enum class Registration { matches, unregistered, foreign };

struct CatalogEntry {
  Oid table;
  char delivery[16];
};

// Reads the catalog row of `label` (no RLS: the lookup is the extension's
// own). With the latest snapshot: a watcher committed after this
// transaction's snapshot (REPEATABLE READ) is still found, as its trigger is,
// and so is one created earlier in this transaction.
bool catalog_entry(Oid function, const char *label, CatalogEntry *entry) {
  Oid schema = get_func_namespace(function);
  Oid catalog = OidIsValid(schema) ? get_relname_relid("ectowatch_catalog", schema) : InvalidOid;
  Oid index = OidIsValid(schema) ? get_relname_relid("ectowatch_catalog_pkey", schema) : InvalidOid;
  if (!OidIsValid(catalog) || !OidIsValid(index))
    return false;
  Relation relation = table_open(catalog, AccessShareLock);
  TupleDesc descriptor = RelationGetDescr(relation);
  AttrNumber delivery_column = InvalidAttrNumber; // added in 0.2.0
  for (int a = 0; a < descriptor->natts; ++a)
    if (!TupleDescAttr(descriptor, a)->attisdropped &&
        strcmp(NameStr(TupleDescAttr(descriptor, a)->attname), "delivery") == 0)
      delivery_column = TupleDescAttr(descriptor, a)->attnum;
  ScanKeyData key;
  // label is column 1 and the primary key; compared with its own collation,
  // as the index orders it.
  ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid, TupleDescAttr(descriptor, 0)->attcollation,
                         F_TEXTEQ, CStringGetTextDatum(label));
  Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
  SysScanDesc scan = systable_beginscan(relation, index, true, snapshot, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  bool found = HeapTupleIsValid(tuple);
  if (found) {
    bool isnull;
    Datum table = heap_getattr(tuple, 2, descriptor, &isnull); // table_name regclass
    entry->table = isnull ? InvalidOid : DatumGetObjectId(table);
    strlcpy(entry->delivery, "notify", sizeof entry->delivery);
    if (delivery_column != InvalidAttrNumber) {
      Datum delivery = heap_getattr(tuple, delivery_column, descriptor, &isnull);
      if (!isnull)
        text_to_cstring_buffer(DatumGetTextPP(delivery), entry->delivery, sizeof entry->delivery);
    }
  }
  systable_endscan(scan);
  UnregisterSnapshot(snapshot);
  table_close(relation, AccessShareLock);
  return found;
}

// A table owner may attach ectowatch_row_trigger to their own table by hand,
// with trigger arguments naming another watcher's label: its messages would
// reach that watcher's subscribers as genuine. A trigger sends only for the
// watcher the catalog registers for this very table and delivery. The
// catalog rows are a configuration table of the extension: pg_dump restores
// them in its data section, before the triggers (post-data), and
// ectowatch_watch writes the row in the transaction that creates the trigger.
Registration check_registration(const Trigger *trigger, Oid watched_relid, const TriggerArguments &arguments,
                                CatalogEntry *entry) {
  if (!catalog_entry(trigger->tgfoid, arguments.label, entry))
    return Registration::unregistered;
  return entry->table == watched_relid && strcmp(entry->delivery, delivery_name(arguments.delivery)) == 0
             ? Registration::matches
             : Registration::foreign;
}

WatcherPlan *unusable_plan(Relation relation) {
  // Remembered as unusable, so the warning comes once, not once per row.
  auto *unusable = static_cast<WatcherPlan *>(MemoryContextAllocZero(TopMemoryContext, sizeof(WatcherPlan)));
  unusable->relid = RelationGetRelid(relation);
  unusable->watched_relid = unusable->relid;
  unusable->context = AllocSetContextCreate(TopMemoryContext, "ectowatch unusable plan", ALLOCSET_SMALL_SIZES);
  unusable->valid = true;
  unusable->usable = false;
  return unusable;
}

WatcherPlan *build_plan(TriggerData *trigger_data) {
  const Trigger *trigger = trigger_data->tg_trigger;
  Relation relation = trigger_data->tg_relation;
  const char *op = op_of_trigger(trigger);
  TriggerArguments arguments;
  ArgumentList list = argument_list(trigger);
  if (op && parse_arguments(list, &arguments)) {
    Oid watched_relid = watched_table_of(trigger, RelationGetRelid(relation));
    CatalogEntry entry;
    switch (check_registration(trigger, watched_relid, arguments, &entry)) {
    case Registration::matches:
      break;
    case Registration::foreign: {
      const char *registered = "a table that no longer exists";
      if (OidIsValid(entry.table) && get_rel_name(entry.table))
        registered =
            quote_qualified_identifier(get_namespace_name(get_rel_namespace(entry.table)), get_rel_name(entry.table));
      ereport(ERROR,
              (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
               errmsg("ectowatch: trigger \"%s\" on \"%s\" names watcher \"%s\", which watches %s with delivery %s",
                      trigger->tgname, RelationGetRelationName(relation), arguments.label, registered, entry.delivery),
               errdetail("Only the triggers ectowatch_watch() creates for a watcher send on its label; this one was "
                         "attached by hand (for %s, delivery %s).",
                         get_rel_name(watched_relid), delivery_name(arguments.delivery)),
               errhint("Drop the trigger (DROP TRIGGER %s ON %s) and watch this table with ectowatch_watch() under "
                       "a label of its own.",
                       quote_identifier(trigger->tgname),
                       quote_qualified_identifier(get_namespace_name(RelationGetNamespace(relation)),
                                                  RelationGetRelationName(relation)))));
      break;
    }
    case Registration::unregistered:
      ereport(WARNING, (errmsg("ectowatch: trigger \"%s\" on \"%s\" sends for label \"%s\", which is not a watcher "
                               "(not in ectowatch_watchers); no notification is sent",
                               trigger->tgname, RelationGetRelationName(relation), arguments.label),
                        errhint("Drop it and call ectowatch_watch() instead.")));
      return unusable_plan(relation);
    }
  } else {
    ereport(WARNING, (errmsg("ectowatch: trigger \"%s\" on \"%s\" was not created by ectowatch_watch(); no "
                             "notification is sent",
                             trigger->tgname, RelationGetRelationName(relation)),
                      errhint("Drop it and call ectowatch_watch() instead.")));
    return unusable_plan(relation);
  }

  // Built in a context under the transaction until complete, so an error on
  // the way leaks nothing; then moved to live as long as the backend.
  MemoryContext context = AllocSetContextCreate(CurTransactionContext, "ectowatch watcher plan", ALLOCSET_SMALL_SIZES);
  MemoryContext caller = MemoryContextSwitchTo(context);

  auto *plan = static_cast<WatcherPlan *>(palloc0(sizeof(WatcherPlan)));
  plan->relid = RelationGetRelid(relation);
  plan->watched_relid = watched_table_of(trigger, plan->relid);
  plan->context = context;
  plan->label = pstrdup(arguments.label);
  plan->key_count = arguments.key_count;
  plan->column_count = list.count - arguments.first_column;
  plan->columns = static_cast<WatcherColumn *>(palloc0(sizeof(WatcherColumn) * plan->column_count));

  TupleDesc descriptor = RelationGetDescr(relation);
  for (int i = 0; i < plan->column_count; ++i) {
    const char *name = list.values[arguments.first_column + i];
    WatcherColumn *column = &plan->columns[i];
    StringInfoData json_name;
    initStringInfo(&json_name);
    escape_json(&json_name, name);
    appendStringInfoChar(&json_name, ':');
    column->json_name = json_name.data;
    column->json_name_length = json_name.len;
    column->attnum = InvalidAttrNumber;
    for (int a = 0; a < descriptor->natts; ++a) {
      Form_pg_attribute attribute = TupleDescAttr(descriptor, a);
      if (!attribute->attisdropped && strcmp(NameStr(attribute->attname), name) == 0) {
        column->attnum = attribute->attnum;
        init_column_encoder(&column->encoder, attribute->atttypid, context);
        break;
      }
    }
    if (column->attnum == InvalidAttrNumber)
      ereport(WARNING, (errmsg("ectowatch: column \"%s\" of table \"%s\" used by watcher \"%s\" does not exist; "
                               "it is sent as null",
                               name, RelationGetRelationName(relation), plan->label),
                        errhint("Call ectowatch_watch() again for this label with the current column names.")));
  }

  const char *row_op = strcmp(op, "truncated") == 0 ? protocol::kDeleted : op;
  plan->rows_prefix = message_prefix(row_op, plan->watched_relid, plan->label, plan->columns, plan->key_count);
  StringInfoData truncate_message;
  initStringInfo(&truncate_message);
  appendStringInfoString(&truncate_message,
                         message_prefix("truncated", plan->watched_relid, plan->label, plan->columns, plan->key_count));
  appendStringInfoString(&truncate_message, "]}");
  plan->truncate_message = truncate_message.data;

  plan->target.label = plan->label;
  plan->target.delivery = arguments.delivery;
  plan->target.rows_prefix = plan->rows_prefix;
  plan->target.rows_prefix_length = static_cast<int>(strlen(plan->rows_prefix));
  plan->valid = true;
  plan->usable = true;

  MemoryContextSwitchTo(caller);
  MemoryContextSetParent(context, TopMemoryContext);
  return plan;
}

void invalidate_plans(Oid relid) {
  if (!plans_by_trigger)
    return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, plans_by_trigger);
  while (auto *entry = static_cast<PlanCacheEntry *>(hash_seq_search(&scan)))
    if (!OidIsValid(relid) || entry->plan->relid == relid || entry->plan->watched_relid == relid)
      entry->plan->valid = false;
}

void on_relcache_invalidation(Datum, Oid relid) { invalidate_plans(relid); }

// Renaming a schema sends no relcache invalidation for its tables, yet changes
// the "table" field of their messages.
void on_namespace_invalidation(Datum, compat::SyscacheId, uint32) { invalidate_plans(InvalidOid); }

} // namespace

WatcherPlan *watcher_plan_for(TriggerData *trigger_data) {
  if (!plans_by_trigger) {
    HASHCTL control;
    control.keysize = sizeof(Oid);
    control.entrysize = sizeof(PlanCacheEntry);
    plans_by_trigger = hash_create("ectowatch watcher plans", 64, &control, HASH_ELEM | HASH_BLOBS);
  }
  Oid trigger_oid = trigger_data->tg_trigger->tgoid;
  bool found;
  auto *entry = static_cast<PlanCacheEntry *>(hash_search(plans_by_trigger, &trigger_oid, HASH_FIND, &found));
  if (found && entry->plan->valid && entry->plan->relid == RelationGetRelid(trigger_data->tg_relation))
    return entry->plan->usable ? entry->plan : nullptr;

  // Stale or missing: build a new plan before touching the cache, so that an
  // error while building leaves the cache as it was.
  WatcherPlan *plan = build_plan(trigger_data);
  entry = static_cast<PlanCacheEntry *>(hash_search(plans_by_trigger, &trigger_oid, HASH_ENTER, &found));
  if (found)
    MemoryContextDelete(entry->plan->context);
  entry->plan = plan;
  return plan->usable ? plan : nullptr;
}

void register_watcher_plan_invalidation() {
  CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum)0);
  CacheRegisterSyscacheCallback(NAMESPACEOID, on_namespace_invalidation, (Datum)0);
}

} // namespace ectowatch
