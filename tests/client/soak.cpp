// Soak: ROWS row events to one connected client; every id must arrive exactly
// once and the client's memory must stay flat.
//   soak ROWS        (scripts/test runs 100 000; bench/soak runs 1 000 000)
// Exit 0 on success; prints what it saw.
#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void run(PGconn *conn, const std::string &sql) {
  PGresult *result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
    std::cerr << "soak: " << sql << ": " << PQresultErrorMessage(result);
    std::exit(1);
  }
  PQclear(result);
}

} // namespace

int main(int argc, char **argv) {
  long rows = argc > 1 ? std::atol(argv[1]) : 100000;
  PGconn *writer = PQconnectdb("");
  if (PQstatus(writer) != CONNECTION_OK) {
    std::cerr << "soak: " << PQerrorMessage(writer);
    return 1;
  }
  PQsetNoticeProcessor(
      writer, [](void *, const char *) {}, nullptr);
  run(writer, "DROP TABLE IF EXISTS ectowatch_soak");
  run(writer, "CREATE TABLE ectowatch_soak (id bigint PRIMARY KEY)");
  run(writer, "SELECT ectowatch_watch('ectowatch_soak', 'inserted')");

  std::vector<std::uint8_t> seen(static_cast<std::size_t>(rows) + 1, 0);
  std::atomic<long> received{0}, duplicates{0}, out_of_range{0};
  std::atomic<long> errors{0}, resyncs{0};
  ectowatch::Client client("");
  client.on_error([&](const ectowatch::Error &error) {
    ++errors;
    std::cerr << "soak: " << error.what() << "\n";
  });
  client.on_resync([&] { ++resyncs; });
  auto subscription = client.subscribe("ectowatch_soak_inserted", [&](const ectowatch::Event &event) {
    auto id = event.row().get<std::int64_t>("id");
    if (id < 1 || id > rows)
      ++out_of_range;
    else if (seen[static_cast<std::size_t>(id)]++)
      ++duplicates;
    ++received;
  });
  client.start();

  // Transactions of 1, 10, 100 and 1000 rows in turn: packing of every size.
  long next = 1, round = 0, warm_kib = 0, peak_kib = 0;
  const long sizes[] = {1, 10, 100, 1000};
  while (next <= rows) {
    long count = std::min(sizes[round++ % 4], rows - next + 1);
    run(writer, "INSERT INTO ectowatch_soak SELECT generate_series(" + std::to_string(next) + ", " +
                    std::to_string(next + count - 1) + ")");
    next += count;
    if (round % 200 == 0) {
      long kib = resident_kib();
      if (next > rows / 5 && warm_kib == 0)
        warm_kib = kib; // after warm-up
      peak_kib = std::max(peak_kib, kib);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (received < rows && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300)); // anything extra would arrive now
  client.stop();
  run(writer, "DROP TABLE ectowatch_soak");
  PQfinish(writer);

  long missing = 0;
  for (long id = 1; id <= rows; ++id)
    missing += seen[static_cast<std::size_t>(id)] == 0;
  long growth = warm_kib ? peak_kib - warm_kib : 0;
  std::cout << "soak: " << rows << " rows sent, " << received << " received, " << missing << " missing, " << duplicates
            << " duplicated, " << out_of_range << " unexpected, " << errors << " errors, " << resyncs
            << " resyncs; client memory after warm-up " << warm_kib / 1024 << " MiB, peak " << peak_kib / 1024 << " MiB"
            << std::endl;
  bool ok = received == rows && missing == 0 && duplicates == 0 && out_of_range == 0 && errors == 0 && resyncs == 0 &&
            growth < 64 * 1024;
  std::cout << (ok ? "soak: ok" : "soak: FAILED") << std::endl;
  return ok ? 0 : 1;
}
