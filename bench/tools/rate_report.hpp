// What every throughput listener prints when it is done: "RATE CPU PROBE",
// - RATE: messages per second from the first message to the last;
// - CPU: microseconds of its own CPU (user + system) per message, counted
//   from "ready" on: the listener's own cost, apart from how fast the server
//   sends;
// - PROBE: whether the core was shared around the run (probe_machine(); the
//   higher of a probe just before "ready" and one just after the last message).
// Why the probe: on this VM the same code needs up to twice the time in some
// windows of a second or so, and only code with independent instructions
// (most code) slows down, while a chain of dependent multiplications keeps
// its speed: the signature of a core shared with another busy thread on the
// host. Runs with a high probe are not comparable with quiet ones
// (docs/performance.md, "Where the listener time goes").
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>

namespace bench {

// How much slower this core runs independent work than a dependent chain
// right now: the time of an iteration of six independent integer updates over
// that of one dependent multiply-add (~20 ms each). About 1.0–1.1 on a quiet
// core here, up to 2 on a shared one.
inline double probe_machine() {
  using clock = std::chrono::steady_clock;
  static volatile std::uint64_t seed = 1;
  constexpr long kIterations = 15'000'000;
  std::uint64_t chain = seed;
  auto start = clock::now();
  for (long i = 0; i < kIterations; ++i)
    chain = chain * 6364136223846793005u + 1442695040888963407u;
  auto chain_end = clock::now();
  std::uint64_t a = chain, b = a + 1, c = a + 2, d = a + 3, e = 0, f = 0;
  for (long i = 0; i < kIterations; ++i) {
    a = a * 3 + 1;
    b = b * 5 + 1;
    c = c * 7 + 1;
    d = d * 9 + 1;
    e += a ^ b;
    f += c ^ d;
  }
  auto wide_end = clock::now();
  seed = a + b + c + d + e + f; // keeps both loops
  return std::chrono::duration<double>(wide_end - chain_end) / std::chrono::duration<double>(chain_end - start);
}

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
