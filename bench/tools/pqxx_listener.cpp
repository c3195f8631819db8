// libpqxx (Debian's libpqxx-dev, 6.x) as a listener: pqxx_listener CHANNEL N
// prints notifications/s for N notifications, its CPU per notification and
// the machine probe (rate_report.hpp).
#include "rate_report.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <iostream>

namespace {

struct Counter : pqxx::notification_receiver {
  Counter(pqxx::connection_base &conn, const std::string &channel) : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string &, int) override {
    if (received++ == 0)
      first = std::chrono::steady_clock::now();
  }
  long received = 0;
  std::chrono::steady_clock::time_point first;
};

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: pqxx_listener CHANNEL N\n";
    return 2;
  }
  long wanted = std::atol(argv[2]);
  pqxx::connection conn;
  Counter counter(conn, argv[1]);
  conn.get_notifs(); // issues the LISTEN
  bench::RateReport report;
  std::cout << "ready" << std::endl;
  while (counter.received < wanted)
    conn.await_notification();
  report.print(counter.received, counter.first);
}
