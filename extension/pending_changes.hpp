// Changes waiting for their transaction to commit.
//
// Row triggers append rendered rows here, packed at once into the messages
// they will travel in; at XACT_EVENT_PRE_COMMIT (which PostgreSQL 15 runs
// before PreCommit_Notify) each message goes to Async_Notify, or, for durable
// watchers, to LogLogicalMessage. Rows of a
// rolled-back subtransaction are discarded when it aborts. At PREPARE only
// durable messages can go (PostgreSQL refuses PREPARE with a pending NOTIFY);
// the others are dropped with a WARNING.
//
// Everything lives in one memory context of the backend, reset when the
// transaction ends (committed, prepared or aborted).
#pragma once

#include "postgres_api.hpp"

namespace ectowatch {

struct PendingQueue;

// One watcher's way into the current transaction's queue for its label,
// cached on the watcher's plan so a row costs no hash lookup.
struct ChangeTarget {
  const char *label;
  bool durable = false; // WAL logical message for the 'ectowatch' slot plugin instead of NOTIFY
  const char *rows_prefix;
  int rows_prefix_length;
  PendingQueue *queue = nullptr;
  uint64 queue_generation = 0;
};

// Adds one rendered row; `key_length` bytes of `row` hold `{` and the keys.
// A row too big for any message is stored in its key-only form (written into
// `row`, which is why it is not const) or counted as dropped.
void pending_add_row(ChangeTarget *target, char *row, int length, int key_length);

// Adds a complete message (the TRUNCATE message) in order with the rows.
void pending_add_message(ChangeTarget *target, const char *message);

void register_pending_changes_callbacks();

} // namespace ectowatch
