// Changes waiting for their transaction to commit.
//
// Row triggers append rendered rows here, packed at once into the messages
// they will travel in; at XACT_EVENT_PRE_COMMIT (which PostgreSQL 15 runs
// before PreCommit_Notify) each message goes to Async_Notify, or, for durable
// and relayed watchers, to LogLogicalMessage (relay.hpp). Rows of a
// rolled-back subtransaction are discarded when it aborts. At PREPARE only
// WAL messages can go (PostgreSQL refuses PREPARE with a pending NOTIFY); the
// others are dropped with a WARNING.
//
// Everything lives in one memory context of the backend, reset when the
// transaction ends (committed, prepared or aborted).
#pragma once

#include "postgres_api.hpp"

#include <string_view>

namespace ectowatch {

struct PendingQueue;

// How a watcher's messages leave the transaction; in the order of
// protocol::kDeliveries, the names ectowatch_watch accepts.
enum class Delivery : uint8 {
  notify,  // Async_Notify (relayed instead when ectowatch.relay = on and the relay can run)
  durable, // a WAL message for slots with the 'ectowatch' plugin
  relay,   // a WAL message for the relay worker, which sends it with NOTIFY
};

// One watcher's way into the current transaction's queue for its label,
// cached on the watcher's plan so a row costs no hash lookup.
struct ChangeTarget {
  const char *label;
  Delivery delivery = Delivery::notify;
  const char *rows_prefix;
  int rows_prefix_length;
  PendingQueue *queue = nullptr;
  uint64 queue_generation = 0;
};

// Adds one rendered row; `key_length` bytes of `row` hold `{` and the keys.
// Packed at once by pack_row() (message_packer.hpp): a row too big for any
// message is stored in its key-only form or counted as dropped.
void pending_add_row(ChangeTarget *target, std::string_view row, int key_length);

// Adds a complete message (the TRUNCATE message) in order with the rows.
void pending_add_message(ChangeTarget *target, const char *message);

void register_pending_changes_callbacks();

} // namespace ectowatch
