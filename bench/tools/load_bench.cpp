// The batch loader against the naive pattern, where each subscriber runs its
// own query per event:
//   load_bench loader|naive SUBSCRIBERS KEYS RATE SECONDS WINDOW_MS
// Table bench_load (KEYS rows, watcher bench_load_updated) gets RATE
// single-row UPDATEs per second of random keys for SECONDS; each UPDATE
// bumps the row's version n, and the writer records when each version
// committed. A version is loaded when a subscriber's callback gets its row at
// that version or later: commit -> loaded latency, measured for the first and
// the last subscriber (called first and last: the spread of the others lies
// between). Prints one line: "queries_per_s rows_per_s p50_ms p99_ms
// loaded_fraction writes_per_s" (loaded_fraction: of the versions written,
// the share those two saw before the end; below 1 the pattern fell behind).
#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

PGconn *connect() {
  PGconn *conn = PQconnectdb("");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "load_bench: " << PQerrorMessage(conn);
    std::exit(1);
  }
  return conn;
}

void exec(PGconn *conn, const std::string &sql) {
  PGresult *result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
    std::cerr << "load_bench: " << sql << ": " << PQresultErrorMessage(result);
    std::exit(1);
  }
  PQclear(result);
}

// Versions of each key, when they committed, and how far each subscriber got.
struct Ledger {
  std::mutex mutex;
  std::vector<std::vector<Clock::time_point>> commits; // [key][version - 1]
  std::vector<std::vector<long>> seen;                 // [tracked subscriber][key]: versions accounted for
  std::vector<std::uint64_t> histogram;                // latency in 0.1 ms steps
  std::size_t loaded = 0;
  static constexpr std::size_t kBuckets = 600'000; // up to 60 s

  Ledger(int keys) : commits(static_cast<std::size_t>(keys) + 1), seen(2), histogram(kBuckets + 1, 0) {
    for (auto &row : seen)
      row.assign(static_cast<std::size_t>(keys) + 1, 0);
  }
  double quantile(double q) const {
    auto wanted = static_cast<std::uint64_t>(q * static_cast<double>(loaded));
    std::uint64_t sum = 0;
    for (std::size_t bucket = 0; bucket < histogram.size(); ++bucket) {
      sum += histogram[bucket];
      if (sum > wanted)
        return static_cast<double>(bucket) / 10.0;
    }
    return static_cast<double>(kBuckets) / 10.0;
  }
  void committed(int key, long version, Clock::time_point at) {
    std::lock_guard lock(mutex);
    auto &list = commits[static_cast<std::size_t>(key)];
    if (static_cast<long>(list.size()) < version)
      list.resize(static_cast<std::size_t>(version), Clock::time_point::max());
    list[static_cast<std::size_t>(version - 1)] = at;
  }
  // Subscriber `who` got `key` at `version`: every version up to it that
  // committed before now is loaded.
  void got(int who, int key, long version, Clock::time_point now) {
    std::lock_guard lock(mutex);
    long &done = seen[static_cast<std::size_t>(who)][static_cast<std::size_t>(key)];
    auto &list = commits[static_cast<std::size_t>(key)];
    for (long v = done + 1; v <= version && v <= static_cast<long>(list.size()); ++v) {
      Clock::time_point at = list[static_cast<std::size_t>(v - 1)];
      if (at == Clock::time_point::max() || at > now)
        break; // the writer has not recorded it yet: counted by a later delivery
      auto tenths = static_cast<std::size_t>(std::chrono::duration<double, std::milli>(now - at).count() * 10.0);
      ++histogram[std::min(tenths, kBuckets)];
      ++loaded;
      done = v;
    }
  }
};

} // namespace

