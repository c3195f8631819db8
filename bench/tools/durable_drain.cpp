// A live durable consumer for the write-path benchmark:
//   durable_drain SLOT LABEL...
// reads the slot (created if missing) with the ectowatch client, counts the
// rows of LABEL... and confirms them, until SIGTERM or SIGINT; then prints the
// count and the process's CPU time (the walsender's decoding is not included).
#include <ectowatch/ectowatch.hpp>

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <iostream>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: durable_drain SLOT LABEL...\n";
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // the client's threads inherit the mask

  ectowatch::Client client("", ectowatch::Durable{argv[1]});
  std::atomic<long> rows{0};
  std::vector<ectowatch::Subscription> subscriptions;
  for (int i = 2; i < argc; ++i)
    subscriptions.push_back(client.subscribe(argv[i], [&](const ectowatch::Event &) { ++rows; }));
  client.start();
  std::cout << "ready" << std::endl;
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  client.stop();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  long count = rows;
  std::cout << count << " rows with " << cpu << " s of client CPU ("
            << (count > 0 ? cpu * 1e6 / static_cast<double>(count) : 0.0) << " µs per row)" << std::endl;
}
