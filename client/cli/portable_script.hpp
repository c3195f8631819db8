// The portable edition's install script, carried by the CLI: generated from
// sql/ at build time (CMakeLists.txt, client/cmake/embed_portable_sql.cmake).
#pragma once

namespace ectowatch::cli {

extern const char *const kPortableVersion;
// The script with "@extschema@" where the schema's name goes.
extern const char *const kPortableScript;
// The same edition as an extension's script, for pg_tle (PostgreSQL puts the
// schema in); also its update script from any older version.
extern const char *const kPgTleScript;

} // namespace ectowatch::cli
