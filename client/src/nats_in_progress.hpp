// Keeps JetStream from sending again what a durable client holds while a
// callback runs longer than the consumer's ack wait (30 s by default): a
// thread of its own calls `touch` (which sends an in-progress ack, +WPI, for
// each message held) every third of the ack wait. The event loop cannot: a
// slow callback blocks the very thread that would ack.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ectowatch::detail {

class InProgressKeeper {
public:
  // `touch` runs on the keeper's thread; it must lock what it reads.
  explicit InProgressKeeper(std::function<void()> touch);
  ~InProgressKeeper(); // stops the thread and waits for it
  InProgressKeeper(const InProgressKeeper &) = delete;
  InProgressKeeper &operator=(const InProgressKeeper &) = delete;

  // The shortest ack wait of the consumers read (the first call sets it).
  void ack_wait(std::chrono::nanoseconds wait);

private:
  void run();

  std::function<void()> touch_;
  std::atomic<std::int64_t> ack_wait_ns_{0}; // 0: none known yet (the server's default)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace ectowatch::detail
