#include "message_packer.hpp"

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

MessagePacker::MessagePacker(std::string_view prefix, std::size_t max_bytes)
    : prefix_(prefix), capacity_(row_capacity(prefix.size(), max_bytes)) {}

PackedMessage *MessagePacker::start_message() {
  messages_.emplace_back();
  open_ = true;
  return &messages_.back().packed;
}

std::vector<std::string> MessagePacker::finish() const {
  std::uint64_t total = 0;
  for (const Message &message : messages_)
    total += message.packed.dropped;
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    std::uint64_t dropped = dropped_to_send(i, messages_.size() - 1, total);
    if (!worth_sending(messages_[i].packed, dropped))
      continue;
    finish_message(payloads.emplace_back(), prefix_, messages_[i].body, messages_[i].packed.truncated, dropped);
  }
  return payloads;
}

} // namespace ectowatch
