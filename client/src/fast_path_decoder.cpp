#include "fast_path_decoder.hpp"

#include "message_decoder.hpp"

#include <simdjson.h>

#include <array>
#include <cstring>
#include <string_view>

namespace ectowatch::detail {

namespace {

// What a byte means inside a string (one table lookup per byte).
enum ByteClass : unsigned char { kPlain, kQuote, kNonAscii, kStop };
constexpr std::array<ByteClass, 256> kByteClass = [] {
  std::array<ByteClass, 256> table{};
  for (int byte = 0; byte < 256; ++byte)
    table[static_cast<std::size_t>(byte)] = byte < 0x20 || byte == '\\' ? kStop
                                            : byte == '"'               ? kQuote
                                            : byte >= 0x80              ? kNonAscii
                                                                        : kPlain;
  return table;
}();

// Reads the canonical form left to right. Every method either consumes what
// it expects and returns true, or returns false (the caller then gives up).
class Cursor {
public:
  explicit Cursor(std::string_view text) : start_(text.data()), at_(text.data()), end_(text.data() + text.size()) {}

  bool at_end() const { return at_ == end_; }
  bool next_is(char c) const { return at_ < end_ && *at_ == c; }

  bool skip(char c) {
    if (!next_is(c))
      return false;
    ++at_;
    return true;
  }

  // A literal of fixed length: the compiler turns the comparison into a few
  // word compares (this scan's hottest step).
  template <std::size_t N> bool skip(const char (&text)[N]) {
    constexpr std::size_t length = N - 1;
    if (static_cast<std::size_t>(end_ - at_) < length || std::memcmp(at_, text, length) != 0)
      return false;
    at_ += length;
    return true;
  }

  // A string without escapes or control characters. `json` is the literal
  // with its quotes, `content` the text between them.
  bool string(std::string_view &json, std::string_view &content) {
    const char *start = at_;
    if (!skip('"'))
      return false;
    const char *c = at_;
    for (;;) {
      while (c < end_ && kByteClass[static_cast<unsigned char>(*c)] == kPlain)
        ++c;
      if (c == end_)
        return false;
      ByteClass kind = kByteClass[static_cast<unsigned char>(*c)];
      if (kind == kQuote)
        break;
      if (kind != kNonAscii) // a backslash or a control character
        return false;
      non_ascii_ = true; // checked as UTF-8 once, at the end
      ++c;
    }
    content = std::string_view(at_, static_cast<std::size_t>(c - at_));
    at_ = c + 1;
    json = std::string_view(start, static_cast<std::size_t>(at_ - start));
    return true;
  }
  bool string(std::string_view &content) {
    std::string_view json;
    return string(json, content);
  }

  // A JSON number without exponent, short enough that every reader takes it
  // as a double: -?(0|[1-9][0-9]*)(.[0-9]+)?
  bool number(std::string_view &json) {
    const char *start = at_;
    skip('-');
    if (!skip('0')) {
      if (!next_is_digit())
        return false;
      skip_digits();
    }
    if (skip('.')) {
      if (!next_is_digit())
        return false;
      skip_digits();
    }
    if (next_is('e') || next_is('E'))
      return false;
    json = std::string_view(start, static_cast<std::size_t>(at_ - start));
    return json.size() <= kMaxNumberLength;
  }

  // Digits of an unsigned count that fits in 64 bits (no leading zeros).
  bool count(std::uint64_t &value) {
    const char *start = at_;
    if (next_is('0')) {
      ++at_;
      value = 0;
      return true;
    }
    skip_digits();
    std::size_t digits = static_cast<std::size_t>(at_ - start);
    if (digits == 0 || digits > 18)
      return false;
    value = 0;
    for (const char *c = start; c < at_; ++c)
      value = value * 10 + static_cast<std::uint64_t>(*c - '0');
    return true;
  }

  bool saw_non_ascii() const { return non_ascii_; }
  std::size_t position() const { return static_cast<std::size_t>(at_ - start_); }
  // Past `length` bytes already known to be canonical.
  void advance(std::size_t length, bool non_ascii) {
    at_ += length;
    non_ascii_ = non_ascii_ || non_ascii;
  }

private:
  static constexpr std::size_t kMaxNumberLength = 64;

