// What every throughput listener prints when it is done: "RATE CPU PROBE",
// - RATE: messages per second from the first message to the last;
// - CPU: microseconds of its own CPU (user + system) per message, counted
//   from "ready" on: the listener's own cost, apart from how fast the server
//   sends;
// - PROBE: whether the listener's core was shared around the run
//   (machine_probe.hpp; the higher of a probe just before "ready" and one
//   just after the last message).
#pragma once

#include "machine_probe.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>

namespace bench {

inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Create it just before printing "ready", call print() after the last message.
class RateReport {
public:
  RateReport() : probe_before_(probe_machine()), cpu_at_start_(cpu_seconds()) {}

  void print(long received, std::chrono::steady_clock::time_point first) const {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
    double cpu = cpu_seconds() - cpu_at_start_;
    double probe = std::max(probe_before_, probe_machine());
    std::cout << static_cast<long>(static_cast<double>(received) / seconds) << " "
              << cpu * 1e6 / static_cast<double>(received) << " " << probe << std::endl;
  }

private:
  double probe_before_;
  double cpu_at_start_;
};

} // namespace bench
