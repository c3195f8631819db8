#include "subscription_registry.hpp"

#include <algorithm>

namespace ectowatch::detail {

namespace {

void erase_from(std::vector<SubscriptionPtr> &list, const Subscription::State &subscription) {
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const SubscriptionPtr &s) { return s.get() == &subscription; }),
      list.end());
}

// Removes `subscription` from map[key]; drops the bucket when it empties.
template <typename Map>
bool erase_from_bucket(Map &map, std::string_view key, const Subscription::State &subscription) {
  auto bucket = map.find(key);
  if (bucket == map.end())
    return false;
  std::size_t before = bucket->second.size();
  erase_from(bucket->second, subscription);
  if (bucket->second.size() == before)
    return false;
  if (bucket->second.empty())
    map.erase(bucket);
  return true;
}

bool other_conditions_hold(const Subscription::State &subscription, const Row &row) {
  for (std::size_t i = 1; i < subscription.columns.size(); ++i) {
    const Value *value = row.find(subscription.columns[i].first);
    if (!value || match_text(value) != subscription.columns[i].second)
      return false;
  }
  return true;
}

} // namespace

std::string_view match_text(const Value *value) { return !value || value->is_null() ? kNullMatch : value->text(); }

std::string match_text(const MatchValue &value) { return value.is_null() ? std::string(kNullMatch) : value.text(); }

std::string canonical_key(const std::vector<std::string> &texts) {
  std::string key;
  for (const std::string &text : texts) {
    key += std::to_string(text.size());
    key.push_back(':');
    key += text;
  }
  return key;
}

std::string row_key(const Message &message, const Row &row) {
  std::string key;
  for (const std::string &column : message.key_columns) {
    std::string_view text = match_text(row.find(column));
    key += std::to_string(text.size());
    key.push_back(':');
    key += text;
  }
  return key;
}

bool SubscriptionRegistry::add(const SubscriptionPtr &subscription) {
  std::lock_guard lock(mutex_);
  if (subscription->kind == Subscription::State::Kind::every_label) {
    every_label_.push_back(subscription);
    return false;
  }
  LabelIndex &index = labels_[subscription->label];
  switch (subscription->kind) {
  case Subscription::State::Kind::all:
    index.all.push_back(subscription);
    break;
  case Subscription::State::Kind::key:
    index.by_key[subscription->key].push_back(subscription);
    break;
  case Subscription::State::Kind::every_label:
    break; // handled above
  case Subscription::State::Kind::columns: {
    const auto &[column, value] = subscription->columns.front();
    index.by_column[column][value].push_back(subscription);
    break;
  }
  }
  return ++index.count == 1;
}

bool SubscriptionRegistry::remove(const Subscription::State &subscription) {
  std::lock_guard lock(mutex_);
  if (subscription.kind == Subscription::State::Kind::every_label) {
    erase_from(every_label_, subscription);
    return false;
  }
  auto found = labels_.find(subscription.label);
  if (found == labels_.end())
    return false;
  LabelIndex &index = found->second;
  std::size_t before = index.all.size();
  switch (subscription.kind) {
  case Subscription::State::Kind::all:
    erase_from(index.all, subscription);
    if (index.all.size() == before)
      return false;
    break;
  case Subscription::State::Kind::key:
    if (!erase_from_bucket(index.by_key, subscription.key, subscription))
      return false;
    break;
  case Subscription::State::Kind::every_label:
    return false; // handled above
  case Subscription::State::Kind::columns: {
    auto column = index.by_column.find(subscription.columns.front().first);
    if (column == index.by_column.end() ||
        !erase_from_bucket(column->second, subscription.columns.front().second, subscription))
      return false;
    if (column->second.empty())
      index.by_column.erase(column);
    break;
  }
  }
  if (--index.count > 0)
    return false;
  if (last_index_ == &index)
    last_index_ = nullptr;
  labels_.erase(found);
  return true;
}

const SubscriptionRegistry::LabelIndex *SubscriptionRegistry::find_locked(std::string_view label) const {
  if (last_index_ && label == last_label_)
    return last_index_;
  auto found = labels_.find(label);
  if (found == labels_.end())
    return nullptr;
  last_label_.assign(label);
  last_index_ = &found->second;
  return last_index_;
}

bool SubscriptionRegistry::wants(std::string_view label) const {
  std::lock_guard lock(mutex_);
  return !every_label_.empty() || labels_.find(label) != labels_.end();
}

std::vector<std::string> SubscriptionRegistry::labels() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> result;
  for (const auto &entry : labels_)
    result.push_back(entry.first);
  return result;
}

void SubscriptionRegistry::match(const Message &message, std::vector<Match> &out) const {
  out.clear();
  std::lock_guard lock(mutex_);
  const LabelIndex *found = find_locked(message.label);
  if (!found && every_label_.empty())
    return;
  static const LabelIndex no_label_subscription;
  const LabelIndex &index = found ? *found : no_label_subscription;
  for (std::size_t row_index = 0; row_index < message.rows.size(); ++row_index) {
    const Row &row = message.rows[row_index];
    std::size_t first = out.size();
    for (const SubscriptionPtr &subscription : every_label_)
      out.push_back({row_index, subscription});
    bool several_sources = !every_label_.empty() && !index.all.empty();
    for (const SubscriptionPtr &subscription : index.all)
      out.push_back({row_index, subscription});
    if (!index.by_key.empty()) {
      auto bucket = index.by_key.find(row_key(message, row));
      if (bucket != index.by_key.end()) {
        several_sources = out.size() > first;
        for (const SubscriptionPtr &subscription : bucket->second)
          out.push_back({row_index, subscription});
      }
    }
    for (const auto &[column, by_value] : index.by_column) {
      const Value *value = row.find(column);
      if (!value)
        continue;
      auto bucket = by_value.find(match_text(value));
      if (bucket == by_value.end())
        continue;
      several_sources = several_sources || out.size() > first;
      for (const SubscriptionPtr &subscription : bucket->second)
        if (other_conditions_hold(*subscription, row))
          out.push_back({row_index, subscription});
    }
    // Subscribers of one row are called in the order they subscribed.
    if (several_sources)
      std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                [](const Match &a, const Match &b) { return a.subscription->id < b.subscription->id; });
  }
}

std::vector<SubscriptionPtr> SubscriptionRegistry::all_of(const std::string &label) const {
  std::lock_guard lock(mutex_);
  std::vector<SubscriptionPtr> result = every_label_;
  auto found = labels_.find(label);
  if (found == labels_.end())
    return result;
  const LabelIndex &index = found->second;
  result.insert(result.end(), index.all.begin(), index.all.end());
  for (const auto &[key, list] : index.by_key)
    result.insert(result.end(), list.begin(), list.end());
  for (const auto &[column, by_value] : index.by_column)
    for (const auto &[value, list] : by_value)
      result.insert(result.end(), list.begin(), list.end());
  std::sort(result.begin(), result.end(),
            [](const SubscriptionPtr &a, const SubscriptionPtr &b) { return a->id < b->id; });
  return result;
}

} // namespace ectowatch::detail
