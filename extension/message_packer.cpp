#include "message_packer.hpp"

#include <utility>

// The packer stays plain C++ (unit-testable without a server): nothing it
// includes may bring in PostgreSQL's headers.
#ifdef POSTGRES_H
#error "message_packer must not depend on PostgreSQL headers"
#endif

namespace ectowatch {

RowFit fit_row(std::size_t row_size, std::size_t key_length, std::size_t capacity) {
  if (row_size <= capacity)
    return RowFit::full;
  if (key_length + 1 <= capacity)
    return RowFit::key_only;
  return RowFit::dropped;
}

void finish_message(std::string &out, std::string_view prefix, std::string_view body, bool truncated,
                    std::uint64_t dropped) {
  out.assign(prefix);
  out.append(body);
  out.push_back(']');
  if (truncated)
    out.append(",\"truncated\":true");
  if (dropped > 0) {
    out.append(",\"dropped\":");
    out.append(std::to_string(dropped));
  }
  out.push_back('}');
}

MessagePacker::MessagePacker(std::string_view prefix, Sink sink, std::size_t max_bytes)
    : prefix_(prefix), sink_(std::move(sink)), row_capacity_(ectowatch::row_capacity(prefix.size(), max_bytes)) {}

void MessagePacker::add_row(std::string_view row, std::size_t key_length, bool already_truncated) {
  // A row too big for a message of its own loses its extra columns; a key too
  // big even then is counted as dropped. A notification never fails a write.
  std::string_view part = row;
  bool truncated = already_truncated;
  switch (fit_row(row.size(), key_length, row_capacity_)) {
  case RowFit::full:
    break;
  case RowFit::key_only:
    part = row.substr(0, key_length);
    truncated = true;
    break;
  case RowFit::dropped:
    add_dropped();
    return;
  }
  std::size_t size = part.size() + (part.size() < row.size() ? 1 : 0);
  if (!fits_in_body(body_.size(), rows_, size, row_capacity_))
    flush();
  if (rows_ > 0)
    body_.push_back(',');
  body_.append(part);
  if (part.size() < row.size())
    body_.push_back('}');
  ++rows_;
  truncated_ = truncated_ || truncated;
}

void MessagePacker::add_dropped(std::uint64_t count) { dropped_ += count; }

void MessagePacker::flush() {
  if (rows_ == 0 && dropped_ == 0)
    return;
  finish_message(message_, prefix_, body_, truncated_, dropped_);
  sink_(message_);
  body_.clear();
  rows_ = 0;
  truncated_ = false;
  dropped_ = 0;
}

} // namespace ectowatch
