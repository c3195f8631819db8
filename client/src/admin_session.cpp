#include "admin_session.hpp"

#include "message_decoder.hpp"
#include "replication_stream.hpp"

#include <cstdio>

namespace ectowatch::detail {

namespace {

// A text[] literal; every element quoted. Nothing for an empty list.
std::optional<std::string> array_literal(const std::vector<std::string> &columns) {
  if (columns.empty())
    return std::nullopt;
  std::string literal = "{";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    literal += i ? ",\"" : "\"";
    for (char c : columns[i]) {
      if (c == '"' || c == '\\')
        literal.push_back('\\');
      literal.push_back(c);
    }
    literal += "\"";
  }
  return literal + "}";
}

} // namespace

std::optional<std::string> AdminSession::query_value(const char *what, const std::string &sql,
                                                     const std::vector<std::optional<std::string>> &params) {
  std::optional<std::string> value;
  run_(what, [&](PgConnection &on) { value = on.query_value(sql, params); });
  return value;
}

std::string AdminSession::watch(const std::string &table, Op op, const WatchOptions &options) {
  auto label =
      query_value("watch",
                  "SELECT ectowatch_watch($1::regclass, $2, label => $3, trigger_columns => $4::text[], "
                  "extra_columns => $5::text[], key_columns => $6::text[], condition => $7, replicated => $8::boolean, "
                  "delivery => $9)",
                  {table, std::string(to_string(op)), options.label, array_literal(options.trigger_columns),
                   array_literal(options.extra_columns), array_literal(options.key_columns), options.condition,
                   std::string(options.replicated ? "true" : "false"), options.delivery});
  return label.value_or("");
}

bool AdminSession::unwatch(const std::string &label) {
  auto existed = query_value("unwatch", "SELECT ectowatch_unwatch($1)", {label});
  return existed == std::optional<std::string>("t");
}

std::vector<WatcherInfo> AdminSession::watchers() {
  auto json = query_value(
      "watchers",
      "SELECT json_agg(w ORDER BY w.label)::text FROM (SELECT label, table_name::text AS table_name, op, channel, "
      "key_columns, extra_columns, trigger_columns, condition, replicated, delivery FROM ectowatch_watchers) w",
      {});
  return decode_watchers(json.value_or(""));
}

namespace {

// The slots, then whether each is the relay slot of a database the relay does
// not serve (ectowatch_relay_workers() lists the served ones; without it,
// before 0.3.0, there is no relay and the column is false).
constexpr const char *kSlotsQuery =
    "SELECT slot_name, active, confirmed_flush_lsn, wal_status, "
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
    "ELSE pg_current_wal_lsn() END, restart_lsn)::bigint, %s "
    "FROM pg_replication_slots s WHERE plugin = 'ectowatch' AND database = current_database() "
    "ORDER BY slot_name";
constexpr const char *kUnlistedRelay =
    "s.slot_name = 'ectowatch_relay_' || (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND NOT EXISTS (SELECT 1 FROM ectowatch_relay_workers() w WHERE w.database = current_database())";

std::string slots_query(const char *unlisted) {
  char text[1024];
  std::snprintf(text, sizeof text, kSlotsQuery, unlisted);
  return text;
}

} // namespace

std::vector<SlotInfo> AdminSession::slots() {
  PgConnection::Rows rows;
  run_("slots", [&](PgConnection &on) {
    try {
      rows = on.simple_query(slots_query(kUnlistedRelay));
    } catch (const SqlError &) {
      rows = on.simple_query(slots_query("false"));
    }
  });
  std::vector<SlotInfo> slots;
  for (const auto &row : rows) {
    SlotInfo info;
    info.name = row[0].value_or("");
    info.active = row[1] == std::optional<std::string>("t");
    info.confirmed_lsn = row[2].value_or("");
    info.wal_status = row[3].value_or("");
    if (row[4])
      info.wal_bytes = std::stoll(*row[4]);
    info.unlisted_relay = row[5] == std::optional<std::string>("t");
    slots.push_back(std::move(info));
  }
  return slots;
}

bool AdminSession::drop_slot(const std::string &name) {
  check_slot_name(name);
  auto dropped = query_value("drop_slot",
                             "SELECT pg_drop_replication_slot(slot_name) IS NULL FROM pg_replication_slots "
                             "WHERE slot_name = $1 AND plugin = 'ectowatch' AND database = current_database()",
                             {name});
  return dropped.has_value();
}

std::optional<std::string> AdminSession::extension_version() {
  return query_value("extension_version", "SELECT extversion FROM pg_extension WHERE extname = 'ectowatch'", {});
}

// The timeline is the current WAL file's (pg_walfile_name), not the last
// checkpoint's: after a promotion the checkpoint can lag for minutes.
std::string AdminSession::source_id() {
  auto id = query_value("source_id",
                        "SELECT s.system_identifier || '-' || "
                        "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int || '-' || d.oid "
                        "FROM pg_control_system() s, pg_database d WHERE d.datname = current_database()",
                        {});
  if (!id)
    throw ProtocolError("source_id: the server returned no system identifier", "", "");
  return *id;
}

} // namespace ectowatch::detail
