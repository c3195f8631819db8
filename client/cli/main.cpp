// `ectowatch`: the command-line tool on the client library.
//   ectowatch listen TARGET...      print row events as JSON lines
//   ectowatch watch TABLE OP ...    create or replace a watcher
//   ectowatch unwatch LABEL         remove one
//   ectowatch watchers              list them
//   ectowatch slots                 list the replication slots of durable listeners
//   ectowatch drop-slot NAME        drop one
//   ectowatch bridge --slot NAME    publish durable watchers into NATS JetStream
//   ectowatch install --portable    install the PL/pgSQL edition (managed servers; --pg-tle)
#include "bridge_command.hpp"
#include "commands.hpp"

#include "ectowatch/protocol.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

using namespace ectowatch::cli;

namespace {

// `ectowatch --version [--dsn DSN]`: the client's version, then the
// extension's in the database when one can be reached (never an error:
// the client's version alone is still an answer).
int version(int argc, char **argv) {
  std::cout << "ectowatch client " << ectowatch::client_version() << std::endl;
  std::string dsn;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--dsn")
      dsn = argv[i + 1];
  try {
    ectowatch::ClientOptions options;
    options.connect_timeout_seconds = 3;
    ectowatch::Client client(dsn, options);
    auto extension = client.extension_version();
    std::cout << "ectowatch extension " << (extension ? *extension : "not installed in this database") << std::endl;
  } catch (const std::exception &error) {
    std::cout << "ectowatch extension unknown (" << error.what() << ")" << std::endl;
  }
  return kExitOk;
}

void add_dsn(CLI::App *command, std::string &dsn) {
  command->add_option("--dsn", dsn,
                      "libpq connection string or URI (default: libpq's defaults and the PG* environment)");
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"ectowatch: PostgreSQL row changes as small JSON messages"};
  app.require_subcommand(1);
  bool version_flag = false; // handled before parsing, listed for --help
  app.add_flag("--version", version_flag,
               "Print the client's version, and the server's extension version (--dsn DSN, or the PG* environment)");
  for (int i = 1; i < argc; ++i) // before parsing: --version needs no subcommand
    if (std::string(argv[i]) == "--version")
      return version(argc, argv);

  ListenArguments listen_arguments;
  auto *listen_command = app.add_subcommand(
      "listen", "Print one JSON line per changed row of the given watchers (LABEL or LABEL:COLUMN=VALUE[,...])");
  add_dsn(listen_command, listen_arguments.dsn);
  listen_command->add_option("--count", listen_arguments.count, "Exit 0 after this many row lines")
      ->check(CLI::Validator(
          [](std::string &text) -> std::string {
            long long value = 0;
            std::size_t used = 0;
            try {
              value = std::stoll(text, &used);
            } catch (const std::exception &) {
            }
            if (used != text.size() || value < 1)
              return "--count is a number of row lines, 1 or more (without --count, listen runs until stopped)";
            return {};
          },
          "N>0"));
  listen_command
      ->add_option("--timeout", listen_arguments.timeout_seconds,
                   "Exit after this many seconds in all (3 if --count lines were not printed by then)")
      ->check(CLI::NonNegativeNumber);
  listen_command->add_option("--slot", listen_arguments.slot,
                             "Durable watchers: read this replication slot (created if missing); events committed "
                             "while no listener ran arrive now. With --count, the last transaction is printed whole");
  listen_command->add_flag(
      "--stats", listen_arguments.stats,
      "On exit, print the client's counts to stderr as a JSON line (messages, bytes, events, "
      "errors, resyncs by reason, overflows, reconnects, load_queries and loaded_rows; --slot: the confirmed "
      "position)");
  listen_command
      ->add_option("--max-buffered-bytes", listen_arguments.max_buffered_bytes,
                   "Bytes of messages waiting for the output at most (ClientOptions::max_buffered_bytes); beyond "
                   "it at-most-once delivery drops them and resyncs, durable delivery pauses")
      ->check(CLI::PositiveNumber);
  listen_command->add_option("targets", listen_arguments.targets, "LABEL or LABEL:COLUMN=VALUE[,COLUMN=VALUE...]")
      ->required();
  auto *nats_option = listen_command->add_option(
      "--nats", listen_arguments.nats,
      "Read NATS JetStream (what `ectowatch bridge` publishes) at this URL instead of PostgreSQL");
  listen_command->add_option("--stream", listen_arguments.nats_options.stream, "With --nats: the bridge's stream")
      ->needs(nats_option)
      ->capture_default_str();
  listen_command->add_option("--prefix", listen_arguments.nats_options.prefix, "With --nats: the bridge's prefix")
      ->needs(nats_option)
      ->capture_default_str();
  listen_command
      ->add_option("--consumer", listen_arguments.nats_options.consumer,
                   "With --nats: durable consumer name (at-least-once, resumes where it stopped); without it "
                   "at-most-once from now on")
      ->needs(nats_option);
  listen_command
      ->add_flag("--keys", listen_arguments.keys,
                 "With --nats: each LABEL:COLUMN=VALUE[,...] target is one record's key (its key columns' values "
                 "in key order), filtered by the NATS server")
      ->needs(nats_option);
  listen_command->get_option("--slot")->excludes(nats_option);
  auto *load_flag = listen_command->add_flag(
      "--load", listen_arguments.load,
      "Print each changed key's current row, loaded with one query per window and table: \"row\" has the row's "
      "columns, or only its key and \"absent\":true when the row is gone (LABEL targets only; with --nats the rows "
      "come from --dsn)");
  listen_command
      ->add_option("--load-window", listen_arguments.load_window_ms,
                   "With --load: milliseconds to collect keys before loading them")
      ->needs(load_flag)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  listen_command
      ->add_option("--load-columns", listen_arguments.load_columns,
                   "With --load: the columns to load, comma-separated (the key columns always come along)")
      ->needs(load_flag)
      ->delimiter(',');

