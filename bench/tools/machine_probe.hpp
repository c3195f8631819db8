// Whether this machine's core is shared right now. On the VM the benchmark
// figures come from, the same code needs up to about twice as long in
// windows of a second to minutes, and only code with independent
// instructions (most code) slows down, while a chain of dependent
// multiplications keeps its speed: the signature of a core whose execution
// units are shared with another busy thread on the host. That thread can be
// another guest's, or this VM's other vCPU when the host runs both on one
// physical core; the latter happens only while both vCPUs are busy, as in a
// listener run (the listener on one, its backend on the other). Runs with a
// high probe are not comparable with quiet ones (docs/performance.md, "Where
// the listener time goes").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace bench {

namespace probe {

// Six independent integer updates per iteration: bound by the core's
// execution units, which a sibling thread shares.
inline std::uint64_t independent_work(long iterations, std::uint64_t seed) {
  std::uint64_t a = seed, b = a + 1, c = a + 2, d = a + 3, e = 0, f = 0;
  for (long i = 0; i < iterations; ++i) {
    a = a * 3 + 1;
    b = b * 5 + 1;
    c = c * 7 + 1;
    d = d * 9 + 1;
    e += a ^ b;
    f += c ^ d;
  }
  return a + b + c + d + e + f;
}

// One dependent multiply-add per iteration: bound by its latency, which a
// sibling thread hardly changes.
inline std::uint64_t dependent_chain(long iterations, std::uint64_t seed) {
  for (long i = 0; i < iterations; ++i)
    seed = seed * 6364136223846793005u + 1442695040888963407u;
  return seed;
}

// Keep the loops (one per thread).
inline volatile std::uint64_t sink;
inline volatile std::uint64_t other_sink;

} // namespace probe

// Runs `measure` on this thread while a second thread keeps the other core
// busy, as a listener's backend does during a run.
template <typename Measure> auto with_other_core_busy(Measure measure) {
  std::atomic<bool> done{false};
  std::thread other_core([&done] {
    std::uint64_t value = 1;
    while (!done.load(std::memory_order_relaxed))
      value = probe::independent_work(100'000, value);
    probe::other_sink = value;
  });
  auto result = measure();
  done = true;
  other_core.join();
  return result;
}

// How much slower this core runs independent work than a dependent chain
// right now (~20 ms each): about 1.0 on a quiet core, up to about 2 on a
// shared one here.
inline double independent_over_dependent() {
  using clock = std::chrono::steady_clock;
  constexpr long kIterations = 15'000'000;
  auto start = clock::now();
  probe::sink = probe::dependent_chain(kIterations, probe::sink);
  auto chain_end = clock::now();
  probe::sink = probe::independent_work(kIterations, probe::sink);
  auto independent_end = clock::now();
  return std::chrono::duration<double>(independent_end - chain_end) / std::chrono::duration<double>(chain_end - start);
}

// The probe a listener reports: the same with the other core busy.
inline double probe_machine() { return with_other_core_busy(independent_over_dependent); }

} // namespace bench
