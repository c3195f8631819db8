// Shows whether this machine's cores are shared right now, with no
// PostgreSQL involved: machine_probe [SECONDS] prints, every ~100 ms, the
// probe every listener reports (rate_report.hpp: independent arithmetic over
// a dependent chain with the other core busy, ~1.0 on a quiet core) and the
// time of a malloc/free pair with the other core busy too, ordinary code that
// slows down with it. On the 2-core VM of docs/performance.md both move
// together between two levels within seconds.
#include "rate_report.hpp"

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
  std::printf("probe  malloc+free ns\n");
  while (std::chrono::steady_clock::now() < end) {
    double probe = bench::probe_machine();
    std::printf("%5.2f  %6.1f\n", probe, bench::with_other_core_busy(malloc_free_ns));
  }
}
