#include "nats_in_progress.hpp"

namespace ectowatch::detail {

namespace {
// JetStream's default ack wait, for a consumer whose own was not read.
constexpr std::chrono::nanoseconds kDefaultAckWait = std::chrono::seconds(30);
} // namespace

InProgressKeeper::InProgressKeeper(std::function<void()> touch) : touch_(std::move(touch)) {
  thread_ = std::thread([this] { run(); });
}

InProgressKeeper::~InProgressKeeper() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void InProgressKeeper::ack_wait(std::chrono::nanoseconds wait) {
  std::int64_t ns = wait.count();
  if (ns <= 0)
    return;
  std::int64_t known = ack_wait_ns_.load();
  while ((known == 0 || ns < known) && !ack_wait_ns_.compare_exchange_weak(known, ns)) {
  }
  wake_.notify_all(); // a shorter wait than the one being slept
}

void InProgressKeeper::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    std::int64_t ns = ack_wait_ns_.load();
    auto period = (ns > 0 ? std::chrono::nanoseconds(ns) : kDefaultAckWait) / 3;
    if (wake_.wait_for(lock, period, [&] { return stop_ || ack_wait_ns_.load() != ns; }))
      continue; // stopping, or the wait changed: sleep the new period
    lock.unlock();
    try {
      touch_();
    } catch (...) {
      // An in-progress ack that could not be sent: the server may send the
      // message again after its ack wait, which at-least-once allows.
    }
    lock.lock();
  }
}

} // namespace ectowatch::detail
