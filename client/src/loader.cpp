#include "loader.hpp"

#include <algorithm>

namespace ectowatch::detail {

namespace {

// The canonical key of a loaded row, comparable with row_key() of an event.
std::string found_key(const std::vector<std::optional<std::string>> &texts) {
  std::vector<std::string> parts;
  parts.reserve(texts.size());
  for (const auto &text : texts)
    parts.push_back(text ? *text : std::string(kNullMatch));
  return canonical_key(parts);
}

} // namespace

Loader::Loader(std::function<std::unique_ptr<LoadRunner>()> make_runner, SubscriptionRegistry &registry,
               PositionTracker *positions, StatsCounters &stats)
    : make_runner_(std::move(make_runner)), registry_(registry), positions_(positions), stats_(stats) {}

Loader::~Loader() = default;

void Loader::collect(const SubscriptionPtr &subscription, const Event &event, Clock::time_point now) {
  const Message &message = event.message();
  std::string group_key = subscription->load->group_key + '\n' + message.table;
  for (const std::string &column : message.key_columns)
    group_key += '\n' + column; // two watchers of a table may have different keys
  auto [entry, fresh] = groups_.try_emplace(group_key);
  Group &group = entry->second;
  if (fresh || group.order.empty()) {
    group.spec = subscription->load;
    group.table = message.table;
    group.key_columns = message.key_columns;
    group.due = now + group.spec->options.window;
    // Before this event's message: it is dispatched only when its rows are.
    group.hold = positions_ ? positions_->dispatched() : 0;
  }
  std::string key = row_key(message, event.row());
  auto [slot, new_key] = group.keys.try_emplace(key);
  PendingKey &pending = slot->second;
  if (new_key) {
    group.order.push_back(key);
    for (const Value &value : event.key_values()) {
      pending.values.push_back(value.is_null() ? std::nullopt : std::optional<std::string>(value.text()));
      pending.json.emplace_back(value.json());
    }
  }
  auto wanted = std::find_if(pending.labels.begin(), pending.labels.end(),
                             [&](const auto &label) { return label.first == message.label; });
  if (wanted == pending.labels.end())
    pending.labels.emplace_back(message.label, message.op);
  else
    wanted->second = message.op; // the latest op wins, as the row is loaded once
  if (fresh || group.order.size() == 1)
    update_deadline_and_hold();
}

std::size_t Loader::flush_due(Clock::time_point now, const Hooks &hooks) {
  std::size_t delivered = 0;
  for (auto &[key, group] : groups_)
    if (!group.order.empty() && group.due <= now)
      delivered += flush(group, now, hooks);
  std::erase_if(groups_, [](const auto &entry) { return entry.second.order.empty(); });
  update_deadline_and_hold();
  return delivered;
}

std::size_t Loader::flush(Group &group, Clock::time_point now, const Hooks &hooks) {
  if (!runner_)
    runner_ = make_runner_();
  try {
    if (!runner_->ready(now)) {
      group.due = runner_->next_attempt();
      return 0;
    }
  } catch (const Error &error) {
    hooks.report(error); // the keys stay for the next attempt
    group.due = runner_->next_attempt();
    return 0;
  }

  std::size_t batch = std::max<std::size_t>(group.spec->options.max_batch, 1);
  std::size_t handled = 0; // keys loaded or given up (from the front of group.order)
  std::vector<std::string> loaded_order;
  std::vector<std::vector<FoundRow>> results;
  StringMap<const FoundRow *> found;
  std::vector<std::string> failed_labels;
  bool lost = false;
  while (handled < group.order.size() && !lost) {
    std::size_t end = std::min(group.order.size(), handled + batch);
    LoadRequest request;
    request.table = group.table;
    request.key_columns = group.key_columns;
    request.columns = &group.spec->options.columns;
    request.query = &group.spec->options.query;
    for (std::size_t index = handled; index < end; ++index)
      request.keys.push_back(group.keys.at(group.order[index]).values);
    try {
      stats_.load_queries.add();
      results.push_back(runner_->load(request));
      stats_.loaded_rows.add(results.back().size());
      for (const FoundRow &row : results.back())
        found.emplace(found_key(row.key_texts), &row);
      loaded_order.insert(loaded_order.end(), group.order.begin() + static_cast<std::ptrdiff_t>(handled),
                          group.order.begin() + static_cast<std::ptrdiff_t>(end));
      handled = end;
    } catch (const Error &error) {
      hooks.report(error);
      for (std::size_t index = handled; index < end; ++index)
        for (const auto &[label, op] : group.keys.at(group.order[index]).labels)
          if (std::find(failed_labels.begin(), failed_labels.end(), label) == failed_labels.end())
            failed_labels.push_back(label);
      lost = runner_->broken();
      if (!lost)
        handled = end; // refused: these keys are given up (the resync says so)
    }
  }
  std::size_t delivered = deliver(group, loaded_order, found, hooks);
  for (const std::string &label : failed_labels)
    hooks.resync(Resync{Resync::Reason::load_failed, label});
  for (std::size_t index = 0; index < handled; ++index)
    group.keys.erase(group.order[index]);
  group.order.erase(group.order.begin(), group.order.begin() + static_cast<std::ptrdiff_t>(handled));
  // Keys left after a lost connection: loaded again once it is back. Their
  // hold stays, so nothing after them is confirmed meanwhile.
  if (!group.order.empty())
    group.due = runner_->next_attempt();
  return delivered;
}

std::size_t Loader::deliver(const Group &group, const std::vector<std::string> &order,
                            const StringMap<const FoundRow *> &found, const Hooks &hooks) {
  // One list of rows per label, shared by the label's loaded subscriptions.
  std::vector<std::pair<std::string, std::vector<LoadedRow>>> by_label;
  for (const std::string &key : order) {
    const PendingKey &pending = group.keys.at(key);
    auto row = found.find(key);
    for (const auto &[label, op] : pending.labels) {
      // Not captured by the lambda: clang before 16 cannot capture a structured binding.
      const std::string &label_name = label;
      auto entry =
          std::find_if(by_label.begin(), by_label.end(), [&](const auto &item) { return item.first == label_name; });
      if (entry == by_label.end()) {
        by_label.emplace_back(label, std::vector<LoadedRow>());
        entry = by_label.end() - 1;
      }
      LoadedRow &loaded = entry->second.emplace_back();
      loaded.label = label;
      loaded.table = group.table;
      loaded.op = op;
      for (std::size_t column = 0; column < group.key_columns.size(); ++column)
        loaded.key.emplace_back(group.key_columns[column],
                                pending.values[column] ? *pending.values[column] : std::string());
      if (row != found.end()) {
        loaded.json = row->second->json;
        loaded.columns = row->second->columns;
      } else {
        loaded.absent = true;
        loaded.json = "{";
        for (std::size_t column = 0; column < group.key_columns.size(); ++column) {
          if (column > 0)
            loaded.json += ',';
          append_json_string(loaded.json, group.key_columns[column]);
          loaded.json += ':';
          loaded.json += pending.json[column];
        }
        loaded.json += '}';
      }
    }
  }
  std::size_t delivered = 0;
  for (const auto &[label, rows] : by_label) {
    for (const SubscriptionPtr &subscription : registry_.all_of(label)) {
      if (!subscription->load || subscription->load->group_key != group.spec->group_key)
        continue;
      std::lock_guard lock(subscription->call_mutex);
      if (!subscription->active)
        continue;
      delivered += rows.size();
      try {
        subscription->load->callback(rows);
      } catch (const std::exception &error) {
        hooks.callback_failed(
            CallbackError(std::string("a loaded subscriber of \"") + label + "\" threw: " + error.what()));
      } catch (...) {
        hooks.callback_failed(CallbackError("a loaded subscriber of \"" + label + "\" threw a non-standard exception"));
      }
    }
  }
  return delivered;
}

void Loader::update_deadline_and_hold() {
  Clock::time_point due = Clock::time_point::max();
  std::optional<std::uint64_t> hold;
  for (const auto &[key, group] : groups_) {
    if (group.order.empty())
      continue;
    due = std::min(due, group.due);
    hold = hold ? std::min(*hold, group.hold) : group.hold;
  }
  if (positions_)
    positions_->hold(hold);
  std::lock_guard lock(deadline_mutex_);
  next_deadline_ = due;
}

Clock::time_point Loader::next_deadline() const {
  std::lock_guard lock(deadline_mutex_);
  return next_deadline_;
}

} // namespace ectowatch::detail
