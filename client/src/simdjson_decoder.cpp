#include "simdjson_decoder.hpp"

#include "ectowatch/errors.hpp"
#include "message_decoder.hpp"

namespace ectowatch::detail {

[[noreturn]] void not_a_message(std::string_view channel, std::string_view payload, const std::string &why) {
  throw ProtocolError("not an ectowatch message on channel \"" + std::string(channel) + "\": " + why,
                      std::string(channel), std::string(payload));
}

namespace {

using namespace simdjson;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// Where the decoded parts of one message go. Text without escapes is viewed
// in place in the message's payload; text with escapes is unescaped by
// simdjson into the message's own storage.
class MessageBuilder {
public:
  explicit MessageBuilder(Message &message) : message_(message) {}

  std::string_view keep(std::string_view unescaped) { return message_.unescaped.emplace_front(unescaped); }

  // A field name: a view into the payload unless it has escapes.
  std::string_view name(ondemand::field &field) {
    const char *raw = field.key().raw();
    const char *end = raw;
    bool escaped = false;
    while (*end != '"') {
      if (*end == '\\') {
        escaped = true;
        ++end;
      }
      ++end;
    }
    if (!escaped)
      return std::string_view(raw, static_cast<std::size_t>(end - raw));
    std::string quoted;
    quoted.reserve(static_cast<std::size_t>(end - raw) + 2);
    quoted.push_back('"');
    quoted.append(raw, static_cast<std::size_t>(end - raw));
    quoted.push_back('"');
    padded_string padded(quoted);
    ondemand::parser parser;
    std::string_view text = parser.iterate(padded).get_string();
    return keep(text);
  }

private:
  Message &message_;
};

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else.
bool is_json_number(std::string_view text) {
  std::size_t at = 0, size = text.size();
  auto digits = [&] {
    std::size_t start = at;
    while (at < size && text[at] >= '0' && text[at] <= '9')
      ++at;
    return at > start;
  };
  if (at < size && text[at] == '-')
    ++at;
  if (at < size && text[at] == '0')
    ++at;
  else if (!digits())
    return false;
  if (at < size && text[at] == '.' && (++at, !digits()))
    return false;
  if (at < size && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < size && (text[at] == '+' || text[at] == '-'))
      ++at;
    if (!digits())
      return false;
  }
  return at == size;
}

Value decode_value(ondemand::value value, MessageBuilder &builder) {
  switch (value.type()) {
  case ondemand::json_type::string: {
    std::string_view json = trim(value.raw_json_token());
    std::string_view inner = json.substr(1, json.size() - 2);
    if (inner.find('\\') == std::string_view::npos) {
      std::string_view checked = value.get_string(); // validates (UTF-8, termination)
      (void)checked;
      return Value(Value::Kind::string, json, inner);
    }
    return Value(Value::Kind::string, json, builder.keep(value.get_string()));
  }
  case ondemand::json_type::number: {
    // Checked against JSON's grammar only, not parsed: a number no double or
    // int64 holds (1e400, 40 digits) is valid JSON, kept as its exact text.
    std::string_view json = trim(value.raw_json_token());
    if (!is_json_number(json))
      throw simdjson_error(NUMBER_ERROR);
    return Value(Value::Kind::number, json, json);
  }
  case ondemand::json_type::boolean: {
    std::string_view json = trim(value.raw_json_token());
    bool checked = value.get_bool();
    (void)checked;
    return Value(Value::Kind::boolean, json, json);
  }
  case ondemand::json_type::null: {
    if (!value.is_null())
      throw simdjson_error(INCORRECT_TYPE);
    return Value();
  }
  case ondemand::json_type::object: {
    ondemand::object object = value.get_object();
    std::string_view json = trim(object.raw_json().value());
    return Value(Value::Kind::object, json, json);
  }
  case ondemand::json_type::array: {
    ondemand::array array = value.get_array();
    std::string_view json = trim(array.raw_json().value());
    return Value(Value::Kind::array, json, json);
  }
  }
  throw simdjson_error(INCORRECT_TYPE);
}

// Appends one row's columns to message.columns; returns how many.
std::size_t decode_row(ondemand::object object, Message &message, MessageBuilder &builder) {
  std::size_t count = 0;
  for (auto field : object) {
    ondemand::field member;
    if (auto error = std::move(field).get(member))
      throw simdjson_error(error);
    std::string_view name = builder.name(member);
    message.columns.emplace_back(name, decode_value(member.value(), builder));
    ++count;
  }
  return count;
}

} // namespace

// The general path: any valid v1 message in `message.payload`, parsed with
// simdjson. Fills `message`'s fields and columns and `row_sizes`.
void decode_with_simdjson(std::string_view channel, Message &message, std::vector<std::size_t> &row_sizes,
                          ondemand::parser &parser) {
  std::string_view payload = message.payload;
  MessageBuilder builder(message);
  bool has_v = false, has_op = false, has_table = false, has_label = false, has_key = false, has_rows = false;
  try {
    ondemand::document document =
        parser.iterate(message.payload.data(), message.payload.size(), message.payload.capacity());
    ondemand::object object = document.get_object();
    for (auto field : object) {
      std::string_view name = field.unescaped_key();
      if (name == "v") {
        int64_t version = field.value().get_int64();
        if (version != 1)
          not_a_message(channel, payload,
                        "unknown format version " + std::to_string(version) + " (this client reads v1)");
        message.version = 1;
        has_v = true;
      } else if (name == "op") {
        std::string_view op = field.value().get_string();
        auto named = op_named(op);
        if (!named)
          not_a_message(channel, payload, "unknown op \"" + std::string(op) + "\"");
        message.op = *named;
        has_op = true;
      } else if (name == "table") {
        message.table = std::string(std::string_view(field.value().get_string()));
        has_table = true;
      } else if (name == "label") {
        message.label = std::string(std::string_view(field.value().get_string()));
        has_label = true;
      } else if (name == "key") {
        for (auto column : field.value().get_array())
          message.key_columns.emplace_back(std::string_view(column.get_string()));
        has_key = true;
      } else if (name == "rows") {
        for (auto row : field.value().get_array()) {
          ondemand::value row_value = row.value();
          if (row_value.type() == ondemand::json_type::object) {
            row_sizes.push_back(decode_row(row_value.get_object(), message, builder));
          } else {
            // Valid JSON but not a row: it has no columns, so decode() reports
            // it (it lacks the key) and delivers the others.
            (void)decode_value(row_value, builder);
            row_sizes.push_back(0);
          }
        }
        has_rows = true;
      } else if (name == "truncated") {
        message.truncated = field.value().get_bool();
      } else if (name == "dropped") {
        message.dropped = field.value().get_uint64();
      } else if (name == "lsn") {
        // Added by the relay worker: the message's WAL position, "X/Y" in hex.
        message.lsn = parse_lsn(field.value().get_string());
      }
      // Other fields: added by later versions; ignored.
    }
    // Past the object only the end may follow.
    if (document.current_location().error() != OUT_OF_BOUNDS)
      not_a_message(channel, payload, "trailing content after the JSON object");
  } catch (const simdjson_error &error) {
    not_a_message(channel, payload, std::string("malformed JSON (") + error.what() + ")");
  }
  if (!(has_v && has_op && has_table && has_label && has_key && has_rows))
    not_a_message(channel, payload, "a field of v, op, table, label, key, rows is missing");
}

} // namespace ectowatch::detail
