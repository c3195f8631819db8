// An ectowatch client in a Boost.Asio event loop (socket() + process() +
// next_timeout() + on_connection()): prints every row of one label as a
// JSON line. The loop's only timer is set from next_timeout(), so reconnects,
// health checks and coalescing windows happen when the client needs them.
//
//   asio_listener LABEL [COUNT]     (connects with the PG* environment;
//                                    exits after COUNT rows, or on SIGINT/SIGTERM)
#include <ectowatch/ectowatch.hpp>

#include <boost/asio.hpp>

#include <iostream>
#include <string>

namespace asio = boost::asio;

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: asio_listener LABEL [COUNT]\n";
    return 2;
  }
  const long limit = argc > 2 ? std::stol(argv[2]) : -1;
  asio::io_context io;
  ectowatch::ClientOptions options;
  options.application_name = "ectowatch_asio";
  ectowatch::Client client("", options);

  long rows = 0;
  auto subscription = client.subscribe(argv[1], [&](const ectowatch::Event &event) {
    if (event.kind() != ectowatch::Event::Kind::row)
      return;
    std::cout << event.row().json() << std::endl;
    if (++rows == limit)
      io.stop();
  });
  client.on_resync(
      [](const ectowatch::Resync &resync) { std::cerr << "resync: " << to_string(resync.reason) << "\n"; });
  client.on_error([](const ectowatch::Error &error) { std::cerr << "error: " << error.what() << "\n"; });

  // The client's descriptor belongs to libpq: Asio only watches it (release(),
  // never close()). A reconnect may reuse the number, so on_connection, not a
  // changed number, says when to watch it again.
  asio::posix::stream_descriptor socket(io);
  asio::steady_timer timer(io);
  bool socket_changed = true;
  client.on_connection([&](bool) { socket_changed = true; });

  std::function<void()> process;
  std::function<void()> rearm = [&] {
    if (socket_changed) {
      socket_changed = false;
      if (socket.is_open())
        socket.release(); // cancels the wait on the old descriptor
      if (int fd = client.socket(); fd >= 0) {
        socket.assign(fd);
        socket.async_wait(asio::posix::stream_descriptor::wait_read, [&](boost::system::error_code error) {
          if (error != asio::error::operation_aborted)
            process();
        });
      }
    } else if (socket.is_open()) {
      socket.async_wait(asio::posix::stream_descriptor::wait_read, [&](boost::system::error_code error) {
        if (error != asio::error::operation_aborted)
          process();
      });
    }
    timer.expires_after(client.next_timeout()); // cancels the previous wait
    timer.async_wait([&](boost::system::error_code error) {
      if (!error)
        process();
    });
  };
  // One process() per wake-up, whichever woke us; then wait again. The socket
  // wait that did not fire stays pending: cancel it, so only one is armed.
  process = [&] {
    client.process();
    if (socket.is_open() && !socket_changed)
      socket.cancel();
    rearm();
  };

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  std::cerr << "ready" << std::endl;
  process();
  io.run();
  if (socket.is_open())
    socket.release(); // libpq closes it
}
