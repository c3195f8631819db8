// `ectowatch install --portable` / `--pg-tle`: installs (or upgrades) the
// portable edition of ectowatch, the SQL API in PL/pgSQL, for servers that
// cannot load the native library (managed services). The scripts are the ones
// the build generated from sql/ (portable_script.hpp); they run as the
// connected role, which must own the tables it will watch and may create in
// the schema: no superuser. --pg-tle registers the edition with pg_tle (the
// role needs pgtle_admin), so that it is a real extension: CREATE EXTENSION,
// ALTER EXTENSION ... UPDATE, pg_dump of its catalog. Where the server has the
// native library this says so and points to CREATE EXTENSION instead, which
// is faster and has the relay.
#include "commands.hpp"
#include "portable_script.hpp"

#include <libpq-fe.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// A failed step: what failed, the server's reason and hint.
struct InstallError {
  std::string what;
  std::string hint;
  int exit_code = kExitError;
};

InstallError server_error(PGconn *connection, PGresult *result, const std::string &what) {
  const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char *hint = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_HINT) : nullptr;
  return {what + ": " + (message ? trimmed(message) : trimmed(PQerrorMessage(connection))), hint ? trimmed(hint) : ""};
}

// Runs `sql` with text parameters; the first column of its one row, or
// nothing (no row, or NULL). Throws InstallError when it fails.
std::optional<std::string> run(PGconn *connection, const std::string &sql, const std::vector<std::string> &parameters,
                               const std::string &what) {
  std::vector<const char *> values;
  for (const auto &parameter : parameters)
    values.push_back(parameter.c_str());
  Result result(PQexecParams(connection, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw server_error(connection, result.get(), what);
  if (status != PGRES_TUPLES_OK || PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0))
    return std::nullopt;
  return std::string(PQgetvalue(result.get(), 0, 0));
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

// Refuses a database with the native edition, or a server with its library,
// pointing to CREATE EXTENSION. An ectowatch extension without a C function
// is the portable edition through pg_tle, not the native one.
void refuse_native(PGconn *connection) {
  auto native = run(connection,
                    "SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_proc p "
                    "JOIN pg_catalog.pg_language l ON l.oid = p.prolang "
                    "WHERE l.lanname = 'c' AND p.probin LIKE '%ectowatch%') THEN 'installed' "
                    "WHEN EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'ectowatch') "
                    "THEN 'available' END",
                    {}, "cannot look for the native edition");
  // pg_tle's own extensions may be listed as available too.
  if (native == std::optional<std::string>("available") &&
      run(connection, "SELECT pg_catalog.to_regprocedure('pgtle.available_extensions()')::text", {},
          "cannot look for pg_tle") &&
      run(connection, "SELECT 'yes' FROM pgtle.available_extensions() WHERE name = 'ectowatch'", {},
          "cannot read pg_tle's extensions"))
    native.reset();
  if (native == std::optional<std::string>("installed"))
    throw InstallError{"the native edition of ectowatch is installed in this database (CREATE EXTENSION "
                       "ectowatch): nothing to install",
                       "upgrade it with ALTER EXTENSION ectowatch UPDATE; the portable edition is for servers "
                       "that cannot load ectowatch's library"};
  if (native == std::optional<std::string>("available"))
    throw InstallError{"this server has ectowatch's native library: run CREATE EXTENSION ectowatch; in this "
                       "database instead of installing the portable edition",
                       "the native edition is faster and has relay delivery; the portable edition is for servers "
                       "that cannot load the library (managed services)"};
}

Connection connect(const InstallArguments &arguments) {
  if (!substitutable(arguments.schema))
    throw InstallError{"--schema " + arguments.schema +
                           ": a schema name for ectowatch must not be empty nor contain "
                           "\" ' $ or \\",
                       "", kExitUsage};
  Connection connection(PQconnectdb(arguments.dsn.c_str()));
  if (PQstatus(connection.get()) != CONNECTION_OK)
    throw server_error(connection.get(), nullptr, "cannot connect");
  PQsetClientEncoding(connection.get(), "UTF8");
  refuse_native(connection.get());
  return connection;
}

// The schema, quoted as an identifier.
std::string quoted_schema(PGconn *connection, const std::string &name) {
  auto schema =
      run(connection, "SELECT pg_catalog.quote_ident(nspname) FROM pg_catalog.pg_namespace WHERE nspname = $1", {name},
          "cannot look up the schema");
  if (!schema)
    throw InstallError{"schema \"" + name + "\" does not exist",
                       "create it first (CREATE SCHEMA ...), or leave --schema out for public"};
  return *schema;
}

std::optional<std::string> extension_version(PGconn *connection) {
  return run(connection, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'ectowatch'", {},
             "cannot look for the extension");
}

void install_portable(const InstallArguments &arguments) {
  Connection connection = connect(arguments);
  if (extension_version(connection.get()))
    throw InstallError{"ectowatch is an extension in this database (installed through pg_tle)",
                       "upgrade it with ectowatch install --pg-tle"};
  std::string schema = quoted_schema(connection.get(), arguments.schema);
  std::optional<std::string> previous;
  if (run(connection.get(), "SELECT pg_catalog.to_regproc($1)::text", {schema + ".ectowatch_portable_version"},
          "cannot look for an installed edition"))
    previous = run(connection.get(), "SELECT " + schema + ".ectowatch_portable_version()", {},
                   "cannot read the installed version");
  Result result(PQexec(connection.get(), with_schema(kPortableScript, schema).c_str()));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK)
    throw server_error(connection.get(), result.get(), "installing the portable edition failed (nothing was changed)");
  if (previous)
    std::cout << "upgraded the portable edition of ectowatch in schema " << schema << " from " << *previous << " to "
              << kPortableVersion << "; every watcher kept" << std::endl;
  else
    std::cout << "installed the portable edition of ectowatch " << kPortableVersion << " in schema " << schema
              << std::endl;
}

// Registers this version with pg_tle (or an update path to it from the
// newest registered one), then creates or updates the extension, in one
// transaction.
void install_pg_tle(const InstallArguments &arguments) {
  Connection connection = connect(arguments);
  PGconn *on = connection.get();
  if (!run(on, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_tle'", {}, "cannot look for pg_tle"))
    throw InstallError{"pg_tle is not installed in this database",
                       "a superuser runs CREATE EXTENSION pg_tle (with shared_preload_libraries = 'pg_tle') and "
                       "GRANT pgtle_admin TO this role; or use ectowatch install --portable"};
  if (run(on, "SELECT pg_catalog.to_regproc('ectowatch_portable_version')::text", {},
          "cannot look for a script install") &&
      !extension_version(on))
    throw InstallError{"the portable edition is installed here as a script (ectowatch install --portable)",
                       "keep upgrading it with ectowatch install --portable: moving it into pg_tle is not automated"};
  std::string schema = quoted_schema(on, arguments.schema);
  run(on, "BEGIN", {}, "cannot begin");
  // The versions pg_tle knows, newest last ("" when none).
  std::string newest = run(on,
                           "SELECT version FROM pgtle.available_extension_versions() WHERE name = 'ectowatch' "
                           "ORDER BY pg_catalog.string_to_array(version, '.')::int[] DESC LIMIT 1",
                           {}, "cannot read pg_tle's extensions")
                           .value_or("");
  bool known =
      run(on, "SELECT 'yes' FROM pgtle.available_extension_versions() WHERE name = 'ectowatch' AND version = $1",
          {kPortableVersion}, "cannot read pg_tle's extensions")
          .has_value();
  if (newest.empty())
    run(on, "SELECT pgtle.install_extension('ectowatch', $1, $2, $3)",
        {kPortableVersion, "ectowatch, portable edition: row changes as small JSON messages (PL/pgSQL)", kPgTleScript},
        "pg_tle refused to register ectowatch");
  else if (!known) {
    run(on, "SELECT pgtle.install_update_path('ectowatch', $1, $2, $3)", {newest, kPortableVersion, kPgTleScript},
        "pg_tle refused ectowatch's update path");
    run(on, "SELECT pgtle.set_default_version('ectowatch', $1)", {kPortableVersion},
        "pg_tle refused ectowatch's default version");
  }
  auto installed = extension_version(on);
  if (!installed)
    run(on, "CREATE EXTENSION ectowatch SCHEMA " + schema + " VERSION '" + kPortableVersion + "'", {},
        "CREATE EXTENSION ectowatch failed");
  else if (*installed != kPortableVersion)
    run(on, std::string("ALTER EXTENSION ectowatch UPDATE TO '") + kPortableVersion + "'", {},
        "ALTER EXTENSION ectowatch UPDATE failed");
  run(on, "COMMIT", {}, "cannot commit");
  if (!installed)
    std::cout << "installed the portable edition of ectowatch " << kPortableVersion
              << " through pg_tle (CREATE EXTENSION ectowatch) in schema " << schema << std::endl;
  else if (*installed != kPortableVersion)
    std::cout << "updated the extension ectowatch from " << *installed << " to " << kPortableVersion
              << " through pg_tle; every watcher kept" << std::endl;
  else
    std::cout << "the extension ectowatch " << kPortableVersion << " is installed through pg_tle already" << std::endl;
}

} // namespace

int install(const InstallArguments &arguments) {
  if (arguments.portable == arguments.pg_tle) {
    std::cerr << "ectowatch: install needs --portable (the PL/pgSQL edition as a script) or --pg-tle (the same, as "
                 "an extension through pg_tle), one of them\n"
                 "hint: where the server has ectowatch's library, run CREATE EXTENSION ectowatch; instead\n";
    return kExitUsage;
  }
  try {
    if (arguments.portable)
      install_portable(arguments);
    else
      install_pg_tle(arguments);
    return kExitOk;
  } catch (const InstallError &error) {
    std::cerr << "ectowatch: " << error.what << "\n";
    if (!error.hint.empty())
      std::cerr << "hint: " << error.hint << "\n";
    return error.exit_code;
  }
}

} // namespace ectowatch::cli