  WatchArguments watch_arguments;
  auto *watch_command = app.add_subcommand("watch", "Create or replace a watcher; prints its label (= channel)");
  add_dsn(watch_command, watch_arguments.dsn);
  watch_command->add_option("table", watch_arguments.table, "Table to watch (schema-qualified if needed)")->required();
  watch_command->add_option("op", watch_arguments.op, "inserted, updated or deleted")
      ->required()
      ->check(CLI::IsMember(
          std::vector<std::string>(std::begin(ectowatch::protocol::kOps), std::end(ectowatch::protocol::kOps))));
  watch_command->add_option("--label", watch_arguments.options.label, "Label (default: <table>_<op>)");
  watch_command
      ->add_option("--extra-columns", watch_arguments.options.extra_columns, "Columns sent next to the key: a,b")
      ->delimiter(',');
  watch_command
      ->add_option("--trigger-columns", watch_arguments.options.trigger_columns,
                   "updated only: send only when one of these changed: a,b")
      ->delimiter(',');
  watch_command
      ->add_option("--key-columns", watch_arguments.options.key_columns, "Key columns (default: the primary key)")
      ->delimiter(',');
  watch_command->add_option("--condition", watch_arguments.options.condition,
                            "SQL boolean expression over OLD and NEW, as in CREATE TRIGGER ... WHEN");
  watch_command->add_flag("--replicated", watch_arguments.options.replicated,
                          "Also fire for rows applied by logical replication");
  watch_command
      ->add_option("--delivery", watch_arguments.options.delivery,
                   "notify (default), durable (logical messages for an 'ectowatch' slot) or relay (NOTIFY "
                   "sent by the relay worker)")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(ectowatch::protocol::kDeliveries),
                                                     std::end(ectowatch::protocol::kDeliveries))));

  std::string unwatch_dsn, unwatch_label;
  auto *unwatch_command = app.add_subcommand("unwatch", "Remove a watcher (exit 1 if it did not exist)");
  add_dsn(unwatch_command, unwatch_dsn);
  unwatch_command->add_option("label", unwatch_label, "Label of the watcher")->required();

  std::string watchers_dsn;
  auto *watchers_command = app.add_subcommand("watchers", "List the watchers of the database");
  add_dsn(watchers_command, watchers_dsn);

  std::string slots_dsn;
  auto *slots_command = app.add_subcommand("slots", "List the replication slots of durable listeners");
  add_dsn(slots_command, slots_dsn);

  std::string drop_slot_dsn, drop_slot_name;
  auto *drop_slot_command = app.add_subcommand(
      "drop-slot", "Drop a listener's replication slot, releasing the WAL it keeps (exit 1 if there was none)");
  add_dsn(drop_slot_command, drop_slot_dsn);
  drop_slot_command->add_option("name", drop_slot_name, "Slot name")->required();

  BridgeArguments bridge_arguments;
  auto *bridge_command = add_bridge_command(app, bridge_arguments);

  InstallArguments install_arguments;
  auto *install_command = app.add_subcommand(
      "install", "Install or upgrade the portable edition (PL/pgSQL) where ectowatch's library cannot be loaded");
  add_dsn(install_command, install_arguments.dsn);
  install_command->add_flag("--portable", install_arguments.portable,
                            "The portable edition, run as the connected role (the tables' owner; no superuser)");
  install_command->add_flag("--pg-tle", install_arguments.pg_tle,
                            "The portable edition as an extension through pg_tle (RDS, Aurora, Supabase: the role "
                            "needs pgtle_admin); run again to update it");
  install_command->add_option("--schema", install_arguments.schema, "Schema to install into")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp &help) {
    return app.exit(help);
  } catch (const CLI::ParseError &error) {
    app.exit(error);
    return kExitUsage;
  }

  if (*listen_command)
    return listen(listen_arguments);
  if (*watch_command)
    return watch(watch_arguments);
  if (*unwatch_command)
    return unwatch(unwatch_dsn, unwatch_label);
  if (*watchers_command)
    return watchers(watchers_dsn);
  if (*slots_command)
    return slots(slots_dsn);
  if (*drop_slot_command)
    return drop_slot(drop_slot_dsn, drop_slot_name);
  if (*bridge_command)
    return bridge(bridge_arguments);
  if (*install_command)
    return install(install_arguments);
  return kExitUsage;
}
