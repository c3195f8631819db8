// What every throughput listener prints when it is done: "RATE CPU", the
// messages per second from the first message to the last, and the
// microseconds of its own CPU (user + system) per message: the listener's own
// cost, apart from how fast the server sends (it still varies between runs on
// a shared machine: docs/performance.md).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <iostream>

namespace bench {

inline void print_rate_and_cpu(long received, std::chrono::steady_clock::time_point first) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  std::cout << static_cast<long>(static_cast<double>(received) / seconds) << " "
            << cpu_seconds * 1e6 / static_cast<double>(received) << std::endl;
}

} // namespace bench
