// `ectowatch listen`: one JSON line per row event, for shells and scripts.
#include "commands.hpp"
#include "stats_json.hpp"
#include "stop_signal.hpp"
#include "targets.hpp"

#include <ectowatch/ectowatch.hpp>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>

namespace ectowatch::cli {

namespace {

using Clock = std::chrono::steady_clock;

void install_signal_handlers() {
  install_stop_signal();
  // A closed output pipe (`listen | head -1`) is the reader saying "enough":
  // print_line notices the failed write and listen exits 0, not 141.
  signal(SIGPIPE, SIG_IGN);
}

bool output_closed = false;

// A target's VALUE as the README gives it: `null` is SQL NULL (JSON's
// literal); every other text is matched as Value::text() (42 matches 42 and "42").
MatchValue match_value(const std::string &text) { return text == "null" ? MatchValue(nullptr) : MatchValue(text); }

void print_line(const std::string &line) {
  if (output_closed)
    return;
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    output_closed = true;
}

// Checks every target against ectowatch_watchers: the label exists, its
// delivery matches --slot, and each column is one of its key or extra columns.
void validate(const std::vector<Target> &targets, const std::vector<WatcherInfo> &watchers, bool from_slot) {
  std::map<std::string, const WatcherInfo *> by_label;
  for (const WatcherInfo &watcher : watchers)
    by_label[watcher.label] = &watcher;
  for (const Target &target : targets) {
    auto found = by_label.find(target.label);
    if (found == by_label.end())
      throw UsageError("unknown label \"" + target.label +
                       "\": no watcher has it (ectowatch watchers lists them; ectowatch watch creates one)");
    const WatcherInfo &watcher = *found->second;
    if (watcher.delivery == "durable" && !from_slot)
      throw UsageError("watcher \"" + target.label +
                       "\" is durable: its events are read from a replication slot; pass --slot NAME (created if "
                       "missing, one per listener)");
    if (watcher.delivery != "durable" && from_slot)
      throw UsageError("watcher \"" + target.label + "\" delivers by " + watcher.delivery +
                       ", not from a slot: listen without --slot, or recreate it with --delivery durable");
    std::vector<std::string> sent = watcher.key_columns;
    sent.insert(sent.end(), watcher.extra_columns.begin(), watcher.extra_columns.end());
    for (const auto &[column, value] : target.conditions) {
      if (std::find(sent.begin(), sent.end(), column) == sent.end()) {
        std::string names;
        for (const std::string &name : sent)
          names += (names.empty() ? "" : ", ") + name;
        throw UsageError("watcher \"" + target.label + "\" sends no column \"" + column + "\" (it sends: " + names +
                         ")");
      }
    }
  }
}

} // namespace

int listen(const ListenArguments &arguments) {
  std::vector<Target> targets;
  try {
    for (const std::string &text : arguments.targets)
      targets.push_back(parse_target(text));
  } catch (const std::invalid_argument &error) {
    std::cerr << "ectowatch: " << error.what() << "\n";
    return kExitUsage;
  }
  if (arguments.load)
    for (const Target &target : targets)
      if (!target.conditions.empty()) {
        std::cerr << "ectowatch: --load loads every changed row of a label: give LABEL, not LABEL:COLUMN=VALUE (\""
                  << target.label << "\")\n";
        return kExitUsage;
      }

  std::unique_ptr<Client> client;
  try {
    // --load (also with --nats) loads the rows from --dsn's database.
    ClientOptions options{.application_name = "ectowatch listen",
                          .max_buffered_bytes = arguments.max_buffered_bytes,
                          .load_conninfo = arguments.dsn};
    if (arguments.nats) { // no PostgreSQL: nothing to validate the targets against
      Nats nats = arguments.nats_options;
      nats.url = *arguments.nats;
      client = std::make_unique<Client>(nats, options);
    } else {
      client = std::make_unique<Client>(arguments.dsn, options);
      validate(targets, client->watchers(), arguments.slot.has_value());
    }
    if (arguments.slot) // only now: a mistyped label must not leave a new slot behind
      client = std::make_unique<Client>(arguments.dsn, Durable{*arguments.slot}, options);
    install_signal_handlers();
  } catch (const std::exception &error) {
    print_error(error);
    return kExitError;
  }

  // --stats: the counts go to stderr however listen ends (count, timeout,
  // signal, closed output).
  struct StatsOnExit {
    const ListenArguments &arguments;
    const std::unique_ptr<Client> &client;
    ~StatsOnExit() {
      if (arguments.stats)
        std::cerr << stats_json(client->stats(), arguments.slot.has_value()) << std::endl;
    }
  } stats_on_exit{arguments, client};

  long long printed = 0;
  const bool durable = arguments.slot || (arguments.nats && !arguments.nats_options.consumer.empty());
  // Durable: the transaction that reaches --count is printed to its end and
  // confirmed; nothing after it is dispatched, so the next listener on the
  // slot starts exactly after it.
  auto count_reached = [&] { return arguments.count && printed >= *arguments.count; };
  // A row matched by several targets is printed once. The last event is kept
  // (and with it its message, so its address cannot be reused meanwhile).
  std::optional<Event> last;
  auto on_event = [&](const Event &event) {
    bool same = last && &last->message() == &event.message() && last->kind() == event.kind() &&
                (event.kind() != Event::Kind::row || &last->row() == &event.row());
    if (same)
      return;
    last = event;
    std::string line;
    switch (event.kind()) {
    case Event::Kind::row: {
      if (count_reached() && !durable)
        return;
      line = "{\"label\":";
      append_json_string(line, event.label());
      line += ",\"table\":";
      append_json_string(line, event.table());
      line += ",\"op\":";
      append_json_string(line, to_string(event.op()));
      line += ",\"row\":" + event.row().json();
      if (event.extra_columns_left_out())
        line += ",\"truncated\":true";
      line += "}";
      if (++printed == arguments.count.value_or(0) && durable)
        client->stop();
      break;
    }
    case Event::Kind::dropped:
      line = "{\"event\":\"dropped\",\"label\":";
      append_json_string(line, event.label());
      line += ",\"count\":" + std::to_string(event.dropped()) + "}";
      break;
    case Event::Kind::truncated:
      line = "{\"event\":\"truncated\",\"label\":";
      append_json_string(line, event.label());
      line += "}";
      break;
    }
    print_line(line);
  };

  // --load: one line per loaded key, counted like a row line.
  auto on_loaded = [&](std::span<const LoadedRow> rows) {
    for (const LoadedRow &row : rows) {
      if (count_reached() && !durable)
        return;
      std::string line = "{\"label\":";
      append_json_string(line, row.label);
      line += ",\"table\":";
      append_json_string(line, row.table);
      line += ",\"op\":";
      append_json_string(line, to_string(row.op));
      line += ",\"row\":" + row.json;
      if (row.absent)
        line += ",\"absent\":true";
      line += "}";
      print_line(line);
      if (++printed == arguments.count.value_or(0) && durable)
        client->stop();
    }
  };
  LoadOptions load_options;
  load_options.window = std::chrono::milliseconds(arguments.load_window_ms);
  load_options.columns = arguments.load_columns;
  // Loaded labels get no truncated/dropped line (no row to load): a resync
  // line names the label instead (the other reasons print theirs below).
  load_options.on_resync = [](const Resync &resync) {
    if (resync.reason == Resync::Reason::truncated || resync.reason == Resync::Reason::dropped) {
      std::string line = "{\"event\":\"resync\",\"label\":";
      append_json_string(line, resync.label);
      print_line(line + "}");
    }
  };

  std::vector<Subscription> subscriptions;
  for (const Target &target : targets) {
    if (arguments.load) {
      subscriptions.push_back(client->subscribe_loaded(target.label, on_loaded, load_options));
    } else if (target.conditions.empty()) {
      subscriptions.push_back(client->subscribe(target.label, on_event));
    } else if (arguments.keys) {
      std::vector<MatchValue> values;
      for (const auto &condition : target.conditions)
        values.push_back(match_value(condition.second));
      subscriptions.push_back(client->subscribe(target.label, Key(values), on_event));
    } else {
      std::vector<std::pair<std::string, MatchValue>> conditions;
      for (const auto &[column, value] : target.conditions)
        conditions.emplace_back(column, match_value(value));
      subscriptions.push_back(client->subscribe(target.label, ColumnFilter(conditions), on_event));
    }
  }
  // A label's truncate and dropped rows have their own lines (above): the
  // resync line is for "everything may be stale".
  client->on_resync([](const Resync &resync) {
    if (resync.reason != Resync::Reason::truncated && resync.reason != Resync::Reason::dropped)
      print_line("{\"event\":\"resync\"}");
  });
  client->on_error([](const Error &error) {
    std::cerr << "ectowatch: " << error.what() << "\n";
    std::cerr.flush();
  });

  auto deadline = arguments.timeout_seconds
                      ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(*arguments.timeout_seconds))
                      : Clock::time_point::max();
  client->process(); // a durable client starts streaming here
  for (;;) {
    if (output_closed)
      return kExitOk;
    if (count_reached() && !client->inside_transaction())
      return kExitOk;
    auto now = Clock::now();
    if (now >= deadline) {
      if (!arguments.count)
        return kExitOk;
      std::cerr << "ectowatch: --timeout passed after " << printed << " of the " << *arguments.count
                << " rows --count asked for (exit 3)\n";
      return kExitTimeout;
    }
    long long wait_ms =
        std::min<long long>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
    wait_ms = std::min<long long>(wait_ms, client->next_timeout().count());
    int socket_fd = client->socket();
    // stdout with no events asked: poll reports only POLLERR/POLLHUP, which
    // a pipe's write end gets when its reader closed (`listen | head -1`),
    // so an idle listen notices too, not only at its next write.
    pollfd fds[3] = {{stop_signal_fd(), POLLIN, 0}, {STDOUT_FILENO, 0, 0}, {socket_fd, POLLIN, 0}};
    ::poll(fds, socket_fd >= 0 ? 3 : 2, static_cast<int>(wait_ms));
    if (fds[0].revents & POLLIN) {
      std::fflush(stdout);
      return kExitOk;
    }
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL))
      return kExitOk;
    client->process();
  }
}

} // namespace ectowatch::cli
