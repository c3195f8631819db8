// What a watcher's trigger needs to turn a row into JSON, resolved once per
// trigger (from its arguments and the table's columns) and cached for the
// backend's lifetime, so no catalog lookup happens per row. A relcache or
// schema invalidation marks plans stale; they are rebuilt on next use.
//
// Trigger arguments (written by ectowatch_watch in sql/); every layout ever
// written stays readable, so a newer library serves older triggers:
//   '1', label, N, N key column names, extra column names            (0.1.0)
//   '2', label, delivery, N, N key column names, extra column names  (0.2.0)
#pragma once

#include "pending_changes.hpp"
#include "postgres_api.hpp"
#include "value_encoder.hpp"

namespace ectowatch {

struct WatcherColumn {
  const char *json_name; // `"name":`, escaped once
  int json_name_length;
  AttrNumber attnum; // InvalidAttrNumber if the column has gone
  ColumnEncoder encoder;
};

struct WatcherPlan {
  Oid relid;         // the table the trigger sits on (a partition for clones)
  Oid watched_relid; // the watched table (the partitioned parent for clones)
  bool valid;        // false once an invalidation touched relid/watched_relid
  bool usable;       // false for a trigger whose arguments ectowatch cannot read
  MemoryContext context;

  const char *label;
  int key_count;
  int column_count; // keys first, then extra columns
  WatcherColumn *columns;

  // `{"v":1,"op":...,"rows":[` for row triggers; the whole message for TRUNCATE.
  const char *rows_prefix;
  const char *truncate_message;

  ChangeTarget target; // where this watcher's changes are buffered
};

// The plan for the trigger being fired, or nullptr when the trigger cannot be
// served (a WARNING then says why; the user's write goes on).
WatcherPlan *watcher_plan_for(TriggerData *trigger_data);

void register_watcher_plan_invalidation();

} // namespace ectowatch
