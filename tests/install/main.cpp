// Links against the installed client: find_package(ectowatch) and pkg-config.
#include <ectowatch/ectowatch.hpp>
#include <iostream>
int main() {
  try {
    ectowatch::Client client{"host=/nonexistent port=1"};
  } catch (const ectowatch::ConnectionError &e) {
    std::cout << "caught: " << e.what() << "\n";
    return 0;
  }
  return 1;
}
