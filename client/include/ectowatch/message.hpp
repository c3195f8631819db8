// Decoded ectowatch messages (format v1, docs/protocol.md): values, rows,
// messages and the events subscribers receive.
#pragma once

#include "ectowatch/cxx20_check.hpp"

#include "ectowatch/export.hpp"

#include <cstdint>
#include <forward_list>
#include <span>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ectowatch {

enum class Op { inserted, updated, deleted, truncated };
ECTOWATCH_EXPORT std::string_view to_string(Op op);
// "inserted" -> Op::inserted; throws UsageError for anything else.
ECTOWATCH_EXPORT Op parse_op(std::string_view text);
// Appends `text` as a JSON string literal, quotes included (for writing
// events as JSON lines, as `ectowatch listen` does).
ECTOWATCH_EXPORT void append_json_string(std::string &out, std::string_view text);

// One column value, as the message carries it. A view into its message:
// valid as long as the Event (or the Message) it came from is kept.
class ECTOWATCH_EXPORT Value {
public:
  enum class Kind { null, boolean, number, string, object, array };

  Value() = default;
  Value(Kind kind, std::string_view json, std::string_view text) : kind_(kind), json_(json), text_(text) {}

  Kind kind() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == Kind::null; }
  // The value exactly as JSON, e.g. `42`, `"ann"`, `{"a":1}`.
  std::string_view json() const noexcept { return json_; }
  // What filters compare: a string's content, or the JSON text of anything else.
  std::string_view text() const noexcept { return text_; }

  // Typed access: std::int64_t, std::uint64_t, int, double (numbers), bool,
  // std::string / std::string_view (a string's content; the JSON text of any
  // other value). Throws UsageError when the value is not of that type, or
  // is a number the type cannot hold (a fraction or 20 digits for an
  // int64, 1e400 for a double): every valid JSON number is kept, and text()
  // gives it exactly, e.g. for a numeric column or a big number in json.
  template <typename T> T as() const;

private:
  Kind kind_ = Kind::null;
  std::string_view json_ = "null";
  std::string_view text_ = "null";
};

// One changed row: the key columns, then the extra columns, in message order.
// A view into its message, like Value.
class ECTOWATCH_EXPORT Row {
public:
  using Column = std::pair<std::string_view, Value>;

  Row() = default;
  Row(const Column *columns, std::size_t count) : columns_(columns), count_(count) {}

  std::span<const Column> columns() const noexcept { return {columns_, count_}; }
  bool has(std::string_view column) const noexcept { return find(column) != nullptr; }
  const Value *find(std::string_view column) const noexcept;
  // Throws UsageError naming the columns the row has.
  const Value &at(std::string_view column) const;
  bool is_null(std::string_view column) const { return at(column).is_null(); }
  template <typename T> T get(std::string_view column) const { return at(column).as<T>(); }
  // Empty when the column is missing or null.
  template <typename T> std::optional<T> get_optional(std::string_view column) const {
    const Value *value = find(column);
    if (!value || value->is_null())
      return std::nullopt;
    return value->as<T>();
  }
  // The row object as JSON (built on each call).
  std::string json() const;

private:
  const Column *columns_ = nullptr;
  std::size_t count_ = 0;
};

// One notification, decoded. Its rows and values point into its own storage,
// so it is neither copied nor moved: it lives behind a shared_ptr.
struct Message {
  Message() = default;
  Message(const Message &) = delete;
  Message &operator=(const Message &) = delete;

  int version = 1;
  Op op = Op::inserted;
  std::string table;
  std::string label;
  std::string channel;
  std::vector<std::string> key_columns;
  std::vector<Row> rows;
  bool truncated = false;
  std::uint64_t dropped = 0;
  // Durable and relayed delivery: the message's WAL position. A message
  // delivered again after a crash or restart has the same lsn, so it
  // identifies duplicates. 0 for direct NOTIFY.
  std::uint64_t lsn = 0;

  // Storage the views point into.
  std::string payload;                      // the notification's text (with the parser's padding)
  std::vector<Row::Column> columns;         // every row's columns, row after row
  std::forward_list<std::string> unescaped; // names and strings that had escapes
};

// What a subscriber receives. Cheap to copy; may be kept after the callback.
class ECTOWATCH_EXPORT Event {
public:
  enum class Kind {
    row,       // one changed row: row() is valid
    dropped,   // dropped() rows of a message did not fit and were left out
    truncated, // the table was truncated (TRUNCATE); no rows
  };

  Event(std::shared_ptr<const Message> message, Kind kind, std::size_t row_index = 0)
      : message_(std::move(message)), kind_(kind), row_index_(row_index) {}

  Kind kind() const noexcept { return kind_; }
  Op op() const noexcept { return message_->op; }
  const std::string &label() const noexcept { return message_->label; }
  const std::string &table() const noexcept { return message_->table; }
  const std::vector<std::string> &key_columns() const noexcept { return message_->key_columns; }
  // The row; throws UsageError for dropped and truncated events.
  const Row &row() const;
  // The row's key as T, e.g. event.key<std::int64_t>(): for a watcher with
  // one key column (UsageError for a composite key: use key_values()).
  template <typename T> T key() const { return single_key().as<T>(); }
  // The row's key values, in key_columns() order (views, like Value).
  std::vector<Value> key_values() const;
  // True when this row's message lost extra columns of some row to the size
  // limit (has nothing to do with TRUNCATE: that is Kind::truncated).
  bool extra_columns_left_out() const noexcept { return message_->truncated; }
  [[deprecated("renamed extra_columns_left_out(); truncated() will be removed in the next release")]] bool
  truncated() const noexcept {
    return message_->truncated;
  }
  std::uint64_t dropped() const noexcept { return kind_ == Kind::dropped ? message_->dropped : 0; }
  const Message &message() const noexcept { return *message_; }

private:
  const Value &single_key() const;

  std::shared_ptr<const Message> message_;
  Kind kind_;
  std::size_t row_index_;
};

} // namespace ectowatch
