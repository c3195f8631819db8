// The ectowatch client as a listener: client_throughput LABEL N [KEY_SUBSCRIPTIONS]
// prints rows/s received, decoded and dispatched to one subscriber for N rows,
// its CPU per row and the machine probe (rate_report.hpp).
// KEY_SUBSCRIPTIONS extra Key subscriptions (ids that never arrive) are registered too.
#include "rate_report.hpp"

#include <ectowatch/ectowatch.hpp>

#include <poll.h>

#include <chrono>
#include <iostream>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: client_throughput LABEL N [KEY_SUBSCRIPTIONS]\n";
    return 2;
  }
  std::string label = argv[1];
  long wanted = std::atol(argv[2]);
  long keys = argc > 3 ? std::atol(argv[3]) : 0;
  ectowatch::Client client("");
  long received = 0;
  auto first = std::chrono::steady_clock::now();
  auto all = client.subscribe(label, [&](const ectowatch::Event &event) {
    if (received++ == 0)
      first = std::chrono::steady_clock::now();
    (void)event.row();
  });
  std::vector<ectowatch::Subscription> by_key;
  for (long k = 0; k < keys; ++k)
    by_key.push_back(client.subscribe(label, ectowatch::Key{-1 - k}, [](const ectowatch::Event &) {}));
  bench::RateReport report;
  std::cout << "ready" << std::endl;
  while (received < wanted) {
    pollfd fd{client.socket(), POLLIN, 0};
    ::poll(&fd, 1, 1000);
    client.process();
  }
  report.print(received, first);
}
