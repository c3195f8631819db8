#include "inbox.hpp"

#include "ectowatch/errors.hpp"

#include <iterator>
#include <string>

namespace ectowatch::detail {

void Inbox::put(Batch &batch) {
  if (batch.empty())
    return;
  std::size_t bytes = 0;
  for (const Work &work : batch)
    bytes += size_of(work);
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty() && (policy_ == Policy::pause || bytes_ + bytes <= max_bytes_)) {
      // The usual case: the dispatcher has caught up, so the batch becomes the queue.
      queue_.swap(batch);
      bytes_ += bytes;
    } else {
      for (Work &work : batch)
        push_locked(std::move(work));
    }
  }
  batch.clear();
  changed_.notify_all();
}

void Inbox::put(Work work) {
  {
    std::lock_guard lock(mutex_);
    push_locked(std::move(work));
  }
  changed_.notify_all();
}

void Inbox::push_locked(Work work) {
  std::size_t size = size_of(work);
  if (policy_ == Policy::drop_all && size > 0 && bytes_ + size > max_bytes_)
    drop_buffered_locked();
  bytes_ += size;
  queue_.push_back(std::move(work));
}

// The buffer is full: drop every buffered message, and tell the application
// what happened. Resyncs, errors and positions are kept.
void Inbox::drop_buffered_locked() {
  std::uint64_t messages = 0, rows = 0;
  Batch kept;
  for (Work &work : queue_) {
    if (auto *message = std::get_if<MessagePtr>(&work)) {
      ++messages;
      rows += (*message)->rows.size();
      bytes_ -= size_of(work);
    } else {
      kept.push_back(std::move(work));
    }
  }
  queue_ = std::move(kept);
  queue_.push_back(ErrorItem{std::make_exception_ptr(
      BufferOverflow("callbacks fell behind: dropped " + std::to_string(messages) + " buffered message(s) with " +
                         std::to_string(rows) + " row(s); a resync follows",
                     messages, rows))});
  queue_.push_back(Resync{Resync::Reason::overflow, {}});
  ++overflows_;
}

bool Inbox::take(Batch &out) {
  std::lock_guard lock(mutex_);
  if (queue_.empty())
    return false;
  out.swap(queue_);
  return true;
}

void Inbox::put_back(Batch &rest) {
  if (rest.empty())
    return;
  std::lock_guard lock(mutex_);
  queue_.insert(queue_.begin(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  rest.clear();
}

void Inbox::wait(Clock::time_point deadline, const std::atomic<bool> &stopping) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return stopping || !queue_.empty(); });
}

bool Inbox::empty() const {
  std::lock_guard lock(mutex_);
  return queue_.empty();
}

} // namespace ectowatch::detail
