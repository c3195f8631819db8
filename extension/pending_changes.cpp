#include "pending_changes.hpp"

#include "boundary.hpp"
#include "message_auth.hpp"
#include "message_packer.hpp"
#include "pg_compat.hpp"
#include "relay.hpp"

#include <optional>
#include <string>

namespace ectowatch {

namespace {

// One notification being assembled. Rows are packed as they arrive: the body
// (rows joined by ',') grows at the end of the queue's arena, so a row costs
// its own bytes and nothing more.
struct QueuedMessage {
  const char *prefix; // `{"v":1,...,"rows":[`; nullptr: `offset` holds a whole message
  uint32 prefix_length;
  uint64 offset;        // in the queue's arena
  PackedMessage packed; // packed.length: its bytes in the arena
  Delivery delivery;
};

// The state of a queue just before the first change of a subtransaction, so
// that rolling the subtransaction back can restore it.
struct Mark {
  SubTransactionId subid;
  uint64 arena_used;
  uint32 message_count;
  QueuedMessage last; // the last message as it was (valid if message_count > 0)
  bool open;
};

template <typename T> void grow(T *&array, uint32 &capacity, uint32 needed) {
  if (needed <= capacity)
    return;
  while (capacity < needed)
    capacity *= 2;
  array = static_cast<T *>(repalloc_huge(array, sizeof(T) * capacity));
}

} // namespace

struct PendingQueue {
  char label[NAMEDATALEN]; // the channel
  PendingQueue *next;      // queues in order of first use
  QueuedMessage *messages;
  uint32 message_count;
  uint32 message_capacity;
  bool open; // the last message may take more rows
  char *arena;
  uint64 arena_used;
  uint64 arena_size;
  Mark *marks;
  uint32 mark_count;
  uint32 mark_capacity;
  SubTransactionId last_subid;
  // The rows prefix of the open message: copied here, since a watcher's plan
  // (where it comes from) may be rebuilt during the transaction.
  const char *prefix_source;
  const char *prefix;
  uint32 prefix_length;
};

namespace {

// Lives as long as the backend and is reset at the end of every transaction
// that used it: no context is created per transaction.
MemoryContext pending_context = nullptr;
bool pending_context_used = false;
PendingQueue *first_queue = nullptr;
PendingQueue *last_queue = nullptr;
// Bumped at every reset, so stale ChangeTarget caches are noticed.
uint64 generation = 1;

void reset_pending_changes() {
  if (pending_context_used) {
    MemoryContextReset(pending_context);
    pending_context_used = false;
  }
  first_queue = last_queue = nullptr;
  ++generation;
}

PendingQueue *queue_for(ChangeTarget *target) {
  if (target->queue && target->queue_generation == generation)
    return target->queue;
  if (!pending_context)
    pending_context = AllocSetContextCreate(TopMemoryContext, "ectowatch pending changes", ALLOCSET_DEFAULT_SIZES);
  pending_context_used = true;
  // A transaction touches few labels, and each watcher caches its queue: a
  // list is all the lookup needs.
  PendingQueue *queue = first_queue;
  while (queue && strcmp(queue->label, target->label) != 0)
    queue = queue->next;
  if (!queue) {
    queue = static_cast<PendingQueue *>(MemoryContextAllocZero(pending_context, sizeof(PendingQueue)));
    // memcpy of the measured length: PostgreSQL's strlcpy copies byte by byte,
    // and this runs in every transaction that writes (the zeroed struct ends it).
    memcpy(queue->label, target->label, strnlen(target->label, NAMEDATALEN - 1));
    queue->message_capacity = 4;
    queue->messages = static_cast<QueuedMessage *>(
        MemoryContextAlloc(pending_context, sizeof(QueuedMessage) * queue->message_capacity));
    queue->mark_capacity = 4;
    queue->marks = static_cast<Mark *>(MemoryContextAlloc(pending_context, sizeof(Mark) * queue->mark_capacity));
    queue->arena_size = 1024;
    queue->arena = static_cast<char *>(MemoryContextAlloc(pending_context, queue->arena_size));
    queue->last_subid = InvalidSubTransactionId;
    if (last_queue)
      last_queue->next = queue;
    else
      first_queue = queue;
    last_queue = queue;
  }
  target->queue = queue;
  target->queue_generation = generation;
  return queue;
}

// Remembers the queue's state before the first change of a new subtransaction.
void mark_subtransaction(PendingQueue *queue) {
  SubTransactionId current = GetCurrentSubTransactionId();
  if (current == queue->last_subid)
    return;
  grow(queue->marks, queue->mark_capacity, queue->mark_count + 1);
  Mark &mark = queue->marks[queue->mark_count++];
  mark.subid = current;
  mark.arena_used = queue->arena_used;
  mark.message_count = queue->message_count;
  if (queue->message_count > 0)
    mark.last = queue->messages[queue->message_count - 1];
  mark.open = queue->open;
  queue->last_subid = current;
}

void append_bytes(PendingQueue *queue, const char *data, uint64 length) {
  if (queue->arena_used + length > queue->arena_size) {
    // Grow by half: a huge transaction keeps little slack.
    uint64 size = queue->arena_size;
    while (queue->arena_used + length > size)
      size += size / 2;
    queue->arena = static_cast<char *>(repalloc_huge(queue->arena, size));
    queue->arena_size = size;
  }
  memcpy(queue->arena + queue->arena_used, data, length);
  queue->arena_used += length;
}

QueuedMessage *start_message(PendingQueue *queue, const char *prefix, uint32 prefix_length, Delivery delivery) {
  grow(queue->messages, queue->message_capacity, queue->message_count + 1);
  QueuedMessage *message = &queue->messages[queue->message_count++];
  *message = QueuedMessage{prefix, prefix_length, queue->arena_used, PackedMessage{}, delivery};
  queue->open = prefix != nullptr;
  return message;
}

// The open message, if it is built with `target`'s prefix.
QueuedMessage *open_message_for(PendingQueue *queue, ChangeTarget *target) {
  if (queue->prefix_source != target->rows_prefix) {
    if (!queue->prefix || strcmp(queue->prefix, target->rows_prefix) != 0) {
      // Its length is known: a copy without strdup's strlen.
      char *copy = static_cast<char *>(MemoryContextAlloc(pending_context, target->rows_prefix_length + 1));
      memcpy(copy, target->rows_prefix, target->rows_prefix_length + 1);
      queue->prefix = copy;
      queue->prefix_length = target->rows_prefix_length;
    }
    queue->prefix_source = target->rows_prefix;
  }
  if (!queue->open || queue->messages[queue->message_count - 1].prefix != queue->prefix ||
      queue->messages[queue->message_count - 1].delivery != target->delivery)
    return nullptr;
  return &queue->messages[queue->message_count - 1];
}

// Forgets what the aborted subtransaction (and its children) added. Every
// change made since it began belongs to it or to a later subtransaction, so
// the marks to undo are a tail of the list.
void discard_since(SubTransactionId aborted) {
  for (PendingQueue *queue = first_queue; queue; queue = queue->next) {
    uint32 keep = queue->mark_count;
    while (keep > 0 && queue->marks[keep - 1].subid >= aborted)
      --keep;
    if (keep == queue->mark_count)
      continue;
    const Mark &mark = queue->marks[keep];
    queue->arena_used = mark.arena_used;
    queue->message_count = mark.message_count;
    if (mark.message_count > 0)
      queue->messages[mark.message_count - 1] = mark.last;
    queue->open = mark.open;
    queue->mark_count = keep;
    queue->last_subid = keep > 0 ? queue->marks[keep - 1].subid : InvalidSubTransactionId;
  }
}

constexpr const char *kLogicalMessagePrefix = protocol::kMessagePrefix;

void notify(const char *channel, const std::string &payload) {
  call_postgres([&] { Async_Notify(channel, payload.c_str()); });
}

// Durable and relayed delivery: a transactional logical message, decoded at
// commit by a slot with the 'ectowatch' output plugin (output_plugin.cpp),
// which delivers it only if its MAC says ectowatch wrote it (message_auth.hpp).
void log_message(const char *prefix, const std::string &payload) {
  call_postgres([&] { log_authenticated_message(prefix, payload.data(), payload.size()); });
}

// Where a message goes; decided at commit, so ectowatch.relay applies to the
// transactions that commit after it changed.
enum class Route { notify, durable, relay };

// Relayed messages sent in this transaction: the worker is woken at COMMIT.
bool relayed_in_transaction = false;

// Whether messages meant for the relay can go there; if not they go straight
// to NOTIFY, with one WARNING per backend (a write never fails for it).
bool relay_can_run() {
  static bool warned = false;
  const char *reason = nullptr;
  call_postgres([&] { reason = relay_unavailable_reason(); });
  if (reason && !warned) {
    warned = true;
    call_postgres([&] {
      ereport(WARNING, (errmsg("ectowatch: relayed messages are sent with NOTIFY directly: %s", reason),
                        errhint("Relaying needs shared_preload_libraries = 'ectowatch', wal_level = logical, "
                                "this database in ectowatch.relay_databases and its relay worker with its slot "
                                "(see ectowatch_relay_status). This warning is shown once per session.")));
    });
  }
  return reason == nullptr;
}

// `relay_available`: looked up once per commit, when a message first needs it.
Route route_of(Delivery delivery, std::optional<bool> &relay_available) {
  if (delivery == Delivery::durable)
    return Route::durable;
  if (delivery == Delivery::notify && !relay_all)
    return Route::notify;
  if (!relay_available)
    relay_available = relay_can_run();
  return *relay_available ? Route::relay : Route::notify;
}

// Sends the queued messages; `wal_only` (at PREPARE) sends only the WAL
// messages, which a prepared transaction may carry. Returns how many rows the
// messages it did not send held.
uint64 send_pending(bool wal_only) {
  // Kept for the backend's life: its capacity (a message is at most a few
  // kB) saves an allocation and a free in every committing transaction.
  static std::string payload;
  uint64 unsent = 0;
  std::optional<bool> relay_available;
  constexpr int kRoutes = 3;
  for (PendingQueue *queue = first_queue; queue; queue = queue->next) {
    // The label's dropped rows are reported once per route, on its last row
    // message there (dropped_to_send in message_packer.hpp says why).
    uint64 dropped[kRoutes] = {};
    uint32 last_row_message[kRoutes] = {};
    for (uint32 i = 0; i < queue->message_count; ++i) {
      const QueuedMessage &message = queue->messages[i];
      if (!message.prefix)
        continue;
      int route = static_cast<int>(route_of(message.delivery, relay_available));
      dropped[route] += message.packed.dropped;
      last_row_message[route] = i;
    }
    for (uint32 i = 0; i < queue->message_count; ++i) {
      const QueuedMessage &message = queue->messages[i];
      Route route = route_of(message.delivery, relay_available);
      if (wal_only && route == Route::notify) {
        unsent += message.prefix ? message.packed.rows + message.packed.dropped : 1;
        continue;
      }
      std::string_view text(queue->arena + message.offset, message.packed.length);
      if (message.prefix) {
        int r = static_cast<int>(route);
        uint64 count = dropped_to_send(i, last_row_message[r], dropped[r]);
        if (!worth_sending(message.packed, count))
          continue;
        finish_message(payload, std::string_view(message.prefix, message.prefix_length), text, message.packed.truncated,
                       count);
      } else {
        payload.assign(text);
      }
      if (route == Route::notify) {
        notify(queue->label, payload);
      } else {
        log_message(route == Route::durable ? kLogicalMessagePrefix : kRelayMessagePrefix, payload);
        relayed_in_transaction = relayed_in_transaction || route == Route::relay;
      }
    }
  }
  return unsent;
}

void on_transaction_event(XactEvent event, void *) {
  switch (event) {
  case XACT_EVENT_PRE_COMMIT:
    if (first_queue) {
      guarded_callback([] { send_pending(false); });
      reset_pending_changes();
    }
    break;
  case XACT_EVENT_PRE_PREPARE:
    if (first_queue) {
      uint64 lost = 0;
      guarded_callback([&] { lost = send_pending(true); });
      reset_pending_changes();
      if (lost > 0)
        ereport(WARNING, (errmsg("ectowatch: %llu change notification(s) of this transaction will not be sent",
                                 static_cast<unsigned long long>(lost)),
                          errdetail("PostgreSQL cannot send notifications from a prepared transaction; watchers with "
                                    "delivery => 'durable' or 'relay' can."),
                          errhint("Subscribers that need these changes should reload when COMMIT PREPARED has run.")));
    }
    break;
  default:
    // COMMIT, ABORT, PREPARE and the parallel variants: nothing is left to send.
    if (first_queue || pending_context_used)
      reset_pending_changes();
    if (relayed_in_transaction) {
      relayed_in_transaction = false;
      if (event == XACT_EVENT_COMMIT)
        relay_wake_worker(); // the messages are in the WAL now
    }
    break;
  }
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subid, SubTransactionId, void *) {
  if (event == SUBXACT_EVENT_ABORT_SUB && first_queue)
    discard_since(subid);
}

} // namespace

namespace {

// The transaction arena as pack_row()'s store (message_packer.hpp): rows are
// packed as they arrive, so an oversized row costs no memory until commit.
struct ArenaStore {
  PendingQueue *queue;
  ChangeTarget *target;

