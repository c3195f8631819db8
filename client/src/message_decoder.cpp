#include "message_decoder.hpp"

#include "ectowatch/errors.hpp"
#include "fast_path_decoder.hpp"
#include "json_text.hpp"

#include <simdjson.h>

#include <array>
#include <atomic>
#include <vector>

namespace ectowatch::detail {

namespace {

using namespace simdjson;

[[noreturn]] void fail(std::string_view channel, std::string_view payload, const std::string &why) {
  throw ProtocolError("not an ectowatch message on channel \"" + std::string(channel) + "\": " + why,
                      std::string(channel), std::string(payload));
}

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

std::uint64_t parse_lsn(std::string_view text) { return protocol::parse_lsn(text); }

namespace {

// What each message has of its own: rows, columns, flags.
void clear_body(Message &message) {
  message.rows.clear();
  message.truncated = false;
  message.dropped = 0;
  message.lsn = 0;
  message.columns.clear();
  message.unescaped.clear();
}

// Everything decoding fills in from the payload (the fast path may have
// filled part of it before it gave up).
void clear_decoded(Message &message) {
  clear_body(message);
  message.version = 1;
  message.op = Op::inserted;
  message.table.clear();
  message.label.clear();
  message.key_columns.clear();
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

// What a decoding thread reuses from one message to the next.
struct DecoderState {
  MessagePool pool;
  CanonicalHeader last_header;
  std::vector<std::size_t> row_sizes;
  ondemand::parser parser;
};
DecoderState &decoder_state() {
  thread_local DecoderState state;
  return state;
}

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
          fail(channel, payload, "unknown format version " + std::to_string(version) + " (this client reads v1)");
        message.version = 1;
        has_v = true;
      } else if (name == "op") {
        std::string_view op = field.value().get_string();
        auto named = op_named(op);
        if (!named)
          fail(channel, payload, "unknown op \"" + std::string(op) + "\"");
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
      fail(channel, payload, "trailing content after the JSON object");
  } catch (const simdjson_error &error) {
    fail(channel, payload, std::string("malformed JSON (") + error.what() + ")");
  }
  if (!(has_v && has_op && has_table && has_label && has_key && has_rows))
    fail(channel, payload, "a field of v, op, table, label, key, rows is missing");
}

// `from_slot`: durable delivery, where no channel names the label; `channel`
// then only names the source in errors.
std::shared_ptr<Message> decode(std::string_view channel, std::string_view payload, bool from_slot, Parser parser,
                                std::vector<RowError> *bad_rows) {
  DecoderState &state = decoder_state();
  auto message = state.pool.take();
  // The message keeps its own copy of the payload (the rows view into it),
  // with the padding simdjson reads past the end.
  message->payload.reserve(payload.size() + SIMDJSON_PADDING);
  message->payload.assign(payload);
  std::vector<std::size_t> &row_sizes = state.row_sizes;
  row_sizes.clear();
  if (parser == Parser::simdjson_only || !decode_canonical(*message, row_sizes, state.last_header)) {
    clear_decoded(*message);
    row_sizes.clear();
    decode_with_simdjson(channel, *message, row_sizes, state.parser);
  }
  if (message->key_columns.empty())
    fail(channel, payload, "\"key\" is empty");
  if (!from_slot && message->label != channel)
    fail(channel, payload, "its label \"" + message->label + "\" is not the channel it arrived on");
  // The columns are complete: the rows can point into them now. A row
  // without its key cannot be matched or told apart: it is left out and
  // reported, and the message's other rows are delivered.
  std::size_t start = 0;
  message->rows.reserve(row_sizes.size());
  for (std::size_t index = 0; index < row_sizes.size(); ++index) {
    Row row(message->columns.data() + start, row_sizes[index]);
    start += row_sizes[index];
    const std::string *missing = nullptr;
    for (const std::string &key : message->key_columns)
      if (!row.has(key)) {
        missing = &key;
        break;
      }
    if (!missing) {
      message->rows.push_back(row);
      continue;
    }
    std::string why = "row " + std::to_string(index) + " of a message of \"" + message->label + "\" (table " +
                      message->table + ") " +
                      (row_sizes[index] == 0 ? std::string("is not an object with columns")
                                             : "lacks key column \"" + *missing + "\"") +
                      "; the message's other rows were delivered";
    if (!bad_rows)
      fail(channel, payload, why);
    bad_rows->push_back(
        RowError("not an ectowatch row: " + why, std::string(channel), std::string(payload), message->label, index));
  }
  assign_if_different(message->channel, from_slot ? std::string_view(message->label) : channel);
  return message;
}

} // namespace

std::shared_ptr<const Message> decode_message(std::string_view channel, std::string_view payload, Parser parser,
                                              std::vector<RowError> *bad_rows) {
  return decode(channel, payload, false, parser, bad_rows);
}

std::shared_ptr<const Message> decode_slot_message(std::uint64_t lsn, std::string_view payload,
                                                   std::vector<RowError> *bad_rows) {
  auto message = decode("(replication slot)", payload, true, Parser::fast_path_first, bad_rows);
  message->lsn = lsn;
  return message;
}

namespace {

std::vector<std::string> string_list(ondemand::value value) {
  std::vector<std::string> result;
  if (value.is_null())
    return result;
  for (auto item : value.get_array())
    result.emplace_back(std::string_view(item.get_string()));
  return result;
}

} // namespace

std::vector<WatcherInfo> decode_watchers(std::string_view json) {
  std::vector<WatcherInfo> watchers;
  if (json.empty())
    return watchers;
  ondemand::parser parser;
  padded_string padded(json);
  ondemand::document document = parser.iterate(padded);
  for (auto item : document.get_array()) {
    WatcherInfo info;
    for (auto field : item.get_object()) {
      std::string_view name = field.unescaped_key();
      ondemand::value value = field.value();
      if (name == "label")
        info.label = std::string(std::string_view(value.get_string()));
      else if (name == "table_name")
        info.table = std::string(std::string_view(value.get_string()));
      else if (name == "op")
        info.op = parse_op(std::string_view(value.get_string()));
      else if (name == "channel")
        info.channel = std::string(std::string_view(value.get_string()));
      else if (name == "key_columns")
        info.key_columns = string_list(value);
      else if (name == "extra_columns")
        info.extra_columns = string_list(value);
      else if (name == "trigger_columns")
        info.trigger_columns = string_list(value);
      else if (name == "condition" && !value.is_null())
        info.condition = std::string(std::string_view(value.get_string()));
      else if (name == "replicated")
        info.replicated = value.get_bool();
      else if (name == "delivery")
        info.delivery = std::string(std::string_view(value.get_string()));
    }
    watchers.push_back(std::move(info));
  }
  return watchers;
}

} // namespace ectowatch::detail
