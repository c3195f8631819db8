#include "pending_changes.hpp"

#include "boundary.hpp"
#include "message_packer.hpp"

#include <memory>
#include <string>

namespace ectowatch {

namespace {

enum class EntryKind : uint8 {
  header,      // the rows prefix used by the rows that follow
  row,         // a rendered row object
  dropped_row, // a row whose key alone is too big for any message
  message,     // a complete message (TRUNCATE)
};

struct Entry {
  uint64 offset; // into the queue's arena
  uint32 length;
  uint32 key_length;
  SubTransactionId subid;
  EntryKind kind;
  bool truncated;
};

} // namespace

struct PendingQueue {
  char label[NAMEDATALEN]; // hash key: the channel
  PendingQueue *next;      // queues in order of first use
  Entry *entries;
  uint64 count;
  uint64 capacity;
  char *arena;
  uint64 arena_used;
  uint64 arena_size;
  // The header the next row must match; bumped whenever it changes.
  int64 header_index; // -1: none yet
  uint64 header_version;
};

namespace {

MemoryContext pending_context = nullptr;
HTAB *queues_by_label = nullptr;
PendingQueue *first_queue = nullptr;
PendingQueue *last_queue = nullptr;
// Bumped at every reset, so stale ChangeTarget caches are noticed.
uint64 generation = 1;

void reset_pending_changes() {
  // The memory belongs to TopTransactionContext and goes with it.
  pending_context = nullptr;
  queues_by_label = nullptr;
  first_queue = last_queue = nullptr;
  ++generation;
}

uint64 pending_entry_count() {
  uint64 total = 0;
  for (PendingQueue *queue = first_queue; queue; queue = queue->next)
    for (uint64 i = 0; i < queue->count; ++i)
      if (queue->entries[i].kind != EntryKind::header)
        ++total;
  return total;
}

PendingQueue *queue_for(ChangeTarget *target) {
  if (target->queue && target->queue_generation == generation)
    return target->queue;
  if (!pending_context) {
    pending_context = AllocSetContextCreate(TopTransactionContext, "ectowatch pending changes", ALLOCSET_DEFAULT_SIZES);
    HASHCTL control;
    control.keysize = NAMEDATALEN;
    control.entrysize = sizeof(PendingQueue);
    control.hcxt = pending_context;
    queues_by_label = hash_create("ectowatch queues", 16, &control, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
  }
  bool found;
  auto *queue = static_cast<PendingQueue *>(hash_search(queues_by_label, target->label, HASH_ENTER, &found));
  if (!found) {
    queue->next = nullptr;
    queue->count = 0;
    queue->capacity = 64;
    queue->entries = static_cast<Entry *>(MemoryContextAlloc(pending_context, sizeof(Entry) * queue->capacity));
    queue->arena_used = 0;
    queue->arena_size = 8192;
    queue->arena = static_cast<char *>(MemoryContextAlloc(pending_context, queue->arena_size));
    queue->header_index = -1;
    queue->header_version = 1;
    if (last_queue)
      last_queue->next = queue;
    else
      first_queue = queue;
    last_queue = queue;
  }
  target->queue = queue;
  target->queue_generation = generation;
  target->checked_header_version = 0;
  return queue;
}

void append_entry(PendingQueue *queue, EntryKind kind, const char *data, uint32 length, uint32 key_length,
                  bool truncated) {
  if (queue->count == queue->capacity) {
    queue->capacity *= 2;
    queue->entries = static_cast<Entry *>(repalloc_huge(queue->entries, sizeof(Entry) * queue->capacity));
  }
  if (queue->arena_used + length > queue->arena_size) {
    while (queue->arena_used + length > queue->arena_size)
      queue->arena_size *= 2;
    queue->arena = static_cast<char *>(repalloc_huge(queue->arena, queue->arena_size));
  }
  memcpy(queue->arena + queue->arena_used, data, length);
  Entry &entry = queue->entries[queue->count++];
  entry.offset = queue->arena_used;
  entry.length = length;
  entry.key_length = key_length;
  entry.subid = GetCurrentSubTransactionId();
  entry.kind = kind;
  entry.truncated = truncated;
  queue->arena_used += length;
}

// Makes sure the rows that follow are packed under `target`'s prefix.
void ensure_header(PendingQueue *queue, ChangeTarget *target) {
  if (target->checked_header_version == queue->header_version)
    return;
  bool matches = false;
  if (queue->header_index >= 0) {
    const Entry &header = queue->entries[queue->header_index];
    matches = header.length == static_cast<uint32>(target->rows_prefix_length) &&
              memcmp(queue->arena + header.offset, target->rows_prefix, header.length) == 0;
  }
  if (!matches) {
    append_entry(queue, EntryKind::header, target->rows_prefix, target->rows_prefix_length, 0, false);
    queue->header_index = static_cast<int64>(queue->count - 1);
    ++queue->header_version;
  }
  target->checked_header_version = queue->header_version;
}

// Forgets what the aborted subtransaction (and its children) added: every
// entry with a subtransaction id at or above it, always a tail of the queue.
void discard_since(SubTransactionId aborted) {
  for (PendingQueue *queue = first_queue; queue; queue = queue->next) {
    uint64 keep = queue->count;
    while (keep > 0 && queue->entries[keep - 1].subid >= aborted)
      --keep;
    if (keep == queue->count)
      continue;
    queue->arena_used = queue->entries[keep].offset;
    queue->count = keep;
    if (queue->header_index >= static_cast<int64>(keep)) {
      queue->header_index = -1;
      for (int64 i = static_cast<int64>(keep) - 1; i >= 0; --i)
        if (queue->entries[i].kind == EntryKind::header) {
          queue->header_index = i;
          break;
        }
      ++queue->header_version;
    }
  }
}

void notify(const char *channel, const std::string &payload) {
  call_postgres([&] { Async_Notify(channel, payload.c_str()); });
}

void send_queue(const PendingQueue *queue) {
  const char *channel = queue->label;
  MessagePacker::Sink sink = [channel](const std::string &message) { notify(channel, message); };
  std::unique_ptr<MessagePacker> packer;
  for (uint64 i = 0; i < queue->count; ++i) {
    const Entry &entry = queue->entries[i];
    std::string_view text(queue->arena + entry.offset, entry.length);
    switch (entry.kind) {
    case EntryKind::header:
      if (packer)
        packer->flush();
      packer = std::make_unique<MessagePacker>(text, sink);
      break;
    case EntryKind::row:
      packer->add_row(text, entry.key_length, entry.truncated);
      break;
    case EntryKind::dropped_row:
      packer->add_dropped();
      break;
    case EntryKind::message:
      if (packer)
        packer->flush();
      sink(std::string(text));
      break;
    }
  }
  if (packer)
    packer->flush();
}

void send_all_pending() {
  for (PendingQueue *queue = first_queue; queue; queue = queue->next)
    send_queue(queue);
}

void on_transaction_event(XactEvent event, void *) {
  switch (event) {
  case XACT_EVENT_PRE_COMMIT:
    if (first_queue) {
      guarded_callback(send_all_pending);
      MemoryContext done = pending_context;
      reset_pending_changes();
      MemoryContextDelete(done);
    }
    break;
  case XACT_EVENT_PRE_PREPARE:
    if (first_queue) {
      uint64 lost = pending_entry_count();
      reset_pending_changes();
      if (lost > 0)
        ereport(WARNING, (errmsg("ectowatch: %llu change notification(s) of this transaction will not be sent",
                                 static_cast<unsigned long long>(lost)),
                          errdetail("PostgreSQL cannot send notifications from a prepared transaction."),
                          errhint("Subscribers that need these changes should reload when COMMIT PREPARED has run.")));
    }
    break;
  default:
    // COMMIT, ABORT, PREPARE and the parallel variants: nothing is left to send.
    if (first_queue || pending_context)
      reset_pending_changes();
    break;
  }
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subid, SubTransactionId, void *) {
  if (event == SUBXACT_EVENT_ABORT_SUB && first_queue)
    discard_since(subid);
}

} // namespace

void pending_add_row(ChangeTarget *target, char *row, int length, int key_length) {
  PendingQueue *queue = queue_for(target);
  ensure_header(queue, target);
  // Decide now what cannot fit, so an oversized row costs no memory until commit.
  const auto capacity = row_capacity(static_cast<std::size_t>(target->rows_prefix_length));
  if (static_cast<std::size_t>(length) <= capacity) {
    append_entry(queue, EntryKind::row, row, length, key_length, false);
  } else if (static_cast<std::size_t>(key_length) + 1 <= capacity) {
    // Key-only form: the key members and a closing brace.
    row[key_length] = '}';
    append_entry(queue, EntryKind::row, row, key_length + 1, key_length, true);
  } else {
    append_entry(queue, EntryKind::dropped_row, "", 0, 0, false);
  }
}

void pending_add_message(ChangeTarget *target, const char *message) {
  PendingQueue *queue = queue_for(target);
  append_entry(queue, EntryKind::message, message, strlen(message), 0, false);
}

void register_pending_changes_callbacks() {
  RegisterXactCallback(on_transaction_event, nullptr);
  RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace ectowatch
