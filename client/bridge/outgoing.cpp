#include "outgoing.hpp"

#include "subject.hpp"

#include <charconv>
#include <stdexcept>

namespace ectowatch::bridge {

namespace {

void append_number(std::string &out, std::uint64_t number) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out.append(digits, end);
}

} // namespace

// The fields every message of this event shares: label, op, LSN text, and
// for rows the payload's head; rebuilt only when they change.
void OutgoingBuilder::start(const Event &event, std::string_view op) {
  const Message &message = event.message();
  if (text_lsn_ != message.lsn || out_.lsn_text.empty()) {
    out_.lsn_text = format_lsn(message.lsn);
    text_lsn_ = message.lsn;
  }
  out_.lsn = message.lsn;
  if (head_label_ != event.label() || head_table_ != event.table() || head_op_ != op) {
    head_label_ = event.label();
    head_table_ = event.table();
    head_op_ = op;
    payload_head_ = "{\"label\":";
    append_json_string(payload_head_, event.label());
    payload_head_ += ",\"table\":";
    append_json_string(payload_head_, event.table());
    payload_head_ += ",\"op\":\"";
    payload_head_ += op;
    payload_head_ += '"';
    subject_head_ = prefix_;
    subject_head_ += '.';
    subject_head_ += event.label();
  }
  out_.label = event.label();
  out_.op = op;
  out_.subject = subject_head_;
  out_.msg_id = msg_id_head_;
  out_.msg_id += out_.lsn_text;
  out_.msg_id += '-';
  out_.dropped_rows = 0;
}

const Outgoing &OutgoingBuilder::build(const Event &event) {
  switch (event.kind()) {
  case Event::Kind::row: {
    start(event, to_string(event.op()));
    const Row &row = event.row();
    for (const std::string &column : event.key_columns()) {
      const Value *value = row.find(column);
      if (!value)
        throw std::invalid_argument("row of " + event.label() + " without its key column " + column);
      out_.subject += '.';
      append_token(out_.subject, value->text(), value->is_null());
    }
    append_number(out_.msg_id, static_cast<std::uint64_t>(&row - event.message().rows.data()));
    if (out_.subject.size() > kMaxSubjectBytes) {
      // Even hashed, the key tokens do not fit (subject.hpp): the row's
      // readers are told it was dropped, and the rows after it flow on.
      out_.subject = subject_head_;
      out_.subject += '.';
      out_.subject += kDroppedToken;
      out_.payload = "{\"event\":\"dropped\",\"label\":";
      append_json_string(out_.payload, event.label());
      out_.payload += ",\"count\":1,\"reason\":\"subject_too_long\"";
      out_.dropped_rows = 1;
      break;
    }
    out_.payload = payload_head_;
    out_.payload += ",\"row\":";
    out_.payload += row.json();
    if (event.extra_columns_left_out())
      out_.payload += ",\"truncated\":true";
    break;
  }
  case Event::Kind::dropped:
    start(event, to_string(event.op()));
    out_.subject += '.';
    out_.subject += kDroppedToken;
    out_.msg_id += "dropped";
    out_.payload = "{\"event\":\"dropped\",\"label\":";
    append_json_string(out_.payload, event.label());
    out_.payload += ",\"count\":";
    append_number(out_.payload, event.dropped());
    out_.dropped_rows = event.dropped();
    break;
  case Event::Kind::truncated:
    start(event, "truncated");
    out_.subject += '.';
    out_.subject += kTruncatedToken;
    out_.msg_id += "truncated";
    out_.payload = "{\"event\":\"truncated\",\"label\":";
    append_json_string(out_.payload, event.label());
    break;
  }
  out_.payload += ",\"lsn\":\"";
  out_.payload += out_.lsn_text;
  out_.payload += "\"}";
  return out_;
}

Outgoing outgoing_for_resync(const std::string &prefix, const std::string &label, std::string_view reason,
                             std::uint64_t lsn, const std::string &sequence) {
  Outgoing out;
  out.lsn = lsn;
  out.lsn_text = format_lsn(lsn);
  out.label = label;
  out.op = "resync";
  out.subject = prefix + "." + label + "." + std::string(kResyncToken);
  out.msg_id = "resync-" + sequence + "-" + label;
  out.payload = "{\"event\":\"resync\",\"reason\":\"" + std::string(reason) + "\",\"label\":";
  append_json_string(out.payload, label);
  out.payload += "}";
  return out;
}

} // namespace ectowatch::bridge
