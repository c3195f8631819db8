// What a subscription matches: a whole label, one record's key, or column values.
#pragma once

#include "ectowatch/cxx20_check.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ectowatch {

// One value to match, in the form Value::text() has: a string by its content,
// a number or boolean by its JSON literal (so 42 and "42" both match 42).
// nullptr matches SQL NULL only, never the string "null".
class MatchValue {
public:
  MatchValue(const char *text) : text_(text) {}
  MatchValue(std::string text) : text_(std::move(text)) {}
  MatchValue(std::string_view text) : text_(text) {}
  MatchValue(bool value) : text_(value ? "true" : "false") {}
  MatchValue(std::nullptr_t) : text_("null"), null_(true) {}
  template <typename Integer,
            typename = std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>>>
  MatchValue(Integer value) : text_(std::to_string(value)) {}

  const std::string &text() const noexcept { return text_; }
  bool is_null() const noexcept { return null_; }

private:
  std::string text_;
  bool null_ = false;
};

// One record: the values of the watcher's key columns, in the watcher's key
// order (ectowatch_watchers.key_columns). Key{42}, Key{"eu", 7}.
class Key {
public:
  explicit Key(std::initializer_list<MatchValue> parts) : parts_(parts) {}
  explicit Key(std::vector<MatchValue> parts) : parts_(std::move(parts)) {}
  const std::vector<MatchValue> &parts() const noexcept { return parts_; }

private:
  std::vector<MatchValue> parts_;
};

// Rows whose columns (key or extra) have these values, all of them.
// {"post_id", 7}, or ColumnFilter{{{"org_id", 7}, {"user_name", "ann"}}}.
class ColumnFilter {
public:
  ColumnFilter(std::string column, MatchValue value) { conditions_.emplace_back(std::move(column), std::move(value)); }
  explicit ColumnFilter(std::vector<std::pair<std::string, MatchValue>> conditions)
      : conditions_(std::move(conditions)) {}
  const std::vector<std::pair<std::string, MatchValue>> &conditions() const noexcept { return conditions_; }

private:
  std::vector<std::pair<std::string, MatchValue>> conditions_;
};

} // namespace ectowatch
