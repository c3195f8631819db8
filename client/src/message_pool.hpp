// The decoder's recycled messages (one pool per decoding thread).
#pragma once

#include "ectowatch/message.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>

namespace ectowatch::detail {

// What each message has of its own: rows, columns, flags.
inline void clear_body(Message &message) {
  message.rows.clear();
  message.truncated = false;
  message.dropped = 0;
  message.lsn = 0;
  message.columns.clear();
  message.unescaped.clear();
}

// Decoded messages are recycled, so decoding the next one allocates almost
// nothing (malloc and free were a quarter of a listener's time). Each pooled
// message lives in a shared_ptr made once, control block included; the pool
// hands out copies and reuses a message when its own copy is the only one
// left, i.e. every Event of it is gone. One pool per decoding thread (no
// lock); messages are released on any thread. Taken round-robin: messages
// are dispatched in arrival order, so the oldest is the likeliest to be free.
class MessagePool {
public:
  std::shared_ptr<Message> take() {
    std::shared_ptr<Message> &kept = ring_[next_];
    next_ = (next_ + 1) % ring_.size();
    if (kept && kept.use_count() == 1) {
      // Pairs with the release of the last other copy: what its thread
      // wrote to the message happens before we reuse it.
      std::atomic_thread_fence(std::memory_order_acquire);
      if (kept->payload.capacity() <= kMaxBytesKept && kept->columns.capacity() <= kMaxBytesKept / 8) {
        clear(*kept);
        return kept;
      }
    } else if (kept) {
      return std::make_shared<Message>(); // still in use: this one is not pooled
    }
    kept = std::make_shared<Message>();
    return kept;
  }

private:
  static constexpr std::size_t kMaxBytesKept = 64 * 1024; // 256 of these at most: a few MB kept

  // The header fields (op, table, label, key columns, channel) are left as
  // they are: decoding overwrites them, copying only what differs, and a
  // pooled message most often held a message of the same watcher.
  static void clear(Message &message) {
    clear_body(message);
    message.payload.clear();
  }

  std::array<std::shared_ptr<Message>, 256> ring_;
  std::size_t next_ = 0;
};

} // namespace ectowatch::detail