  PackedMessage *open_message() {
    QueuedMessage *message = open_message_for(queue, target);
    return message ? &message->packed : nullptr;
  }
  PackedMessage *start_message() {
    return &ectowatch::start_message(queue, queue->prefix, queue->prefix_length, target->delivery)->packed;
  }
  void append(const char *data, std::size_t length) { append_bytes(queue, data, length); }
};

} // namespace

void pending_add_row(ChangeTarget *target, std::string_view row, int key_length) {
  PendingQueue *queue = queue_for(target);
  mark_subtransaction(queue);
  ArenaStore store{queue, target};
  // open_message_for (called first by pack_row) sets the queue's prefix.
  pack_row(store, row_capacity(static_cast<std::size_t>(target->rows_prefix_length)), row,
           static_cast<std::size_t>(key_length));
}

void pending_add_message(ChangeTarget *target, const char *message) {
  PendingQueue *queue = queue_for(target);
  mark_subtransaction(queue);
  QueuedMessage *whole = start_message(queue, nullptr, 0, target->delivery);
  uint64 length = strlen(message);
  append_bytes(queue, message, length);
  whole->packed.length = length;
}

void register_pending_changes_callbacks() {
  RegisterXactCallback(on_transaction_event, nullptr);
  RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace ectowatch
