// `ectowatch bridge`: durable watchers from a replication slot into a NATS
// JetStream stream, one message per row (docs/protocol.md, "NATS subjects").
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ectowatch::cli {

struct BridgeArguments {
  std::string dsn;
  std::string slot;
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string stream = "ECTOWATCH";
  std::string prefix = "ectowatch";
  std::size_t window = 4096;
  int replicas = 1;
  std::int64_t max_age_seconds = 0;
  std::int64_t max_bytes = -1;
  std::int64_t max_msgs = -1;
  std::int64_t duplicate_window_seconds = 120;
  bool shared_stream = false;
  double ack_timeout_seconds = 5;
  double shutdown_timeout_seconds = 30;
  bool stats = false;
  double stats_interval_seconds = 5;
  std::vector<std::string> labels; // empty: every durable watcher
};

CLI::App *add_bridge_command(CLI::App &app, BridgeArguments &arguments);
int bridge(const BridgeArguments &arguments);

} // namespace ectowatch::cli
