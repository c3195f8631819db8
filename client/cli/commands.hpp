// The subcommands of the `ectowatch` tool. Each returns the process exit code.
#pragma once

#include <ectowatch/ectowatch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ectowatch::cli {

// Exit codes shared by the subcommands.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;

struct ListenArguments {
  std::string dsn;
  std::optional<long long> count;
  std::optional<double> timeout_seconds;
  std::optional<std::string> slot; // durable watchers: read this replication slot
  std::vector<std::string> targets;
  bool stats = false; // print Client::stats() as a JSON line to stderr on exit
  // Read NATS JetStream (what `ectowatch bridge` publishes) instead of PostgreSQL.
  std::optional<std::string> nats; // URL(s)
  Nats nats_options;               // stream, prefix, consumer (the url is `nats`)
  bool keys = false;               // LABEL:COL=VAL,... targets are Keys (NATS: filtered by the server)
  std::size_t max_buffered_bytes = ClientOptions{}.max_buffered_bytes;
  // --load: print each changed key's current row (Client::subscribe_loaded).
  bool load = false;
  long long load_window_ms = 10;
  std::vector<std::string> load_columns;
};
int listen(const ListenArguments &arguments);

struct WatchArguments {
  std::string dsn;
  std::string table;
  std::string op;
  WatchOptions options; // filled straight from the command line
};
int watch(const WatchArguments &arguments);
int unwatch(const std::string &dsn, const std::string &label);
int watchers(const std::string &dsn);
int slots(const std::string &dsn);
int drop_slot(const std::string &dsn, const std::string &name);

// `ectowatch install --portable|--pg-tle [--schema S]` (install_command.cpp).
struct InstallArguments {
  std::string dsn;
  bool portable = false;
  bool pg_tle = false;
  std::string schema = "public";
};
int install(const InstallArguments &arguments);

// Prints an error of the library as "ectowatch: ..." (with the server's hint).
void print_error(const std::exception &error);

// Runs `body` and returns its exit code; an exception is printed
// (print_error) and becomes the exit code: kExitUsage for a UsageError,
// kExitError for any other. The one error wrapper of the subcommands.
template <typename Body> int reporting_errors(Body &&body) {
  try {
    return body();
  } catch (const UsageError &error) {
    print_error(error);
    return kExitUsage;
  } catch (const std::exception &error) {
    print_error(error);
    return kExitError;
  }
}

} // namespace ectowatch::cli
