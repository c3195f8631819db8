#include "subscription_registry.hpp"

#include <algorithm>

namespace ectowatch::detail {

namespace {

void erase_from(std::vector<SubscriptionPtr> &list, const Subscription::State &subscription) {
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const SubscriptionPtr &s) { return s.get() == &subscription; }),
      list.end());
}

bool other_conditions_hold(const Subscription::State &subscription, const Row &row) {
  for (std::size_t i = 1; i < subscription.columns.size(); ++i) {
    const Value *value = row.find(subscription.columns[i].first);
    if (!value || value->text() != subscription.columns[i].second)
      return false;
  }
  return true;
}

} // namespace

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
  std::vector<std::string> texts;
  texts.reserve(message.key_columns.size());
  for (const std::string &column : message.key_columns) {
    const Value *value = row.find(column);
    texts.push_back(value ? value->text() : "null");
  }
  return canonical_key(texts);
}

bool SubscriptionRegistry::add(const SubscriptionPtr &subscription) {
  std::lock_guard lock(mutex_);
  LabelIndex &index = labels_[subscription->label];
  switch (subscription->kind) {
  case Subscription::State::Kind::all:
    index.all.push_back(subscription);
    break;
  case Subscription::State::Kind::key:
    index.by_key[subscription->key].push_back(subscription);
    break;
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
  case Subscription::State::Kind::key: {
    auto bucket = index.by_key.find(subscription.key);
    if (bucket == index.by_key.end())
      return false;
    before = bucket->second.size();
    erase_from(bucket->second, subscription);
    if (bucket->second.size() == before)
      return false;
    if (bucket->second.empty())
      index.by_key.erase(bucket);
    break;
  }
  case Subscription::State::Kind::columns: {
    auto column = index.by_column.find(subscription.columns.front().first);
    if (column == index.by_column.end())
      return false;
    auto bucket = column->second.find(subscription.columns.front().second);
    if (bucket == column->second.end())
      return false;
    before = bucket->second.size();
    erase_from(bucket->second, subscription);
    if (bucket->second.size() == before)
      return false;
    if (bucket->second.empty())
      column->second.erase(bucket);
    if (column->second.empty())
      index.by_column.erase(column);
    break;
  }
  }
  if (--index.count > 0)
    return false;
  labels_.erase(found);
  return true;
}

bool SubscriptionRegistry::wants(const std::string &label) const {
  std::lock_guard lock(mutex_);
  return labels_.count(label) > 0;
}

std::vector<std::string> SubscriptionRegistry::labels() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> result;
  for (const auto &entry : labels_)
    result.push_back(entry.first);
  return result;
}

std::vector<SubscriptionPtr> SubscriptionRegistry::match(const Message &message, const Row &row) const {
  std::vector<SubscriptionPtr> result;
  std::lock_guard lock(mutex_);
  auto found = labels_.find(message.label);
  if (found == labels_.end())
    return result;
  const LabelIndex &index = found->second;
  result = index.all;
  if (!index.by_key.empty()) {
    auto bucket = index.by_key.find(row_key(message, row));
    if (bucket != index.by_key.end())
      result.insert(result.end(), bucket->second.begin(), bucket->second.end());
  }
  for (const auto &[column, by_value] : index.by_column) {
    const Value *value = row.find(column);
    if (!value)
      continue;
    auto bucket = by_value.find(value->text());
    if (bucket == by_value.end())
      continue;
    for (const SubscriptionPtr &subscription : bucket->second)
      if (other_conditions_hold(*subscription, row))
        result.push_back(subscription);
  }
  std::sort(result.begin(), result.end(),
            [](const SubscriptionPtr &a, const SubscriptionPtr &b) { return a->id < b->id; });
  return result;
}

std::vector<SubscriptionPtr> SubscriptionRegistry::all_of(const std::string &label) const {
  std::vector<SubscriptionPtr> result;
  std::lock_guard lock(mutex_);
  auto found = labels_.find(label);
  if (found == labels_.end())
    return result;
  const LabelIndex &index = found->second;
  result = index.all;
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
