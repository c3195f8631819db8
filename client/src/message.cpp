// Accessors of decoded messages (ectowatch/message.hpp).
#include "ectowatch/errors.hpp"
#include "ectowatch/message.hpp"
#include "json_text.hpp"
#include "message_decoder.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ectowatch {

std::string_view to_string(Op op) {
  switch (op) {
  case Op::inserted:
    return "inserted";
  case Op::updated:
    return "updated";
  case Op::deleted:
    return "deleted";
  case Op::truncated:
    return "truncated";
  }
  return "unknown";
}

std::optional<Op> detail::op_named(std::string_view text) {
  for (Op op : {Op::inserted, Op::updated, Op::deleted, Op::truncated})
    if (to_string(op) == text)
      return op;
  return std::nullopt;
}

Op parse_op(std::string_view text) {
  if (auto op = detail::op_named(text))
    return *op;
  throw UsageError("unknown op \"" + std::string(text) + "\": use inserted, updated or deleted");
}

namespace {

std::string_view kind_name(Value::Kind kind) {
  switch (kind) {
  case Value::Kind::null:
    return "null";
  case Value::Kind::boolean:
    return "a boolean";
  case Value::Kind::number:
    return "a number";
  case Value::Kind::string:
    return "a string";
  case Value::Kind::object:
    return "an object";
  case Value::Kind::array:
    return "an array";
  }
  return "unknown";
}

[[noreturn]] void wrong_type(const Value &value, std::string_view wanted) {
  throw UsageError("value " + std::string(value.json()) + " is " + std::string(kind_name(value.kind())) + ", not " +
                   std::string(wanted));
}

template <typename Integer> Integer parse_integer(const Value &value, std::string_view wanted) {
  if (value.kind() != Value::Kind::number)
    wrong_type(value, wanted);
  Integer result{};
  std::string_view text = value.text();
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), result);
  if (error != std::errc() || end != text.data() + text.size())
    throw UsageError("value " + std::string(text) + " does not fit " + std::string(wanted) +
                     "; read its exact text with text()");
  return result;
}

} // namespace

template <> std::int64_t Value::as<std::int64_t>() const { return parse_integer<std::int64_t>(*this, "an int64"); }
template <> std::uint64_t Value::as<std::uint64_t>() const { return parse_integer<std::uint64_t>(*this, "a uint64"); }
template <> int Value::as<int>() const { return parse_integer<int>(*this, "an int"); }
template <> double Value::as<double>() const {
  if (kind_ != Kind::number)
    wrong_type(*this, "a number");
  // JSON numbers have no bound; a double does. Beyond its range the number
  // stays readable as its exact text (text(), json()) rather than as inf.
  double result = std::strtod(std::string(text_).c_str(), nullptr);
  if (std::isinf(result))
    throw UsageError("value " + std::string(text_) + " does not fit a double; read its exact text with text()");
  return result;
}
template <> bool Value::as<bool>() const {
  if (kind_ != Kind::boolean)
    wrong_type(*this, "a boolean");
  return text_ == "true";
}
template <> std::string Value::as<std::string>() const { return std::string(text_); }
template <> std::string_view Value::as<std::string_view>() const { return text_; }

const Value *Row::find(std::string_view column) const noexcept {
  for (const auto &[name, value] : columns())
    if (name == column)
      return &value;
  return nullptr;
}

std::string Row::json() const {
  std::string json = "{";
  for (const auto &[name, value] : columns()) {
    if (json.size() > 1)
      json.push_back(',');
    detail::append_json_string(json, name);
    json.push_back(':');
    json += value.json();
  }
  json.push_back('}');
  return json;
}

const Value &Row::at(std::string_view column) const {
  if (const Value *value = find(column))
    return *value;
  std::string names;
  for (const auto &entry : columns())
    names += (names.empty() ? "" : ", ") + std::string(entry.first);
  throw UsageError("the row has no column \"" + std::string(column) + "\" (it has: " + names +
                   "); add it to the watcher's extra_columns to receive it");
}

const Row &Event::row() const {
  if (kind_ != Kind::row)
    throw UsageError("this event has no row: it reports " +
                     std::string(kind_ == Kind::dropped ? "dropped rows" : "a TRUNCATE"));
  return message_->rows[row_index_];
}

const Value &Event::single_key() const {
  if (message_->key_columns.size() != 1)
    throw UsageError("key<T>(): \"" + message_->label + "\" has a key of " +
                     std::to_string(message_->key_columns.size()) + " columns; use key_values()");
  return row().at(message_->key_columns[0]);
}

std::vector<Value> Event::key_values() const {
  std::vector<Value> values;
  values.reserve(message_->key_columns.size());
  for (const std::string &column : message_->key_columns)
    values.push_back(row().at(column));
  return values;
}

} // namespace ectowatch
