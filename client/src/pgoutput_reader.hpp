// Durable delivery through PostgreSQL's built-in 'pgoutput' plugin, for
// servers that cannot load ectowatch's own (managed services). There the
// portable edition writes each message with pg_logical_emit_message(true,
// 'ectowatch', text), and pgoutput (option messages 'true', PostgreSQL 14+)
// sends it inside its transaction: B(egin), M(essage), C(ommit). This reader
// turns that binary protocol into exactly the output rows the 'ectowatch'
// plugin streams, so everything after ReplicationStream is the same: one row
// per transactional "ectowatch" message (at the message's WAL position), then
// one empty row at the end of the commit of a transaction that had any.
// Everything else (other prefixes, non-transactional messages, which are sent
// even for rolled-back work, relation and type descriptions) is skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace ectowatch::detail {

// The publication START_REPLICATION names. pgoutput checks no publication for
// messages: an empty one carries every message and no row change, and
// creating it needs only CREATE on the database (FOR ALL TABLES would need a
// superuser).
inline constexpr const char *kPgoutputPublication = "ectowatch_messages";

// START_REPLICATION's option list for pgoutput. Protocol version 1 is enough
// (no streaming of transactions in progress: a message arrives only once its
// transaction committed).
inline constexpr const char *kPgoutputOptions =
    "(proto_version '1', publication_names 'ectowatch_messages', messages 'true')";

class PgoutputReader {
public:
  using Row = std::function<void(std::uint64_t lsn, std::string_view text)>;

  // One pgoutput message, sent at WAL position `lsn` (XLogData's start).
  // Throws ConnectionError for a message too short for its kind (the stream
  // is then read again from the confirmed position).
  void read(std::uint64_t lsn, std::string_view data, const Row &row);

private:
  bool transaction_had_rows_ = false;
};

} // namespace ectowatch::detail
