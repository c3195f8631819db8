#include "relay_packer.hpp"

#include "ectowatch/protocol.hpp"
#include "message_packer.hpp"

#include <cstdio>

namespace ectowatch {

namespace {

// A message split at the seams finish_message() sews:
// prefix (through `"rows":[`) + body + `]` + flags + `}`.
struct Parts {
  std::string_view prefix;
  std::string_view body;
  bool truncated = false;
  std::uint64_t dropped = 0;
  std::string label;
};

bool split(std::string_view message, Parts &parts) {
  constexpr std::string_view kRows = "\"rows\":[";
  // The first `"rows":[` is the field: inside a JSON string every `"` is escaped.
  std::size_t rows = message.find(kRows);
  if (rows == std::string_view::npos || message.size() < 2 || message.front() != '{' || message.back() != '}')
    return false;
  parts.prefix = message.substr(0, rows + kRows.size());
  std::string_view rest = message.substr(parts.prefix.size(), message.size() - parts.prefix.size() - 1);
  constexpr std::string_view kDropped = ",\"dropped\":", kTruncated = ",\"truncated\":true";
  std::size_t digits = rest.size();
  while (digits > 0 && rest[digits - 1] >= '0' && rest[digits - 1] <= '9')
    --digits;
  if (digits < rest.size() && digits >= kDropped.size() &&
      rest.substr(digits - kDropped.size(), kDropped.size()) == kDropped) {
    for (char c : rest.substr(digits))
      parts.dropped = parts.dropped * 10 + static_cast<std::uint64_t>(c - '0');
    rest = rest.substr(0, digits - kDropped.size());
  }
  if (rest.size() >= kTruncated.size() && rest.substr(rest.size() - kTruncated.size()) == kTruncated) {
    parts.truncated = true;
    rest.remove_suffix(kTruncated.size());
  }
  if (rest.empty() || rest.back() != ']')
    return false;
  parts.body = rest.substr(0, rest.size() - 1);
  // The label: letters, digits and "_" only, so it has no escapes.
  constexpr std::string_view kLabel = "\"label\":\"";
  std::size_t label = parts.prefix.find(kLabel);
  if (label == std::string_view::npos)
    return false;
  std::size_t start = label + kLabel.size();
  std::size_t end = parts.prefix.find('"', start);
  if (end == std::string_view::npos || end == start)
    return false;
  parts.label.assign(parts.prefix.substr(start, end - start));
  return true;
}

void append_lsn(std::string &payload, std::uint64_t lsn) {
  char text[protocol::kLsnTextSize];
  protocol::format_lsn(lsn, text);
  payload.pop_back(); // the closing brace
  payload.append(",\"lsn\":\"").append(text).append("\"}");
}

} // namespace

std::vector<Notification> repack_for_relay(const std::vector<RelayedMessage> &messages,
                                           std::vector<std::string_view> *skipped) {
  std::vector<Notification> notifications;
  // The notification being merged into: its parts and its body so far.
  Parts open;
  std::string body;
  std::uint64_t open_lsn = 0, open_transaction = 0;
  bool have_open = false;
  auto close = [&] {
    if (!have_open)
      return;
    Notification notification{open.label, {}};
    finish_message(notification.payload, open.prefix, body, open.truncated, open.dropped);
    append_lsn(notification.payload, open_lsn);
    notifications.push_back(std::move(notification));
    have_open = false;
  };
  for (const RelayedMessage &message : messages) {
    Parts parts;
    if (!split(message.payload, parts)) {
      if (skipped)
        skipped->push_back(message.payload);
      continue;
    }
    // A message without rows (TRUNCATE, or all rows dropped) stays as it is.
    bool mergeable = !parts.body.empty();
    if (have_open && mergeable && !body.empty() && message.transaction == open_transaction &&
        parts.prefix == open.prefix &&
        fits_in_body(body.size(), 1, parts.body.size(), row_capacity(open.prefix.size()))) {
      body.push_back(',');
      body.append(parts.body);
      open.truncated = open.truncated || parts.truncated;
      open.dropped += parts.dropped;
      open_lsn = message.lsn;
      continue;
    }
    close();
    open = parts;
    body.assign(parts.body);
    open_lsn = message.lsn;
    open_transaction = message.transaction;
    have_open = true;
  }
  close();
  return notifications;
}

} // namespace ectowatch
