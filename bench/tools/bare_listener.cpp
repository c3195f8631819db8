// A bare libpq listener: the baseline every listener is compared with.
//   bare_listener drain CHANNEL...     drain forever; on a `bench_control`
//                                      notification "report FILE" write
//                                      "channel notifications rows" lines to FILE
//   bare_listener throughput CHANNEL N print notifications/s for N notifications
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

namespace {

PGconn *connect_and_listen(int count, char **channels) {
  PGconn *conn = PQconnectdb("");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "bare_listener: " << PQerrorMessage(conn);
    std::exit(1);
  }
  for (int i = 0; i < count; ++i) {
    char *quoted = PQescapeIdentifier(conn, channels[i], std::strlen(channels[i]));
    PQclear(PQexec(conn, (std::string("LISTEN ") + quoted).c_str()));
    PQfreemem(quoted);
  }
  return conn;
}

// Rows in a payload: an ectowatch message counts its row objects, anything else is one row.
long rows_in(const char *payload) {
  if (std::strncmp(payload, "{\"v\":1", 6) != 0)
    return 1;
  long rows = 0;
  for (const char *p = std::strstr(payload, "\"rows\":["); p && (p = std::strstr(p, "{\"id\":")); ++p)
    ++rows;
  return rows;
}

template <typename OnNotify> void loop(PGconn *conn, OnNotify on_notify) {
  for (;;) {
    pollfd fd{PQsocket(conn), POLLIN, 0};
    ::poll(&fd, 1, 1000);
    if (!PQconsumeInput(conn)) {
      std::cerr << "bare_listener: " << PQerrorMessage(conn);
      std::exit(1);
    }
    while (PGnotify *notify = PQnotifies(conn)) {
      bool done = on_notify(notify);
      PQfreemem(notify);
      if (done)
        return;
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  if (argc >= 3 && std::strcmp(argv[1], "drain") == 0) {
    const std::string control = "bench_control";
    PGconn *conn = connect_and_listen(argc - 2, argv + 2);
    PQclear(PQexec(conn, "LISTEN bench_control"));
    std::map<std::string, std::pair<long, long>> counts;
    loop(conn, [&](PGnotify *notify) {
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
    long wanted = std::atol(argv[3]);
    PGconn *conn = connect_and_listen(1, argv + 2);
    std::cout << "ready" << std::endl;
    long received = 0;
    auto first = std::chrono::steady_clock::now();
    loop(conn, [&](PGnotify *) {
      if (received++ == 0)
        first = std::chrono::steady_clock::now();
      return received == wanted;
    });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
    std::cout << static_cast<long>(received / seconds) << std::endl;
  } else {
    std::cerr << "usage: bare_listener drain CHANNEL... | throughput CHANNEL N\n";
    return 2;
  }
}