int main(int argc, char **argv) {
  if (argc != 7) {
    std::cerr << "usage: load_bench loader|naive SUBSCRIBERS KEYS RATE SECONDS WINDOW_MS\n";
    return 2;
  }
  const std::string mode = argv[1];
  const int subscribers = std::atoi(argv[2]), keys = std::atoi(argv[3]), rate = std::atoi(argv[4]),
            seconds = std::atoi(argv[5]), window_ms = std::atoi(argv[6]);
  const bool naive = mode == "naive";

  PGconn *writer = connect();
  exec(writer, "SET client_min_messages = warning");
  exec(writer, "DROP TABLE IF EXISTS bench_load CASCADE");
  exec(writer, "CREATE TABLE bench_load (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, payload text)");
  exec(writer,
       "INSERT INTO bench_load SELECT g, 0, md5(g::text) FROM generate_series(1, " + std::to_string(keys) + ") g");
  exec(writer, "SELECT ectowatch_watch('bench_load', 'updated')");
  exec(writer, "SET synchronous_commit = off");

  Ledger ledger(keys);
  // Latency is tracked for the first and the last subscriber (slot 0 and 1).
  auto tracked = [subscribers](int who) { return who == 0 ? 0 : who == subscribers - 1 ? 1 : -1; };
  ectowatch::Client client("");
  std::atomic<std::uint64_t> naive_queries{0}, naive_rows{0};
  PGconn *naive_reader = naive ? connect() : nullptr; // the naive subscribers' queries, one after another
  std::vector<ectowatch::Subscription> subscriptions;
  for (int who = 0; who < subscribers; ++who) {
    if (naive) {
      subscriptions.push_back(client.subscribe("bench_load_updated", [&, who](const ectowatch::Event &event) {
        std::string id = std::to_string(event.key<int>());
        const char *values[] = {id.c_str()};
        PGresult *result = PQexecParams(naive_reader, "SELECT id, n, payload FROM bench_load WHERE id = $1", 1, nullptr,
                                        values, nullptr, nullptr, 0);
        ++naive_queries;
        if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
          ++naive_rows;
          if (int slot = tracked(who); slot >= 0)
            ledger.got(slot, std::atoi(PQgetvalue(result, 0, 0)), std::atol(PQgetvalue(result, 0, 1)), Clock::now());
        }
        PQclear(result);
      }));
    } else {
      ectowatch::LoadOptions options;
      options.window = std::chrono::milliseconds(window_ms);
      subscriptions.push_back(client.subscribe_loaded(
          "bench_load_updated",
          [&, who](std::span<const ectowatch::LoadedRow> rows) {
            int slot = tracked(who);
            if (slot < 0)
              return;
            auto now = Clock::now();
            for (const ectowatch::LoadedRow &row : rows)
              if (!row.absent)
                ledger.got(slot, std::stoi(row.key[0].second), std::stol(row.find("n")->value()), now);
          },
          options));
    }
  }
  client.start();

  std::mt19937 random(42);
  std::uniform_int_distribution<int> pick(1, keys);
  const long total = static_cast<long>(rate) * seconds;
  auto start = Clock::now();
  long written = 0;
  for (long index = 0; index < total; ++index) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000L * index / rate));
    int key = pick(random);
    std::string sql = "UPDATE bench_load SET n = n + 1 WHERE id = " + std::to_string(key) + " RETURNING n";
    PGresult *result = PQexec(writer, sql.c_str());
    auto now = Clock::now();
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
      ledger.committed(key, std::atol(PQgetvalue(result, 0, 0)), now);
      ++written;
    }
    PQclear(result);
    if (now - start > std::chrono::seconds(seconds) + std::chrono::seconds(2))
      break; // the writer itself fell behind the rate: stop at the time given
  }
  double write_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The last window's load (rates are per second of writing: the few
  // queries of this tail belong to the writes before it).
  std::this_thread::sleep_for(std::chrono::milliseconds(window_ms + 500));
  client.stop();

  ectowatch::Stats stats = client.stats();
  double queries = naive ? static_cast<double>(naive_queries) : static_cast<double>(stats.load_queries);
  double rows = naive ? static_cast<double>(naive_rows) : static_cast<double>(stats.loaded_rows);
  std::lock_guard lock(ledger.mutex);
  double expected = static_cast<double>(written) * (subscribers > 1 ? 2 : 1);
  std::printf("%.0f %.0f %.1f %.1f %.3f %.0f\n", queries / write_seconds, rows / write_seconds, ledger.quantile(0.5),
              ledger.quantile(0.99), expected > 0 ? static_cast<double>(ledger.loaded) / expected : 0.0,
              static_cast<double>(written) / write_seconds);
  subscriptions.clear();
  if (naive_reader)
    PQfinish(naive_reader);
  exec(writer, "SELECT ectowatch_unwatch('bench_load_updated')");
  PQfinish(writer);
  return 0;
}
