// Built against the installed packages (scripts/test-packages): subscribes to
// LABEL, says "ready" once it listens, prints the id of the first row that
// arrives and exits 0. The connection is libpq's PG* environment.
#include <ectowatch/ectowatch.hpp>

#include <cstdint>
#include <iostream>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: package_consumer LABEL\n";
    return 2;
  }
  try {
    ectowatch::Client client{""};
    auto subscription = client.subscribe(argv[1], [&client](const ectowatch::Event &event) {
      std::cout << "row " << event.row().get<std::int64_t>("id") << std::endl;
      client.stop();
    });
    // subscribe() has LISTENed: rows committed from now on arrive.
    std::cout << "ready" << std::endl;
    client.run();
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "package_consumer: " << e.what() << "\n";
    return 1;
  }
}
