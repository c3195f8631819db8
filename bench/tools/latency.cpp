// Commit-to-callback latency through the ectowatch client:
//   latency LABEL TABLE RATE SECONDS [sync]
// A writer connection inserts one row per transaction at RATE per second; the
// time from the INSERT's return (it commits) to the subscriber's callback is
// recorded per row. Prints "p50_us p99_us rows". The writer commits with
// synchronous_commit = off unless `sync` is given (the relay reads only
// flushed WAL, so relayed latency is measured with durable commits).
#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

using Clock = std::chrono::steady_clock;

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: latency LABEL TABLE RATE SECONDS [sync]\n";
    return 2;
  }
  std::string label = argv[1], table = argv[2];
  int rate = std::atoi(argv[3]), seconds = std::atoi(argv[4]);

  std::mutex mutex;
  std::unordered_map<long, Clock::time_point> committed, received;
  ectowatch::Client client("");
  auto subscription = client.subscribe(label, [&](const ectowatch::Event &event) {
    auto now = Clock::now();
    std::lock_guard lock(mutex);
    received[event.row().get<std::int64_t>("id")] = now;
  });
  client.start();

  PGconn *writer = PQconnectdb("");
  PQclear(PQexec(writer, ("TRUNCATE " + table).c_str()));
  if (argc == 5)
    PQclear(PQexec(writer, "SET synchronous_commit = off"));
  long total = static_cast<long>(rate) * seconds;
  auto start = Clock::now();
  for (long id = 1; id <= total; ++id) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000L * id / rate));
    std::string sql = "INSERT INTO " + table + " (id) VALUES (" + std::to_string(id) + ")";
    PQclear(PQexec(writer, sql.c_str()));
    auto now = Clock::now();
    std::lock_guard lock(mutex);
    committed[id] = now;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  client.stop();
  PQfinish(writer);

  std::vector<double> micros;
  for (auto &[id, at] : committed) {
    auto found = received.find(id);
    if (found != received.end())
      micros.push_back(std::max(0.0, std::chrono::duration<double, std::micro>(found->second - at).count()));
  }
  std::sort(micros.begin(), micros.end());
  if (micros.empty()) {
    std::cerr << "latency: nothing received\n";
    return 1;
  }
  std::cout << static_cast<long>(micros[micros.size() / 2]) << " "
            << static_cast<long>(micros[std::min(micros.size() - 1, micros.size() * 99 / 100)]) << " " << micros.size()
            << std::endl;
}
