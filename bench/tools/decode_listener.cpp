// The bare libpq listener plus ectowatch's decoder and nothing else: each
// notification is decoded into a Message (the client's pool and fast path)
// and dropped, with no registry, queue or callback. Between bare_listener and
// client_throughput it splits a client's cost into decoding and dispatching.
//   decode_listener CHANNEL N   prints notifications/s, CPU µs per notification
//                               and the machine probe (rate_report.hpp)
#include "notify_loop.hpp"

#include "message_decoder.hpp"

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: decode_listener CHANNEL N\n";
    return 2;
  }
  std::size_t rows = 0;
  bench::measure_throughput(argv[1], std::atol(argv[2]), [&](PGnotify *notify) {
    rows += ectowatch::detail::decode_message(notify->relname, notify->extra)->rows.size();
  });
  return rows > 0 ? 0 : 1;
}
