// An eventfd that wakes the I/O side's poll(): the dispatcher has made room
// (durable), a subscription changed, or stop() was called.
#pragma once

namespace ectowatch::detail {

class Wakeup {
public:
  Wakeup(); // throws ConnectionError when no eventfd can be created
  ~Wakeup();
  Wakeup(const Wakeup &) = delete;
  Wakeup &operator=(const Wakeup &) = delete;

  int fd() const noexcept { return fd_; }
  void notify() noexcept;
  void drain() noexcept;

private:
  int fd_ = -1;
};

} // namespace ectowatch::detail
