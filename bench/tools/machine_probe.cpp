// Shows whether this machine's cores are shared right now, with no
// PostgreSQL involved: machine_probe [SECONDS] prints, every ~150 ms,
// - the probe every listener reports (machine_probe.hpp: independent
//   arithmetic over a dependent chain with the other core busy, ~1.0 on a
//   quiet core);
// - the same probe with the other core idle: when it reads ~1.0 while the
//   first does not, the host is running this VM's two vCPUs on one physical
//   core (do not pin it with taskset: its busy thread needs the other vCPU);
// - the time of a malloc/free pair with the other core busy, ordinary code
//   that slows down with the probe.
// docs/performance.md ("Where the listener time goes") shows what it printed
// on the 2-core VM the figures come from.
#include "machine_probe.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

void *volatile last_block; // keeps the allocations

namespace {

double malloc_free_ns() {
  constexpr long kPairs = 2'000'000;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < kPairs; ++i) {
    void *block = std::malloc(40 + static_cast<std::size_t>(i & 7));
    last_block = block;
    std::free(block);
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kPairs;
}

} // namespace

int main(int argc, char **argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::printf("probe  alone  malloc+free ns\n");
  while (std::chrono::steady_clock::now() < end) {
    double probe = bench::probe_machine();
    double alone = bench::independent_over_dependent();
    std::printf("%5.2f  %5.2f  %6.1f\n", probe, alone, bench::with_other_core_busy(malloc_free_ns));
  }
}
