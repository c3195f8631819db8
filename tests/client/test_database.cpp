#include "test_database.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace ectowatch::test {

std::string conninfo() { return ""; }

namespace {

std::string run(const std::string &statement) {
  PGconn *conn = PQconnectdb(conninfo().c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("test database: " + message);
  }
  PQsetNoticeProcessor(
      conn, [](void *, const char *) {}, nullptr);
  PGresult *result = PQexec(conn, statement.c_str());
  auto status = PQresultStatus(result);
  std::string value;
  std::string error = PQresultErrorMessage(result);
  if (status == PGRES_TUPLES_OK && PQntuples(result) > 0)
    value = PQgetvalue(result, 0, 0);
  PQclear(result);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw std::runtime_error("test SQL failed: " + statement + ": " + error);
  return value;
}

} // namespace

void sql(const std::string &statement) { run(statement); }
std::string sql_value(const std::string &statement) { return run(statement); }

std::string unique_name(const std::string &stem) {
  static std::atomic<int> counter{0};
  return stem + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
}

std::set<int> ids(int from, int to) {
  std::set<int> result;
  for (int id = from; id <= to; ++id)
    result.insert(id);
  return result;
}

bool eventually(const std::function<bool()> &done, const std::function<void()> &step,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (step)
      step();
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

} // namespace ectowatch::test
