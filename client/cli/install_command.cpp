// `ectowatch install --portable`: installs (or upgrades) the portable edition
// of ectowatch, the SQL API in PL/pgSQL, for servers that cannot load the
// native library (managed services). The script is the one the build
// generated from sql/ (portable_script.hpp); it runs as the connected role,
// which must own the tables it will watch and may create in the schema: no
// superuser. Where the server has the native library this says so and points
// to CREATE EXTENSION instead, which is faster and has the relay.
#include "commands.hpp"
#include "portable_script.hpp"

#include <libpq-fe.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace ectowatch::cli {

namespace {

struct ConnectionCloser {
  void operator()(PGconn *connection) const { PQfinish(connection); }
};
using Connection = std::unique_ptr<PGconn, ConnectionCloser>;
struct ResultClearer {
  void operator()(PGresult *result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultClearer>;

std::string trimmed(const char *text) {
  std::string message = text ? text : "";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}

// Prints the server's error (and its hint) for a failed `what`.
int report(PGconn *connection, PGresult *result, const std::string &what) {
  const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::cerr << "ectowatch: " << what << ": " << (message ? trimmed(message) : trimmed(PQerrorMessage(connection)))
            << "\n";
  if (const char *hint = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_HINT) : nullptr)
    std::cerr << "hint: " << trimmed(hint) << "\n";
  return kExitError;
}

// The one value of a query without parameters, or nothing (NULL); throws
// nothing: a failed query is reported and ends the command.
std::optional<std::optional<std::string>> value_of(PGconn *connection, const std::string &sql,
                                                   const std::vector<std::string> &parameters, const char *what,
                                                   int &exit_code) {
  std::vector<const char *> values;
  for (const auto &parameter : parameters)
    values.push_back(parameter.c_str());
  Result result(PQexecParams(connection, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) != 1) {
    exit_code = report(connection, result.get(), what);
    return std::nullopt;
  }
  if (PQgetisnull(result.get(), 0, 0))
    return std::optional<std::string>{};
  return std::optional<std::string>(PQgetvalue(result.get(), 0, 0));
}

// PostgreSQL refuses these in a schema it substitutes for @extschema@; so do we.
bool substitutable(const std::string &schema) {
  return !schema.empty() && schema.find_first_of("\"'$\\") == std::string::npos;
}

std::string with_schema(std::string script, const std::string &quoted_schema) {
  const std::string placeholder = "@extschema@";
  for (std::size_t at = script.find(placeholder); at != std::string::npos;
       at = script.find(placeholder, at + quoted_schema.size()))
    script.replace(at, placeholder.size(), quoted_schema);
  return script;
}

int install_portable(const InstallArguments &arguments) {
  if (!substitutable(arguments.schema)) {
    std::cerr << "ectowatch: --schema " << arguments.schema
              << ": a schema name for ectowatch must not be empty nor contain \" ' $ or \\\n";
    return kExitUsage;
  }
  Connection connection(PQconnectdb(arguments.dsn.c_str()));
  if (PQstatus(connection.get()) != CONNECTION_OK)
    return report(connection.get(), nullptr, "cannot connect");
  PQsetClientEncoding(connection.get(), "UTF8");

  int exit_code = kExitOk;
  auto native = value_of(connection.get(),
                         "SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'ectowatch') "
                         "THEN 'installed' WHEN EXISTS (SELECT FROM pg_catalog.pg_available_extensions "
                         "WHERE name = 'ectowatch') THEN 'available' END",
                         {}, "cannot look for the native edition", exit_code);
  if (!native)
    return exit_code;
  if (*native == std::optional<std::string>("installed")) {
    std::cerr << "ectowatch: the native edition of ectowatch is installed in this database (CREATE EXTENSION "
                 "ectowatch): nothing to install\n"
                 "hint: upgrade it with ALTER EXTENSION ectowatch UPDATE; the portable edition is for servers "
                 "that cannot load ectowatch's library\n";
    return kExitError;
  }
  if (*native == std::optional<std::string>("available")) {
    std::cerr << "ectowatch: this server has ectowatch's native library: run CREATE EXTENSION ectowatch; in this "
                 "database instead of installing the portable edition\n"
                 "hint: the native edition is faster and has relay delivery; the portable edition is for servers "
                 "that cannot load the library (managed services)\n";
    return kExitError;
  }

  auto schema = value_of(connection.get(),
                         "SELECT pg_catalog.quote_ident(nspname) FROM pg_catalog.pg_namespace "
                         "WHERE nspname = $1 UNION ALL SELECT NULL LIMIT 1",
                         {arguments.schema}, "cannot look up the schema", exit_code);
  if (!schema)
    return exit_code;
  if (!*schema) {
    std::cerr << "ectowatch: schema \"" << arguments.schema << "\" does not exist\n"
              << "hint: create it first (CREATE SCHEMA ...), or leave --schema out for public\n";
    return kExitError;
  }
  auto before = value_of(connection.get(), "SELECT CASE WHEN pg_catalog.to_regproc($1) IS NOT NULL THEN 'present' END",
                         {**schema + ".ectowatch_portable_version"}, "cannot look for an installed edition", exit_code);
  if (!before)
    return exit_code;
  std::optional<std::string> previous;
  if (*before) {
    auto version = value_of(connection.get(), "SELECT " + **schema + ".ectowatch_portable_version()", {},
                            "cannot read the installed version", exit_code);
    if (!version)
      return exit_code;
    previous = *version;
  }

  Result result(PQexec(connection.get(), with_schema(kPortableScript, **schema).c_str()));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK)
    return report(connection.get(), result.get(), "installing the portable edition failed (nothing was changed)");
  if (previous)
    std::cout << "upgraded the portable edition of ectowatch in schema " << **schema << " from " << *previous << " to "
              << kPortableVersion << "; every watcher kept" << std::endl;
  else
    std::cout << "installed the portable edition of ectowatch " << kPortableVersion << " in schema " << **schema
              << std::endl;
  return kExitOk;
}

} // namespace

int install(const InstallArguments &arguments) {
  if (!arguments.portable) {
    std::cerr << "ectowatch: install needs --portable (the PL/pgSQL edition, for servers that cannot load "
                 "ectowatch's library)\n"
                 "hint: where the server has the library, run CREATE EXTENSION ectowatch; instead\n";
    return kExitUsage;
  }
  return install_portable(arguments);
}

} // namespace ectowatch::cli
