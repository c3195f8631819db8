// The relay worker of the test database (scripts/test puts the database in
// ectowatch.relay_databases), for the client suites that relay.
#pragma once

#include "test_database.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

namespace ectowatch::test {

// Its pid, "" while none runs.
inline std::string relay_worker_pid() {
  return sql_value("SELECT coalesce(pid::text, '') FROM ectowatch_relay_status WHERE database = current_database()");
}

// Terminates it and waits until the launcher has started another (after
// about a second); false after `timeout`.
inline bool restart_relay_worker(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::string before = relay_worker_pid();
  sql("SELECT pg_terminate_backend(" + before + ")");
  return eventually(
      [&] {
        std::string now = relay_worker_pid();
        return !now.empty() && now != before;
      },
      {}, timeout);
}

// A global fixture: the worker is up before the first test (the launcher
// starts it soon after the database appears in ectowatch.relay_databases).
struct RelayWorkerRunning {
  RelayWorkerRunning() {
    BOOST_REQUIRE_MESSAGE(eventually([] { return !relay_worker_pid().empty(); }, {}, std::chrono::seconds(60)),
                          "no relay worker for the test database (ectowatch_relay_status)");
  }
};

} // namespace ectowatch::test
