// The loader's own libpq connection (LoadRunner): opened when first needed,
// reopened with the client's backoff after a loss; it reads each table's key
// types from the catalog once and runs the batch queries of load_sql.hpp.
#pragma once

#include "ectowatch/client.hpp"

#include "load_runner.hpp"
#include "load_sql.hpp"
#include "pg_connection.hpp"
#include "reconnect_policy.hpp"

#include <map>
#include <memory>

namespace ectowatch::detail {

class LoadConnection : public LoadRunner {
public:
  LoadConnection(std::string conninfo, const ClientOptions &options);

  bool ready(Clock::time_point now) override;
  Clock::time_point next_attempt() const override { return reconnect_.next_attempt(); }
  std::vector<FoundRow> load(const LoadRequest &request) override;
  bool broken() const override { return !connection_; }

private:
  const std::vector<KeyType> &key_types(const LoadRequest &request);
  void check_result(const void *result);

  const std::string conninfo_;
  const std::string application_name_;
  const int connect_timeout_seconds_;
  std::unique_ptr<PgConnection> connection_;
  ReconnectPolicy reconnect_;
  std::map<std::string, std::vector<KeyType>> key_types_; // by table and key columns
};

} // namespace ectowatch::detail