  bool next_is_digit() const { return at_ < end_ && *at_ >= '0' && *at_ <= '9'; }
  void skip_digits() {
    while (next_is_digit())
      ++at_;
  }

  const char *start_;
  const char *at_;
  const char *end_;
  bool non_ascii_ = false;
};

// A column value: a plain string, a number, true, false or null.
bool value(Cursor &in, Value &result) {
  std::string_view json, content;
  if (in.next_is('"')) {
    if (!in.string(json, content))
      return false;
    result = Value(Value::Kind::string, json, content);
  } else if (in.skip("true")) {
    result = Value(Value::Kind::boolean, "true", "true");
  } else if (in.skip("false")) {
    result = Value(Value::Kind::boolean, "false", "false");
  } else if (in.skip("null")) {
    result = Value();
  } else {
    if (!in.number(json))
      return false;
    result = Value(Value::Kind::number, json, json);
  }
  return true;
}

// {"name":value,...} with at least one column; appends to message.columns.
bool row(Cursor &in, Message &message, std::size_t &columns) {
  if (!in.skip('{'))
    return false;
  columns = 0;
  do {
    std::string_view name;
    Value column_value;
    if (!in.string(name) || !in.skip(':') || !value(in, column_value))
      return false;
    message.columns.emplace_back(name, column_value);
    ++columns;
  } while (in.skip(','));
  return in.skip('}');
}

// The header, `{"v":1,...,"rows":[`, into `message`.
bool header(Cursor &in, Message &message) {
  std::string_view text;
  if (!in.skip(R"({"v":1,"op":)") || !in.string(text))
    return false;
  std::optional<Op> op = op_named(text);
  if (!op)
    return false;
  message.op = *op;
  if (!in.skip(R"(,"table":)") || !in.string(text))
    return false;
  assign_if_different(message.table, text);
  if (!in.skip(R"(,"label":)") || !in.string(text))
    return false;
  assign_if_different(message.label, text);
  if (!in.skip(R"(,"key":[)"))
    return false;
  message.key_columns.clear();
  do {
    if (!in.string(text))
      return false;
    message.key_columns.emplace_back(text);
  } while (in.skip(','));
  return in.skip(R"(],"rows":[)");
}

} // namespace

bool decode_canonical(Message &message, std::vector<std::size_t> &row_sizes, CanonicalHeader &last) {
  std::string_view payload = message.payload;
  Cursor in(payload);
  if (!last.text.empty() && payload.starts_with(last.text)) {
    in.advance(last.text.size(), last.non_ascii);
    message.op = last.op;
    assign_if_different(message.table, last.table);
    assign_if_different(message.label, last.label);
    if (message.key_columns != last.key_columns)
      message.key_columns = last.key_columns;
  } else {
    if (!header(in, message))
      return false;
    last.text.assign(payload.substr(0, in.position()));
    last.non_ascii = in.saw_non_ascii();
    last.op = message.op;
    last.table.assign(message.table);
    last.label.assign(message.label);
    last.key_columns.assign(message.key_columns.begin(), message.key_columns.end());
  }
  if (!in.next_is(']')) {
    do {
      std::size_t columns = 0;
      if (!row(in, message, columns))
        return false;
      row_sizes.push_back(columns);
    } while (in.skip(','));
  }
  if (!in.skip(']'))
    return false;
  // The optional fields, in the order the extension writes them.
  if (in.skip(R"(,"truncated":true)"))
    message.truncated = true;
  if (in.skip(R"(,"dropped":)") && !in.count(message.dropped))
    return false;
  if (in.skip(R"(,"lsn":)")) {
    std::string_view text;
    if (!in.string(text))
      return false;
    message.lsn = parse_lsn(text);
  }
  if (!in.skip('}') || !in.at_end())
    return false;
  return !in.saw_non_ascii() || simdjson::validate_utf8(payload.data(), payload.size());
}

} // namespace ectowatch::detail
