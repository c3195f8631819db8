#include "message_packer.hpp"

#include <utility>

// The packer stays plain C++ (unit-testable without a server): nothing it
// includes may bring in PostgreSQL's headers.
#ifdef POSTGRES_H
#error "message_packer must not depend on PostgreSQL headers"
#endif

namespace ectowatch {

MessagePacker::MessagePacker(std::string_view prefix, Sink sink, std::size_t max_bytes)
    : prefix_(prefix), sink_(std::move(sink)), max_bytes_(max_bytes),
      row_capacity_(ectowatch::row_capacity(prefix.size(), max_bytes)) {
  current_.reserve(max_bytes_ + 1);
  start_message();
}

void MessagePacker::start_message() {
  current_.assign(prefix_);
  rows_in_current_ = 0;
  truncated_ = false;
  dropped_ = 0;
}

void MessagePacker::add_row(std::string_view row, std::size_t key_length, bool already_truncated) {
  // A row too big for a message of its own loses its extra columns; a key too
  // big even then is counted as dropped. A notification never fails a write.
  std::string_view part = row;
  std::string_view closing;
  bool truncated = already_truncated;
  if (row.size() > row_capacity_) {
    part = row.substr(0, key_length);
    closing = "}";
    truncated = true;
    if (part.size() + closing.size() > row_capacity_) {
      add_dropped();
      return;
    }
  }
  std::size_t needed = part.size() + closing.size() + (rows_in_current_ > 0 ? 1 : 0);
  if (current_.size() + needed > prefix_.size() + row_capacity_)
    flush();
  if (truncated)
    truncated_ = true;
  append_row(part, closing);
}

void MessagePacker::append_row(std::string_view part, std::string_view closing) {
  if (rows_in_current_ > 0)
    current_.push_back(',');
  current_.append(part);
  current_.append(closing);
  ++rows_in_current_;
}

void MessagePacker::add_dropped(std::uint64_t count) { dropped_ += count; }

void MessagePacker::flush() {
  if (rows_in_current_ == 0 && dropped_ == 0)
    return;
  current_.push_back(']');
  if (truncated_)
    current_.append(",\"truncated\":true");
  if (dropped_ > 0) {
    current_.append(",\"dropped\":");
    current_.append(std::to_string(dropped_));
  }
  current_.push_back('}');
  sink_(current_);
  ++messages_sent_;
  start_message();
}

} // namespace ectowatch
