// Authenticity of relayed messages. Any role that can connect can NOTIFY any
// channel. Relayed messages are sent only by this database's relay worker,
// and they alone carry "lsn": so a message with "lsn", a message on a label
// whose watcher has delivery 'relay', and a relay_lost resync must come from
// the worker's backend. What is known is checked against the server again
// before anything is called forged (a restarted worker has a new pid; a
// watcher may have changed its delivery), so only a real mismatch costs a
// query. Used by NotifySource under its runtime's I/O mutex.
#pragma once

#include "pg_connection.hpp"

#include <exception>
#include <set>
#include <string>
#include <string_view>

namespace ectowatch::detail {

class RelayAuthenticity {
public:
  // A new connection: worker pids are learned again.
  void reset() { pids_.clear(); }
  // LISTEN `channel`, and read the relay labels in the same round trip (a
  // connect costs no more round trips than before; new subscriptions LISTEN
  // alone: even this query made the CLI's start measurably slower).
  void listen(PgConnection &on, const std::string &channel);
  // Whether a notification on `label` from `sender_pid` may be genuine.
  // `relayed`: it carries "lsn" (or is a relay_lost resync).
  bool authentic(PgConnection &on, std::string_view label, bool relayed, int sender_pid);
  // The error reported instead of delivering a forged message.
  static std::exception_ptr forged(std::string_view channel, std::string_view payload, int sender_pid, const char *why);

private:
  void apply(const PgConnection::Rows &rows);
  void refresh(PgConnection &on);

  std::set<int> pids_;                        // relay workers of this database seen so far
  std::set<std::string, std::less<>> labels_; // labels whose watcher has delivery 'relay'
};

} // namespace ectowatch::detail
