#include "outgoing.hpp"

#include "subject.hpp"

#include <stdexcept>

namespace ectowatch::bridge {

namespace {

std::string label_subject(const std::string &prefix, const std::string &label) {
  std::string subject;
  subject.reserve(prefix.size() + label.size() + 32);
  subject += prefix;
  subject += '.';
  subject += label;
  return subject;
}

void append_event_fields(std::string &line, const Event &event) {
  line += "\"label\":";
  append_json_string(line, event.label());
}

} // namespace

Outgoing outgoing_for(const std::string &prefix, const Event &event) {
  const Message &message = event.message();
  Outgoing out;
  out.lsn = message.lsn;
  out.lsn_text = format_lsn(message.lsn);
  out.label = event.label();
  out.subject = label_subject(prefix, event.label());
  switch (event.kind()) {
  case Event::Kind::row: {
    const Row &row = event.row();
    for (const std::string &column : event.key_columns()) {
      const Value *value = row.find(column);
      if (!value)
        throw std::invalid_argument("row of " + event.label() + " without its key column " + column);
      out.subject += '.';
      append_token(out.subject, value->text(), value->is_null());
    }
    out.op = std::string(to_string(event.op()));
    std::size_t index = static_cast<std::size_t>(&row - message.rows.data());
    out.msg_id = out.lsn_text + "-" + std::to_string(index);
    out.payload = "{";
    append_event_fields(out.payload, event);
    out.payload += ",\"table\":";
    append_json_string(out.payload, event.table());
    out.payload += ",\"op\":\"" + out.op + "\",\"row\":" + row.json();
    if (event.extra_columns_left_out())
      out.payload += ",\"truncated\":true";
    break;
  }
  case Event::Kind::dropped:
    out.subject += '.';
    out.subject += kDroppedToken;
    out.op = std::string(to_string(event.op()));
    out.msg_id = out.lsn_text + "-dropped";
    out.payload = "{\"event\":\"dropped\",";
    append_event_fields(out.payload, event);
    out.payload += ",\"count\":" + std::to_string(event.dropped());
    break;
  case Event::Kind::truncated:
    out.subject += '.';
    out.subject += kTruncatedToken;
    out.op = "truncated";
    out.msg_id = out.lsn_text + "-truncated";
    out.payload = "{\"event\":\"truncated\",";
    append_event_fields(out.payload, event);
    break;
  }
  out.payload += ",\"lsn\":\"" + out.lsn_text + "\"}";
  return out;
}

Outgoing outgoing_for_resync(const std::string &prefix, const std::string &label, std::string_view reason,
                             std::uint64_t lsn, const std::string &sequence) {
  Outgoing out;
  out.lsn = lsn;
  out.lsn_text = format_lsn(lsn);
  out.label = label;
  out.op = "resync";
  out.subject = label_subject(prefix, label) + "." + std::string(kResyncToken);
  out.msg_id = "resync-" + sequence + "-" + label;
  out.payload = "{\"event\":\"resync\",\"reason\":\"" + std::string(reason) + "\",\"label\":";
  append_json_string(out.payload, label);
  out.payload += "}";
  return out;
}

} // namespace ectowatch::bridge
