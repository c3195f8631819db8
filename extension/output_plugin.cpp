// The `ectowatch` logical decoding output plugin (durable delivery, issue 6):
// a slot created with plugin 'ectowatch' streams exactly the transactional
// logical messages whose prefix is "ectowatch" (the same v1 JSON a NOTIFY
// would carry), one output row each, in commit order. Row changes and other
// prefixes produce nothing, so no publication is needed.
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

// Transactions and row changes carry nothing of ours: only messages do.
void on_begin(LogicalDecodingContext *, ReorderBufferTXN *) {}
void on_commit(LogicalDecodingContext *, ReorderBufferTXN *, XLogRecPtr) {}
void on_change(LogicalDecodingContext *, ReorderBufferTXN *, Relation, ReorderBufferChange *) {}

void on_message(LogicalDecodingContext *context, ReorderBufferTXN *, XLogRecPtr, bool transactional, const char *prefix,
                Size size, const char *message) {
  // Non-transactional messages would be sent even for rolled-back work.
  if (!transactional || strcmp(prefix, kMessagePrefix) != 0)
    return;
  OutputPluginPrepareWrite(context, true);
  appendBinaryStringInfo(context->out, message, static_cast<int>(size));
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
