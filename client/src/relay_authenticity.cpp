#include "relay_authenticity.hpp"

#include "ectowatch/errors.hpp"

#include <algorithm>
#include <vector>

namespace ectowatch::detail {

namespace {

// "a,b" -> {"a", "b"}; "" -> {} (string_agg of pids and of labels, which have no comma).
std::vector<std::string> split_list(const std::string &text) {
  std::vector<std::string> items;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// The relay labels, then the worker's pid (read only when a message needs
// it: the status view costs more than the LISTEN it would ride along with).
constexpr const char *kRelayLabelsQuery =
    "SELECT string_agg(label, ',') FROM ectowatch_watchers WHERE delivery = 'relay'";
constexpr const char *kRelayQuery =
    "SELECT (SELECT string_agg(label, ',') FROM ectowatch_watchers WHERE delivery = 'relay'), "
    "(SELECT string_agg(pid::text, ',') FROM ectowatch_relay_status "
    "WHERE database = current_database() AND pid IS NOT NULL)";
// A row when this database's relay worker runs (the function, not the status
// view, which reads pg_current_wal_lsn() and so fails on a standby).
constexpr const char *kRelayRunningQuery =
    "SELECT 1 FROM ectowatch_relay_workers() WHERE database = current_database() AND state = 'running'";

} // namespace

void RelayAuthenticity::apply(const PgConnection::Rows &rows) {
  if (rows.empty() || rows[0].empty())
    return;
  labels_.clear();
  for (std::string &label : split_list(rows[0][0].value_or("")))
    labels_.insert(std::move(label));
  if (rows[0].size() > 1)
    for (const std::string &pid : split_list(rows[0][1].value_or("")))
      pids_.insert(std::stoi(pid));
}

// A server without the relay (extension before 0.3.0) has neither.
void RelayAuthenticity::refresh(PgConnection &on) {
  try {
    apply(on.simple_query(kRelayQuery));
  } catch (const SqlError &) {
    // No relay on this server: nothing is relayed, every "lsn" is forged.
  }
}

void RelayAuthenticity::listen(PgConnection &on, const std::string &channel) {
  try {
    apply(on.simple_query("LISTEN " + on.quote_identifier(channel) + "; " + kRelayLabelsQuery));
  } catch (const SqlError &) {
    on.listen(channel); // no relay on this server (both ran in one implicit transaction)
  }
}

bool RelayAuthenticity::authentic(PgConnection &on, std::string_view label, bool relayed, int sender_pid) {
  if (!relayed && (labels_.empty() || !labels_.count(label)))
    return true; // direct NOTIFY: cannot be told apart (docs/guarantees.md)
  if (pids_.count(sender_pid)) {
    // Labels are read at connect; a relay watcher created since is learned
    // from its first relayed message.
    if (relayed && !labels_.count(label))
      labels_.emplace(label);
    return true;
  }
  refresh(on);
  if (pids_.count(sender_pid))
    return true;
  if (relayed || !labels_.count(label))
    return !relayed;
  // A relay watcher's message sent directly: the writer falls back to
  // NOTIFY when the relay cannot run for it (pending_changes.cpp), and did
  // not wait for a starting worker. Neither does this check: it runs under
  // the client's I/O lock, and ectowatch_relay_unavailable() can wait 5 s
  // for a starting worker, then count a fallback sent meanwhile as forged.
  try {
    return !on.query_value(kRelayRunningQuery, {}).has_value();
  } catch (const SqlError &) {
    // An extension before 0.5.0 has no state column.
  }
  try {
    return on.query_value("SELECT ectowatch_relay_unavailable()", {}).has_value();
  } catch (const SqlError &) {
    return false;
  }
}

std::exception_ptr RelayAuthenticity::forged(std::string_view channel, std::string_view payload, int sender_pid,
                                             const char *why) {
  return std::make_exception_ptr(ForgedMessage("forged message on channel \"" + std::string(channel) +
                                                   "\", not delivered: " + why + ", but it was sent by backend " +
                                                   std::to_string(sender_pid) +
                                                   ", not by this database's relay worker (ectowatch_relay_status)",
                                               std::string(channel), std::string(payload), sender_pid));
}

} // namespace ectowatch::detail
