// Authenticity of the WAL messages ectowatch writes (durable and relayed
// delivery; issue 14). pg_logical_emit_message is executable by PUBLIC, so
// any role can write a message with ectowatch's prefixes; the output plugin
// must tell ectowatch's own from those.
//
// Every message ectowatch writes carries a trailer: a NUL byte, a version
// byte and an HMAC-SHA256 over the prefix, the database, the writing
// transaction's xid and the text. The key is random, made once per cluster
// and kept in the data directory (kKeyFile, mode 0600): no role but a
// superuser (or a member of pg_read_server_files) can read it, and
// pg_basebackup copies it with the rest. The output plugin checks the trailer
// and strips it, so consumers see the same v1 text as before.
//
// Plain C-style code that may raise a PostgreSQL ERROR: C++ callers wrap
// these calls in call_postgres (boundary.hpp).
#pragma once

#include "postgres_api.hpp"

extern "C" {
#include "access/xlogdefs.h"
}

namespace ectowatch {

// In the data directory (the working directory of every backend).
constexpr const char *kKeyFile = "ectowatch_message_key";

// Writes `text` as a transactional logical message with `prefix` and its
// trailer. Called at pre-commit (or pre-prepare) of the top-level
// transaction, whose xid the trailer binds.
void log_authenticated_message(const char *prefix, const char *text, size_t size);

// What the output plugin makes of a transactional message with one of
// ectowatch's prefixes.
enum class MessageCheck {
  genuine,     // written by ectowatch with this cluster's key: deliver, without the trailer
  legacy,      // no trailer, written before this cluster signed messages (ectowatch before message MACs): deliver
  forged,      // written since, and not by ectowatch: do not deliver
  earlier_key, // has a trailer, written before the current key existed: the key file was replaced
};

// `*text_size`: the size of the text to deliver (without the trailer).
// `exclude_own_slot`: the key may be created by this call while this
// backend's slot is being created (that slot holds no message from before).
MessageCheck check_message(const char *prefix, TransactionId xid, XLogRecPtr position, const char *message, Size size,
                           Size *text_size);

// Makes sure the key exists (the output plugin calls this when a slot starts:
// messages it will decode are then written after the key existed).
// `creating_slot`: this backend's slot is being created and holds nothing yet.
void ensure_message_key(bool creating_slot);

} // namespace ectowatch
