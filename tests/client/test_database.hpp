// Helpers for client tests against the real server started by scripts/test
// (found through PGHOST, PGPORT, PGUSER, PGDATABASE).
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>

namespace ectowatch::test {

// The conninfo of the test database ("" = the PG* environment).
std::string conninfo();

// Runs SQL on a separate connection of its own (autocommit); throws on error.
void sql(const std::string &statement);
// Runs SQL and returns the first value of the first row.
std::string sql_value(const std::string &statement);

// A table name unique to this test run.
std::string unique_name(const std::string &stem);

// The ids from..to, for comparing with what arrived.
std::set<int> ids(int from, int to);

// Waits until `done` holds, calling `step` (e.g. client.process()) meanwhile.
// Returns false after `timeout`.
bool eventually(const std::function<bool()> &done, const std::function<void()> &step = {},
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace ectowatch::test
