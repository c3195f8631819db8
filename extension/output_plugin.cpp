// The `ectowatch` logical decoding output plugin (durable delivery, issue 6):
// a slot created with plugin 'ectowatch' streams exactly the transactional
// logical messages whose prefix is "ectowatch" (the same v1 JSON a NOTIFY
// would carry), one output row each, in commit order. Row changes and other
// prefixes produce nothing, so no publication is needed.
//
// After the messages of a transaction comes one empty row, written at the end
// of its commit record: a consumer that confirms that position never receives
// the transaction again, and knows where transactions end (a consumer stopped
// between two of them loses and repeats nothing).
#include "boundary.hpp"

extern "C" {
#include "replication/logical.h"
#include "replication/output_plugin.h"
}

namespace ectowatch {

namespace {

constexpr const char *kMessagePrefix = "ectowatch";

void on_startup(LogicalDecodingContext *, OutputPluginOptions *options, bool) {
  options->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
  options->receive_rewrites = false;
}

// Marks a transaction that sent messages (txn->output_plugin_private).
char sent_messages;

// Row changes carry nothing of ours: only messages do.
void on_begin(LogicalDecodingContext *, ReorderBufferTXN *) {}
void on_change(LogicalDecodingContext *, ReorderBufferTXN *, Relation, ReorderBufferChange *) {}

void on_message(LogicalDecodingContext *context, ReorderBufferTXN *transaction, XLogRecPtr, bool transactional,
                const char *prefix, Size size, const char *message) {
  // Non-transactional messages would be sent even for rolled-back work.
  if (!transactional || strcmp(prefix, kMessagePrefix) != 0)
    return;
  OutputPluginPrepareWrite(context, true);
  appendBinaryStringInfo(context->out, message, static_cast<int>(size));
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
