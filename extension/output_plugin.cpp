// The `ectowatch` logical decoding output plugin (durable and relayed delivery):
// a slot created with plugin 'ectowatch' streams exactly the transactional
// logical messages whose prefix is "ectowatch" (with option relay 'on':
// "ectowatch_relay", for the relay worker) (the same v1 JSON a NOTIFY
// would carry), one output row each, in commit order. Row changes and other
// prefixes produce nothing, so no publication is needed.
//
// After the messages of a transaction comes one empty row, written at the end
// of its commit record: a consumer that confirms that position never receives
// the transaction again, and knows where transactions end (a consumer stopped
// between two of them loses and repeats nothing).
//
// Only messages ectowatch wrote are streamed: each carries a MAC
// (message_auth.hpp), checked here and stripped. Any role may write a message
// with our prefixes (pg_logical_emit_message is executable by PUBLIC); one
// that fails the check is left out with a WARNING naming its transaction and
// position. Consumers are not told (no resync): the check cannot fail for a
// message ectowatch wrote with this cluster's key, so telling them would only
// let any role make every application reload at will. A message signed with
// an earlier key (the key file was replaced) stops decoding with an ERROR
// instead: those were ectowatch's, and skipping them would lose them silently.
#include "boundary.hpp"
#include "message_auth.hpp"
#include "pg_compat.hpp"
#include "relay.hpp"

namespace ectowatch {

namespace {

constexpr const char *kMessagePrefix = protocol::kMessagePrefix;

// What a slot streams (output_plugin_private).
struct PluginState {
  const char *prefix;
  // Messages are UTF-8 whatever the database encoding (docs/protocol.md).
  // NOTIFY payloads are converted by the server to each listener's
  // client_encoding when sent (async.c, pq_sendstring), but a walsender's
  // CopyData is sent as the plugin writes it: so here, and only here, the
  // plugin converts from the database encoding. Outside a walsender
  // (pg_logical_slot_get_changes, the relay worker, which sends with
  // NOTIFY) the output is text in the database encoding, converted like any
  // other. SQL_ASCII has no known encoding to convert from: ectowatch_watch
  // refuses such databases.
  bool to_utf8;
  MemoryContext conversions; // reset after each message: a walsender lives long
};

// Option relay 'on' (the relay worker's slot): stream the relayed messages
// (prefix "ectowatch_relay") instead of the durable ones.
void on_startup(LogicalDecodingContext *context, OutputPluginOptions *options, bool is_init) {
  options->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
  options->receive_rewrites = false;
  const char *prefix = kMessagePrefix;
  ListCell *cell;
  foreach (cell, context->output_plugin_options) {
    DefElem *option = static_cast<DefElem *>(lfirst(cell));
    if (strcmp(option->defname, "relay") == 0) {
      bool relay = false;
      if (option->arg && !parse_bool(strVal(option->arg), &relay))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("ectowatch: option relay must be on or off, not \"%s\"", strVal(option->arg))));
      prefix = relay || !option->arg ? kRelayMessagePrefix : kMessagePrefix;
    } else {
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("ectowatch: unknown output plugin option \"%s\"", option->defname),
                      errhint("The only option is relay (on or off).")));
    }
  }
  auto *state = static_cast<PluginState *>(MemoryContextAlloc(context->context, sizeof(PluginState)));
  state->prefix = prefix;
  int encoding = GetDatabaseEncoding();
  state->to_utf8 = am_walsender && encoding != PG_UTF8 && encoding != PG_SQL_ASCII;
  state->conversions =
      state->to_utf8 ? AllocSetContextCreate(context->context, "ectowatch conversions", ALLOCSET_SMALL_SIZES) : nullptr;
  context->output_plugin_private = state;
  // The key exists before any message this slot decodes is written (a new
  // slot), or from before the backlog an older ectowatch left unsigned.
  ensure_message_key(is_init);
}

// Marks a transaction that sent messages (txn->output_plugin_private).
char sent_messages;

