// `ectowatch bridge`: reads durable watchers from a slot with the client
// library and publishes one JetStream message per row. A slot position is
// confirmed only once JetStream acknowledged every message up to it
// (Durable::confirm_up_to); while NATS is down or slow the window fills, the
// callback waits, and the client stops reading the slot: nothing is dropped.
#include "bridge_command.hpp"

#include "../bridge/confirm_tracker.hpp"
#include "../bridge/outgoing.hpp"
#include "../bridge/publisher.hpp"
#include "../bridge/subject.hpp"
#include "commands.hpp"
#include "stop_signal.hpp"

#include <ectowatch/ectowatch.hpp>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <thread>

namespace ectowatch::cli {

namespace {

using bridge::Clock;

// Waits up to `milliseconds` for SIGINT/SIGTERM; true when one came.
bool signalled(int milliseconds) {
  pollfd fd{stop_signal_fd(), POLLIN, 0};
  return ::poll(&fd, 1, milliseconds) > 0 && (fd.revents & POLLIN);
}

std::chrono::milliseconds seconds(double value) {
  return std::chrono::milliseconds(static_cast<long long>(value * 1000));
}

// The labels to bridge: the given ones (each must be a durable watcher) or
// every durable watcher.
std::vector<std::string> bridged_labels(const std::vector<std::string> &given,
                                        const std::vector<WatcherInfo> &watchers) {
  std::map<std::string, const WatcherInfo *> by_label;
  for (const WatcherInfo &watcher : watchers)
    by_label[watcher.label] = &watcher;
  std::vector<std::string> labels;
  if (given.empty()) {
    for (const WatcherInfo &watcher : watchers)
      if (watcher.delivery == "durable")
        labels.push_back(watcher.label);
    if (labels.empty())
      throw UsageError("no durable watcher to bridge: create one with ectowatch watch TABLE OP --delivery durable");
  }
  for (const std::string &label : given) {
    auto found = by_label.find(label);
    if (found == by_label.end())
      throw UsageError("unknown label \"" + label +
                       "\": no watcher has it (ectowatch watchers lists them; ectowatch watch creates one)");
    if (found->second->delivery != "durable")
      throw UsageError("watcher \"" + label + "\" delivers by " + found->second->delivery +
                       ": only durable watchers can be bridged (recreate it with --delivery durable)");
    labels.push_back(label);
  }
  for (const std::string &label : labels) {
    try {
      bridge::check_label(label);
    } catch (const std::invalid_argument &error) {
      throw UsageError(error.what());
    }
  }
  return labels;
}

void print_stats(const bridge::PublisherStats &stats, Client &client, const std::string &slot) {
  std::string line =
      "{\"published\":" + std::to_string(stats.published) + ",\"acked\":" + std::to_string(stats.acked) +
      ",\"duplicates\":" + std::to_string(stats.duplicates) + ",\"retries\":" + std::to_string(stats.retries) +
      ",\"dropped_rows\":" + std::to_string(stats.dropped_rows) + ",\"in_flight\":" + std::to_string(stats.in_flight) +
      ",\"nats_connected\":" + (stats.connected ? "true" : "false");
  if (!stats.waiting_for.empty()) {
    line += ",\"waiting_for\":";
    append_json_string(line, stats.waiting_for);
  }
  try {
    for (const SlotInfo &info : client.slots())
      if (info.name == slot) {
        line += ",\"confirmed_lsn\":\"" + info.confirmed_lsn + "\"";
        if (info.wal_bytes)
          line += ",\"slot_lag_bytes\":" + std::to_string(*info.wal_bytes);
      }
  } catch (const std::exception &) {
    // PostgreSQL unreachable: the client reconnects; the figures come next time
  }
  line += "}\n";
  // stderr, as `listen --stats`: stdout stays free for what a command outputs.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

// A row of a label the bridge did not publish so far: a durable watcher
// created after the bridge started. Published from now on when the bridge
// bridges every watcher; otherwise (a label list) said once and left out.
bool admit_new_label(const std::string &label, bool every_watcher, std::set<std::string> &published,
                     std::set<std::string> &left_out) {
  if (!every_watcher) {
    if (left_out.insert(label).second)
      std::cerr << "ectowatch: rows of durable watcher \"" << label
                << "\" are not bridged: it is not in the bridge's label list (they are confirmed in the slot "
                   "unpublished; give no labels to bridge every durable watcher)\n";
    return false;
  }
  bridge::check_label(label); // throws std::invalid_argument; holds for every label ectowatch_watch() accepts
  published.insert(label);
  std::cerr << "ectowatch: bridging durable watcher \"" << label << "\", created after the bridge started\n";
  return true;
}

} // namespace

CLI::App *add_bridge_command(CLI::App &app, BridgeArguments &arguments) {
  auto *command = app.add_subcommand(
      "bridge", "Publish durable watchers' rows from a replication slot into NATS JetStream, one message per row");
  command->add_option("--dsn", arguments.dsn,
                      "libpq connection string or URI (default: libpq's defaults and the PG* environment)");
  command->add_option("--slot", arguments.slot, "Replication slot to read (created if missing; one per bridge)")
      ->required();
  command->add_option("--nats", arguments.nats_url, "NATS server URL(s), comma-separated")->capture_default_str();
  command->add_option("--stream", arguments.stream, "JetStream stream (created when missing)")->capture_default_str();
  command->add_option("--prefix", arguments.prefix, "Subject prefix: subjects are PREFIX.LABEL.KEY...")
      ->capture_default_str();
  command->add_option("--window", arguments.window, "Messages published and not yet acknowledged, at most")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  command->add_option("--replicas", arguments.replicas, "Replicas of a stream created here")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  command
      ->add_option("--max-age", arguments.max_age_seconds,
                   "A created stream drops messages older than this (s; 0: never)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--max-bytes", arguments.max_bytes,
                      "A created stream keeps at most this many bytes (-1: no limit)");
  command->add_option("--max-msgs", arguments.max_msgs,
                      "A created stream keeps at most this many messages (-1: no limit)");
  command
      ->add_option("--duplicate-window", arguments.duplicate_window_seconds,
                   "A created stream's Nats-Msg-Id dedupe window (s)")
      ->check(CLI::Range(120, 86400))
      ->capture_default_str();
  command->add_flag("--shared-stream", arguments.shared_stream,
                    "Publish into an existing stream that also takes other subjects (another prefix's)");
  command
      ->add_option("--ack-timeout", arguments.ack_timeout_seconds,
                   "Publish again what JetStream has not acknowledged after this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--shutdown-timeout", arguments.shutdown_timeout_seconds,
                   "On SIGTERM/SIGINT, wait this long for acknowledgements (s)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_flag(
      "--stats", arguments.stats,
      "Print a JSON line of counters (published, acked, retries, slot lag) to stderr now and then, and at exit");
  command->add_option("--stats-interval", arguments.stats_interval_seconds, "Seconds between --stats lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("labels", arguments.labels, "Durable watchers to bridge (default: every durable watcher)");
  return command;
}

int bridge(const BridgeArguments &arguments) {
  std::vector<std::string> labels;
  std::string source; // Client::source_id(): part of every Nats-Msg-Id
  std::unique_ptr<Client> client;
  bridge::ConfirmTracker tracker; // outlives the client, which asks it what to confirm
  bridge::PublisherOptions options{.url = arguments.nats_url,
                                   .stream = arguments.stream,
                                   .subjects = arguments.prefix + ".>",
                                   .window = arguments.window,
                                   .replicas = arguments.replicas,
                                   .max_age_seconds = arguments.max_age_seconds,
                                   .max_bytes = arguments.max_bytes,
                                   .max_msgs = arguments.max_msgs,
                                   .duplicate_window_seconds = arguments.duplicate_window_seconds,
                                   .shared_stream = arguments.shared_stream,
                                   .ack_timeout = seconds(arguments.ack_timeout_seconds)};
  auto publisher = std::make_unique<bridge::Publisher>(options, tracker);
  constexpr int kRun = -1; // set up: the bridge runs
  int code = reporting_errors([&] {
    try {
      bridge::check_prefix(arguments.prefix);
    } catch (const std::invalid_argument &error) {
      throw UsageError(error.what());
    }
    // JetStream refuses a stream whose duplicate window is longer than its
    // max age, and the window is 120 s at least: the bridge would retry
    // creating such a stream for ever.
    if (arguments.max_age_seconds > 0 && arguments.max_age_seconds < arguments.duplicate_window_seconds)
      throw UsageError(
          "--max-age " + std::to_string(arguments.max_age_seconds) + " is shorter than --duplicate-window " +
          std::to_string(arguments.duplicate_window_seconds) +
          ": JetStream refuses a stream whose duplicate window is longer than its max age; give --max-age " +
          std::to_string(arguments.duplicate_window_seconds) +
          " or more (or 0: no limit), or a shorter --duplicate-window (120 at least)");
    // A small read-ahead: memory stays bounded by it and the window, and a
    // full window soon stops the slot from being read.
    ClientOptions client_options{.application_name = "ectowatch bridge", .max_buffered_bytes = 8u << 20};
    Client setup(arguments.dsn, client_options);
    labels = bridged_labels(arguments.labels, setup.watchers());
    source = setup.source_id();
    install_stop_signal();
    // NATS first, retried with backoff: the slot is only read once rows can go somewhere.
    for (auto backoff = std::chrono::milliseconds(100);;
         backoff = std::min(backoff * 2, std::chrono::milliseconds(5000))) {
      try {
        publisher->connect();
        publisher->ensure_stream();
        break;
      } catch (const bridge::StreamMismatch &error) {
        std::cerr << "ectowatch: " << error.what() << "\n";
        return kExitError;
      } catch (const bridge::NatsError &error) {
        std::cerr << "ectowatch: " << error.what() << " (retrying)\n";
        publisher = std::make_unique<bridge::Publisher>(options, tracker);
        if (signalled(static_cast<int>(backoff.count())))
          return kExitOk;
      }
    }
    Durable durable{.slot = arguments.slot};
    durable.confirm_up_to = [&tracker] { return tracker.confirm_up_to(); };
    client = std::make_unique<Client>(arguments.dsn, durable, client_options);
    return kRun;
  });
  if (code != kRun)
    return code;

  // Callbacks run on the client's dispatch thread, one at a time, in commit order.
  std::atomic<std::uint64_t> last_lsn{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> unpublishable_label{false};
  auto publish = [&](const bridge::Outgoing &message) {
    if (!publisher->publish(message))
      failed = true; // shutdown with the window full: not confirmed, read again next time
  };
  bridge::OutgoingBuilder outgoing(arguments.prefix, source);
  // Every label the slot carries reaches this callback, so a durable watcher
  // created while the bridge runs is published too (without a label list),
  // or named once as left out (with one), never confirmed away unseen.
  std::set<std::string> published(labels.begin(), labels.end());
  std::set<std::string> left_out;
  auto on_event = [&](const Event &event) {
    const std::string &label = event.message().label;
    last_lsn = event.message().lsn;
    try {
      if (!published.count(label) && !admit_new_label(label, arguments.labels.empty(), published, left_out))
        return;
    } catch (const std::invalid_argument &error) {
      // Not publishable, so not confirmable: the bridge stops before this row.
      std::cerr << "ectowatch: " << error.what() << "\n";
      tracker.abandon(event.message().lsn);
      unpublishable_label = true;
      raise(SIGTERM);
      return;
    }
    publish(outgoing.build(event));
  };
  std::vector<Subscription> subscriptions;
  subscriptions.push_back(client->subscribe_every_label(on_event));
  std::uint64_t resyncs = 0;
  std::string run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  client->on_resync([&](const Resync &resync) {
    if (resync.reason != Resync::Reason::slot_created && resync.reason != Resync::Reason::slot_lost)
      return; // truncated and dropped arrive as events; the others do not happen to a slot
    std::string_view reason = resync.reason == Resync::Reason::slot_created ? "slot_created" : "slot_lost";
    std::string sequence = run_id + "-" + std::to_string(++resyncs);
    for (const std::string &label : published)
      publish(
          bridge::outgoing_for_resync(arguments.prefix, label, reason, std::max<std::uint64_t>(last_lsn, 1), sequence));
  });
  client->on_error([](const Error &error) {
    std::cerr << "ectowatch: " << error.what() << "\n";
    std::cerr.flush();
  });

  client->start();
  auto next_stats = Clock::now() + seconds(arguments.stats_interval_seconds);
  bool nats_closed = false;
  while (!signalled(100)) {
    if (auto why = publisher->closed_for_good()) {
      // Staying up would publish nothing and confirm nothing, for ever.
      std::cerr << "ectowatch: NATS closed the connection and will not reconnect (" << *why
                << "): stopping; what JetStream did not acknowledge stays in the slot for the next bridge\n";
      nats_closed = true;
      break;
    }
    publisher->tick();
    if (arguments.stats && Clock::now() >= next_stats) {
      print_stats(publisher->stats(), *client, arguments.slot);
      next_stats = Clock::now() + seconds(arguments.stats_interval_seconds);
    }
  }

  // SIGTERM/SIGINT: stop reading, let in-flight messages be acknowledged
  // (publishing again what fails), confirm, exit.
  auto deadline = nats_closed ? Clock::now() : Clock::now() + seconds(arguments.shutdown_timeout_seconds);
  publisher->begin_shutdown(deadline);
  std::thread stopper([&] { client->stop(); });
  while (tracker.in_flight() > 0 && Clock::now() < deadline) {
    publisher->tick();
    tracker.wait_until_empty(std::chrono::milliseconds(50));
  }
  stopper.join();
  while (tracker.in_flight() > 0 && Clock::now() < deadline) {
    publisher->tick();
    tracker.wait_until_empty(std::chrono::milliseconds(50));
  }
  bool complete = tracker.in_flight() == 0 && !failed;
  if (arguments.stats)
    print_stats(publisher->stats(), *client, arguments.slot);
  subscriptions.clear();
  client.reset(); // confirms what JetStream acknowledged, and ends the stream cleanly
  publisher.reset();
  if (unpublishable_label || nats_closed)
    return kExitError; // said when it came; the slot keeps that row
  if (!complete) {
    std::cerr << "ectowatch: NATS did not acknowledge everything within --shutdown-timeout; the rest stays "
                 "unconfirmed in the slot and is published again by the next bridge (deduplicated by Nats-Msg-Id)\n";
    return kExitError;
  }
  return kExitOk;
}

} // namespace ectowatch::cli
