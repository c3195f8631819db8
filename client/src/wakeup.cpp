#include "wakeup.hpp"

#include "ectowatch/errors.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace ectowatch::detail {

Wakeup::Wakeup() {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0)
    throw ConnectionError("cannot create an eventfd");
}

Wakeup::~Wakeup() {
  if (fd_ >= 0)
    close(fd_);
}

void Wakeup::notify() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(fd_, &one, sizeof one);
}

void Wakeup::drain() noexcept {
  std::uint64_t value;
  while (::read(fd_, &value, sizeof value) > 0) {
  }
}

} // namespace ectowatch::detail
