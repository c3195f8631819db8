// The libpq listening loop shared by bare_listener and decode_listener:
// PQconsumeInput/PQnotifies in a poll loop, as any libpq application writes it.
#pragma once

#include "rate_report.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

namespace bench {

inline PGconn *connect_and_listen(int count, char **channels) {
  PGconn *conn = PQconnectdb("");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "listener: " << PQerrorMessage(conn);
    std::exit(1);
  }
  for (int i = 0; i < count; ++i) {
    char *quoted = PQescapeIdentifier(conn, channels[i], std::strlen(channels[i]));
    PQclear(PQexec(conn, (std::string("LISTEN ") + quoted).c_str()));
    PQfreemem(quoted);
  }
  return conn;
}

// Calls on_notify(PGnotify *) for each notification until it returns true.
template <typename OnNotify> void loop(PGconn *conn, OnNotify on_notify) {
  for (;;) {
    pollfd fd{PQsocket(conn), POLLIN, 0};
    ::poll(&fd, 1, 1000);
    if (!PQconsumeInput(conn)) {
      std::cerr << "listener: " << PQerrorMessage(conn);
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

// LISTENs on `channel`, prints "ready", hands `wanted` notifications to
// on_notify(PGnotify *), then prints its rate, CPU and probe (rate_report.hpp).
template <typename OnNotify> void measure_throughput(char *channel, long wanted, OnNotify on_notify) {
  PGconn *conn = connect_and_listen(1, &channel);
  RateReport report;
  std::cout << "ready" << std::endl;
  long received = 0;
  auto first = std::chrono::steady_clock::now();
  loop(conn, [&](PGnotify *notify) {
    if (received++ == 0)
      first = std::chrono::steady_clock::now();
    on_notify(notify);
    return received == wanted;
  });
  report.print(received, first);
  PQfinish(conn);
}

} // namespace bench