// Row changes carry nothing of ours: only messages do. Skipping them still
// keeps the walsender answering (compat::skipped_change).
void on_begin(LogicalDecodingContext *, ReorderBufferTXN *) {}
void on_change(LogicalDecodingContext *context, ReorderBufferTXN *, Relation, ReorderBufferChange *) {
  compat::skipped_change(context);
}

// Whether the message is ectowatch's; `*size` becomes the size of its text.
bool authentic(ReorderBufferTXN *transaction, XLogRecPtr position, const char *prefix, const char *message,
               Size *size) {
  switch (check_message(prefix, transaction->xid, position, message, *size, size)) {
  case MessageCheck::genuine:
  case MessageCheck::legacy:
    return true;
  case MessageCheck::forged:
    // The transaction and position in the detail: the message stays the same
    // from run to run (tests print it with VERBOSITY terse).
    ereport(WARNING, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                      errmsg("ectowatch: ignored a message with prefix \"%s\" that ectowatch did not write", prefix),
                      errdetail("Transaction %u, WAL position %X/%X: its MAC is missing or wrong, so a role wrote it "
                                "with pg_logical_emit_message. It is not delivered.",
                                transaction->xid, static_cast<uint32>(position >> 32), static_cast<uint32>(position)),
                      errhint("REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text), "
                              "pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC keeps roles from "
                              "writing such messages.")));
    return false;
  case MessageCheck::earlier_key:
    break;
  }
  ereport(ERROR,
          (errcode(ERRCODE_DATA_CORRUPTED),
           errmsg("ectowatch: the message at WAL position %X/%X (transaction %u) was signed with a key this "
                  "cluster no longer has",
                  static_cast<uint32>(position >> 32), static_cast<uint32>(position), transaction->xid),
           errdetail("The file %s in the data directory was replaced or lost after the message was written.", kKeyFile),
           errhint("Restore %s from a backup of this data directory. To give these messages up instead, "
                   "advance the slot past the position with pg_replication_slot_advance and have the "
                   "applications reload their state.",
                   kKeyFile)));
}

void on_message(LogicalDecodingContext *context, ReorderBufferTXN *transaction, XLogRecPtr position, bool transactional,
                const char *prefix, Size size, const char *message) {
  // Non-transactional messages would be sent even for rolled-back work.
  const auto *state = static_cast<const PluginState *>(context->output_plugin_private);
  if (!transactional || strcmp(prefix, state->prefix) != 0 || !authentic(transaction, position, prefix, message, &size))
    return;
  OutputPluginPrepareWrite(context, true);
  if (state->to_utf8) {
    // A message has no NUL byte (JSON text), so the converted copy's length
    // is its strlen.
    MemoryContext caller = MemoryContextSwitchTo(state->conversions);
    const char *converted = pg_server_to_any(message, static_cast<int>(size), PG_UTF8);
    MemoryContextSwitchTo(caller);
    appendBinaryStringInfo(context->out, converted, static_cast<int>(strlen(converted)));
    MemoryContextReset(state->conversions);
  } else {
    appendBinaryStringInfo(context->out, message, static_cast<int>(size));
  }
  OutputPluginWrite(context, true);
  transaction->output_plugin_private = &sent_messages;
}

// The empty row that ends a transaction with messages; its position
// (context->write_location) is the end of the commit record.
void on_commit(LogicalDecodingContext *context, ReorderBufferTXN *transaction, XLogRecPtr) {
  if (transaction->output_plugin_private != &sent_messages)
    return;
  OutputPluginPrepareWrite(context, true);
  OutputPluginWrite(context, true);
}

} // namespace

} // namespace ectowatch

extern "C" {

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *callbacks);

void _PG_output_plugin_init(OutputPluginCallbacks *callbacks) {
  callbacks->startup_cb = ectowatch::on_startup;
  callbacks->begin_cb = ectowatch::on_begin;
  callbacks->change_cb = ectowatch::on_change;
  callbacks->commit_cb = ectowatch::on_commit;
  callbacks->message_cb = ectowatch::on_message;
}
}
