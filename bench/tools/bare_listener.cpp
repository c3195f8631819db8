// A bare libpq listener: the baseline every listener is compared with.
//   bare_listener drain CHANNEL...     drain forever; on a `bench_control`
//                                      notification "report FILE" write
//                                      "channel notifications rows" lines to FILE
//   bare_listener throughput CHANNEL N print notifications/s, CPU µs per
//                                      notification and the machine probe
//                                      (rate_report.hpp) for N notifications
#include "notify_loop.hpp"

#include <fstream>
#include <map>

namespace {

// Rows in a payload: an ectowatch message counts its row objects, anything else is one row.
long rows_in(const char *payload) {
  if (std::strncmp(payload, "{\"v\":1", 6) != 0)
    return 1;
  long rows = 0;
  for (const char *p = std::strstr(payload, "\"rows\":["); p && (p = std::strstr(p, "{\"id\":")); ++p)
    ++rows;
  return rows;
}

} // namespace

int main(int argc, char **argv) {
  if (argc >= 3 && std::strcmp(argv[1], "drain") == 0) {
    const std::string control = "bench_control";
    PGconn *conn = bench::connect_and_listen(argc - 2, argv + 2);
    PQclear(PQexec(conn, "LISTEN bench_control"));
    std::map<std::string, std::pair<long, long>> counts;
    bench::loop(conn, [&](PGnotify *notify) {
      if (control == notify->relname) {
        std::string command = notify->extra;
        if (command.rfind("report ", 0) == 0) {
          std::ofstream out(command.substr(7));
          for (auto &[channel, count] : counts)
            out << channel << " " << count.first << " " << count.second << "\n";
          counts.clear();
        }
        return false;
      }
      auto &count = counts[notify->relname];
      ++count.first;
      count.second += rows_in(notify->extra);
      return false;
    });
  } else if (argc == 4 && std::strcmp(argv[1], "throughput") == 0) {
    bench::measure_throughput(argv[2], std::atol(argv[3]), [](PGnotify *) {});
  } else {
    std::cerr << "usage: bare_listener drain CHANNEL... | throughput CHANNEL N\n";
    return 2;
  }
}
