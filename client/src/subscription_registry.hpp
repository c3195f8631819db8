// Who wants which rows: subscriptions indexed by label, then by record key or
// by one column's value, so matching a row costs hash lookups, not a scan of
// every subscription.
#pragma once

#include "ectowatch/client.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ectowatch {

namespace detail {
struct LoadSpec; // loader.hpp
}

// One subscription. Owned by the registry; Subscription handles hold a weak_ptr.
struct Subscription::State {
  enum class Kind { all, key, columns, every_label };

  std::uint64_t id = 0;
  std::string label; // empty for Kind::every_label
  Kind kind = Kind::all;
  std::string key;                                          // Kind::key: canonical key
  std::vector<std::pair<std::string, std::string>> columns; // Kind::columns: (column, value text)
  EventCallback callback;
  BatchCallback batch_callback;                 // subscribe_batch(): set instead of `callback`
  std::shared_ptr<const detail::LoadSpec> load; // subscribe_loaded(): set instead of both
  SubscribeOptions options;
  std::function<void(State &)> unsubscribe; // set by the client

  std::atomic<bool> active{true};
  std::mutex call_mutex; // held while the callback runs

  // Coalescing (touched only while dispatching).
  struct Slot {
    std::chrono::steady_clock::time_point last_delivery{};
    std::optional<Event> pending;
  };
  std::unordered_map<std::string, Slot> slots;
};

namespace detail {

using SubscriptionPtr = std::shared_ptr<Subscription::State>;

// Lets maps keyed by std::string be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};
template <typename T> using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

// The text a value is matched by: Value::text(), except for SQL NULL (and a
// column the row lacks), which is kNullMatch. No value PostgreSQL sends can
// have that text (text and jsonb hold no NUL character), so NULL never
// matches the string "null", whose text() is the same as NULL's.
inline constexpr std::string_view kNullMatch{"\0", 1};
std::string_view match_text(const Value *value);
std::string match_text(const MatchValue &value);

// The canonical form of a record key: the values' match texts, each length-prefixed.
std::string canonical_key(const std::vector<std::string> &texts);
// The canonical key of `row` under the message's key columns.
std::string row_key(const Message &message, const Row &row);

class SubscriptionRegistry {
public:
  // Returns true when `label` had no subscription before (never for
  // Kind::every_label, which no server-side subscription follows).
  bool add(const SubscriptionPtr &subscription);
  // Returns true when `label` has no subscription left.
  bool remove(const Subscription::State &subscription);
  bool wants(std::string_view label) const;
  std::vector<std::string> labels() const;

  struct Match {
    std::size_t row_index;
    SubscriptionPtr subscription; // keeps it alive while callbacks run
  };
  // Every (row, subscription) that wants it, in row order, then subscription
  // order; `out` is reused between messages to save allocations.
  void match(const Message &message, std::vector<Match> &out) const;
  // Every subscription of a label (for dropped and truncated events).
  std::vector<SubscriptionPtr> all_of(const std::string &label) const;

private:
  struct LabelIndex {
    std::vector<SubscriptionPtr> all;
    StringMap<std::vector<SubscriptionPtr>> by_key;
    // column -> value text -> subscriptions whose first condition is that
    StringMap<StringMap<std::vector<SubscriptionPtr>>> by_column;
    std::size_t count = 0;
  };

  // The index of `label`, or null. Remembers the last label found: a
  // listener's messages mostly come from one watcher in a row, and hashing
  // the label was a third of matching a one-row message.
  const LabelIndex *find_locked(std::string_view label) const;

  mutable std::mutex mutex_;
  StringMap<LabelIndex> labels_;
  std::vector<SubscriptionPtr> every_label_;       // Kind::every_label: wants every label's rows
  mutable std::string last_label_;                 // under mutex_
  mutable const LabelIndex *last_index_ = nullptr; // labels_[last_label_]; null after a label is removed
};

} // namespace detail
} // namespace ectowatch
