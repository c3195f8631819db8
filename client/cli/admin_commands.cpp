// `ectowatch watch`, `unwatch`, `watchers`, `slots` and `drop-slot`: managing
// watchers and durable listeners' slots from a shell.
#include "commands.hpp"

#include <ectowatch/ectowatch.hpp>

#include <algorithm>
#include <iostream>

namespace ectowatch::cli {

namespace {

// A hint of ours for what the server's message alone does not explain, by
// the error's cause: a missing ectowatch function or catalog means the
// extension is missing (or older than this client); a missing relation of
// the user's is a name to check.
std::string cause_hint(const SqlError &error) {
  const std::string message = error.what();
  bool ours = message.find("ectowatch_") != std::string::npos;
  if (error.sqlstate() == "42883" && ours)
    return "the ectowatch functions are missing or older than this client in this database: run CREATE "
           "EXTENSION ectowatch; (or ALTER EXTENSION ectowatch UPDATE;)";
  if (error.sqlstate() == "42P01")
    return ours ? "the ectowatch catalog is missing in this database: run CREATE EXTENSION ectowatch;"
                : "check the table's name; schema-qualify it (schema.table) when its schema is not on the "
                  "search_path";
  return {};
}

} // namespace

void print_error(const std::exception &error) {
  std::cerr << "ectowatch: " << error.what() << "\n";
  if (auto *sql = dynamic_cast<const SqlError *>(&error)) {
    std::string ours = cause_hint(*sql);
    // The server's hint for a missing function ("add explicit type casts")
    // misleads when the function is ours: then only ours is printed.
    if (!sql->hint().empty() && !(sql->sqlstate() == "42883" && !ours.empty()))
      std::cerr << "hint: " << sql->hint() << "\n";
    if (!ours.empty())
      std::cerr << "hint: " << ours << "\n";
  }
}

namespace {

// Runs `command` on a client of `dsn` (errors: reporting_errors).
template <typename Command> int with_client(const std::string &dsn, Command &&command) {
  return reporting_errors([&] {
    Client client(dsn);
    return command(client);
  });
}

} // namespace

int watch(const WatchArguments &arguments) {
  return with_client(arguments.dsn, [&](Client &client) {
    std::cout << client.watch(arguments.table, parse_op(arguments.op), arguments.options) << std::endl;
    return kExitOk;
  });
}

int unwatch(const std::string &dsn, const std::string &label) {
  return with_client(dsn, [&](Client &client) {
    if (client.unwatch(label)) {
      std::cout << "removed " << label << std::endl;
      return kExitOk;
    }
    std::cerr << "ectowatch: no watcher is labelled \"" << label << "\" (ectowatch watchers lists them)\n";
    return kExitError;
  });
}

namespace {

std::string join(const std::vector<std::string> &items) {
  std::string text;
  for (const auto &item : items)
    text += (text.empty() ? "" : ",") + item;
  return text;
}

} // namespace

namespace {

// Prints `lines` (the first is the header) as aligned columns.
void print_table(const std::vector<std::vector<std::string>> &lines) {
  std::vector<std::size_t> widths(lines.front().size(), 0);
  for (const auto &line : lines)
    for (std::size_t i = 0; i < line.size(); ++i)
      widths[i] = std::max(widths[i], line[i].size());
  for (const auto &line : lines) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i)
      text += line[i] + (i + 1 < line.size() ? std::string(widths[i] - line[i].size() + 2, ' ') : "");
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    std::cout << text << "\n";
  }
}

} // namespace

int watchers(const std::string &dsn) {
  return with_client(dsn, [&](Client &client) {
    std::vector<std::vector<std::string>> lines = {
        {"label", "table", "op", "key", "extra", "trigger columns", "condition", "replicated", "delivery"}};
    for (const WatcherInfo &watcher : client.watchers())
      lines.push_back({watcher.label, watcher.table, std::string(to_string(watcher.op)), join(watcher.key_columns),
                       join(watcher.extra_columns), join(watcher.trigger_columns), watcher.condition.value_or(""),
                       watcher.replicated ? "yes" : "no", watcher.delivery});
    print_table(lines);
    if (lines.size() == 1)
      std::cout << "(no watchers: create one with ectowatch watch TABLE OP)\n";
    return kExitOk;
  });
}

int slots(const std::string &dsn) {
  return with_client(dsn, [&](Client &client) {
    std::vector<std::vector<std::string>> lines = {
        {"slot", "active", "confirmed lsn", "wal status", "wal kept", "note"}};
    for (const SlotInfo &slot : client.slots())
      lines.push_back({slot.name, slot.active ? "yes" : "no", slot.confirmed_lsn, slot.wal_status,
                       slot.wal_bytes ? std::to_string(*slot.wal_bytes / 1024) + " kB" : "",
                       slot.unlisted_relay ? "relay slot, database not in ectowatch.relay_databases: its WAL grows; "
                                             "drop-slot it, or list the database again"
                                           : ""});
    print_table(lines);
    if (lines.size() == 1)
      std::cout << "(no slots: ectowatch listen --slot NAME creates one)\n";
    return kExitOk;
  });
}

int drop_slot(const std::string &dsn, const std::string &name) {
  return with_client(dsn, [&](Client &client) {
    if (client.drop_slot(name)) {
      std::cout << "dropped " << name << std::endl;
      return kExitOk;
    }
    std::cerr << "ectowatch: no ectowatch slot is named \"" << name << "\" (ectowatch slots lists them)\n";
    return kExitError;
  });
}

} // namespace ectowatch::cli
