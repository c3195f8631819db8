#include "nats_decoder.hpp"

#include "ectowatch/message.hpp"
#include "ectowatch/protocol.hpp"
#include "message_decoder.hpp"
#include "subject.hpp"

#include <simdjson.h>

#include <string>

namespace ectowatch::detail {

namespace {

using namespace simdjson;

[[noreturn]] void fail(std::string_view subject, std::string_view payload, const std::string &why) {
  throw ProtocolError("not an ectowatch bridge message on subject \"" + std::string(subject) + "\": " + why,
                      std::string(subject), std::string(payload));
}

// <prefix>.<label>.<token>[.<token>...]: the label and the tokens.
struct SubjectParts {
  std::string_view label;
  std::vector<std::string_view> tokens;
};

SubjectParts split_subject(std::string_view prefix, std::string_view subject, std::string_view payload) {
  if (subject.size() <= prefix.size() + 1 || subject.substr(0, prefix.size()) != prefix ||
      subject[prefix.size()] != '.')
    fail(subject, payload, "it does not start with the prefix \"" + std::string(prefix) + ".\"");
  std::string_view rest = subject.substr(prefix.size() + 1);
  SubjectParts parts;
  for (std::size_t start = 0;;) {
    std::size_t dot = rest.find('.', start);
    std::string_view token = rest.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (parts.label.empty())
      parts.label = token;
    else
      parts.tokens.push_back(token);
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  if (parts.label.empty() || parts.tokens.empty())
    fail(subject, payload, "it has no label and key tokens after the prefix");
  return parts;
}

// The payload's top-level fields (format 1); row: the row object's JSON text.
struct Fields {
  std::string label, table, op, event, reason, lsn, row;
  bool truncated = false;
  std::uint64_t count = 0;
};

Fields read_fields(std::string_view subject, std::string_view payload) {
  Fields fields;
  padded_string padded(payload);
  ondemand::parser parser;
  try {
    ondemand::document document = parser.iterate(padded);
    for (auto field : document.get_object()) {
      std::string_view name = field.unescaped_key();
      auto text = [&] { return std::string(std::string_view(field.value().get_string())); };
      if (name == "label")
        fields.label = text();
      else if (name == "table")
        fields.table = text();
      else if (name == "op")
        fields.op = text();
      else if (name == "event")
        fields.event = text();
      else if (name == "reason")
        fields.reason = text();
      else if (name == "lsn")
        fields.lsn = text();
      else if (name == "row") {
        ondemand::object row = field.value().get_object();
        fields.row = std::string(std::string_view(row.raw_json()));
      } else if (name == "truncated")
        fields.truncated = field.value().get_bool();
      else if (name == "count")
        fields.count = field.value().get_uint64();
      // Other fields: added later; ignored.
    }
  } catch (const simdjson_error &error) {
    fail(subject, payload, std::string("malformed JSON (") + error.what() + ")");
  }
  return fields;
}

// The first `count` column names of the row object `row`.
std::vector<std::string> first_columns(std::string_view subject, std::string_view payload, const std::string &row,
                                       std::size_t count) {
  std::vector<std::string> names;
  padded_string padded(row);
  ondemand::parser parser;
  try {
    ondemand::document document = parser.iterate(padded);
    for (auto field : document.get_object()) {
      if (names.size() == count)
        break;
      names.emplace_back(std::string_view(field.unescaped_key()));
    }
  } catch (const simdjson_error &error) {
    fail(subject, payload, std::string("malformed row (") + error.what() + ")");
  }
  if (names.size() != count)
    fail(subject, payload, "its row has fewer columns than the subject has key tokens (" + std::to_string(count) + ")");
  return names;
}

void decode_row(std::string_view subject, std::string_view payload, const SubjectParts &parts, Fields &fields,
                Batch &out, std::vector<RowError> &bad_rows) {
  if (fields.row.empty() || fields.op.empty() || fields.table.empty())
    fail(subject, payload, "a field of label, table, op, row is missing");
  // The same message a slot would give, with this one row: decoded by the
  // one decoder of format v1, so values behave exactly alike.
  std::string v1 = "{\"v\":1,\"op\":";
  append_json_string(v1, fields.op);
  v1 += ",\"table\":";
  append_json_string(v1, fields.table);
  v1 += ",\"label\":";
  append_json_string(v1, fields.label);
  v1 += ",\"key\":[";
  bool first = true;
  for (const std::string &column : first_columns(subject, payload, fields.row, parts.tokens.size())) {
    if (!first)
      v1 += ',';
    first = false;
    append_json_string(v1, column);
  }
  v1 += "],\"rows\":[" + fields.row + "]";
  if (fields.truncated)
    v1 += ",\"truncated\":true";
  v1 += ",\"lsn\":\"" + fields.lsn + "\"}";
  std::shared_ptr<const Message> message;
  try {
    std::size_t bad_before = bad_rows.size();
    message = decode_message(fields.label, v1, Parser::fast_path_first, &bad_rows);
    if (bad_rows.size() != bad_before || message->rows.empty())
      return; // the row is reported by the caller
  } catch (const ProtocolError &error) {
    fail(subject, payload, error.what());
  }
  // The subject's tokens are the row's key: a message published under another
  // key's subject would reach the wrong Key subscribers.
  const Row &row = message->rows.front();
  for (std::size_t i = 0; i < parts.tokens.size(); ++i) {
    const Value &value = row.columns()[i].second;
    if (bridge::escape_token(value.text(), value.is_null()) != parts.tokens[i])
      fail(subject, payload,
           "its key token \"" + std::string(parts.tokens[i]) + "\" is not its row's " +
               std::string(row.columns()[i].first));
  }
  out.emplace_back(std::move(message));
}

// A TRUNCATE or dropped rows: a message without rows, as the dispatcher
// turns those into events (the payload names no table: table() is empty).
void decode_gap(const Fields &fields, Op op, std::uint64_t dropped, Batch &out) {
  auto message = std::make_shared<Message>();
  message->op = op;
  message->label = fields.label;
  message->channel = fields.label;
  message->dropped = dropped;
  message->lsn = protocol::parse_lsn(fields.lsn);
  out.emplace_back(std::shared_ptr<const Message>(std::move(message)));
}

} // namespace

void decode_nats_message(std::string_view prefix, std::string_view subject, std::string_view payload,
                         std::string_view op_header, Batch &out, std::vector<RowError> &bad_rows) {
  SubjectParts parts = split_subject(prefix, subject, payload);
  Fields fields = read_fields(subject, payload);
  if (fields.label != parts.label)
    fail(subject, payload, "its label \"" + fields.label + "\" is not the subject's");
  std::string_view last = parts.tokens.back();
  bool marker = parts.tokens.size() == 1 && last.size() > 1 && last[0] == '~' && last[1] >= 'a' && last[1] <= 'z' &&
                !bridge::is_hashed_token(last); // a long key value's token (subject.hpp), not an event
  if (!marker) {
    decode_row(subject, payload, parts, fields, out, bad_rows);
  } else if (last == bridge::kTruncatedToken) {
    decode_gap(fields, Op::truncated, 0, out);
  } else if (last == bridge::kDroppedToken) {
    auto op = op_named(op_header);
    if (!op)
      fail(subject, payload, "its Ectowatch-Op header \"" + std::string(op_header) + "\" is not an op");
    if (fields.count == 0)
      fail(subject, payload, "a dropped event without a count");
    decode_gap(fields, *op, fields.count, out);
  } else if (last == bridge::kResyncToken) {
    // The bridge's slot was created or lost: what came before is not in the stream.
    Resync::Reason reason = fields.reason == "slot_lost" ? Resync::Reason::slot_lost : Resync::Reason::slot_created;
    out.emplace_back(Resync{reason, fields.label});
  } else {
    fail(subject, payload, "unknown event token \"" + std::string(last) + "\"");
  }
}

} // namespace ectowatch::detail
