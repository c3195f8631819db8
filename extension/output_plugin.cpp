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
#include "boundary.hpp"
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
void on_startup(LogicalDecodingContext *context, OutputPluginOptions *options, bool) {
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
}

// Marks a transaction that sent messages (txn->output_plugin_private).
char sent_messages;

// Row changes carry nothing of ours: only messages do.
void on_begin(LogicalDecodingContext *, ReorderBufferTXN *) {}
void on_change(LogicalDecodingContext *, ReorderBufferTXN *, Relation, ReorderBufferChange *) {}

void on_message(LogicalDecodingContext *context, ReorderBufferTXN *transaction, XLogRecPtr, bool transactional,
                const char *prefix, Size size, const char *message) {
  // Non-transactional messages would be sent even for rolled-back work.
  const auto *state = static_cast<const PluginState *>(context->output_plugin_private);
  if (!transactional || strcmp(prefix, state->prefix) != 0)
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
