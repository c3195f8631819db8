// The administrative statements of the client: watch(), unwatch(),
// watchers(), slots() and drop_slot(), as SQL. Where they run is the
// source's choice (the LISTEN connection, or a durable client's second
// connection): `run` is Runtime::run_query.
#pragma once

#include "ectowatch/client.hpp"
#include "pg_connection.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ectowatch::detail {

class AdminSession {
public:
  using Runner = std::function<void(const char *what, const std::function<void(PgConnection &)> &query)>;
  explicit AdminSession(Runner run) : run_(std::move(run)) {}

  std::string watch(const std::string &table, Op op, const WatchOptions &options);
  bool unwatch(const std::string &label);
  std::vector<WatcherInfo> watchers();
  std::vector<SlotInfo> slots();
  bool drop_slot(const std::string &name);
  // The extension's installed version in this database; nullopt when the
  // extension is not installed.
  std::optional<std::string> extension_version();
  std::string source_id();

private:
  std::optional<std::string> query_value(const char *what, const std::string &sql,
                                         const std::vector<std::optional<std::string>> &params);
  Runner run_;
};

} // namespace ectowatch::detail
