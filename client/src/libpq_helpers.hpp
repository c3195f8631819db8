// Small helpers for the two files that speak libpq (pg_connection.cpp,
// replication_stream.cpp): owners for what libpq allocates, and its messages
// without the trailing newline.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>

namespace ectowatch::detail {

struct ResultDeleter {
  void operator()(PGresult *result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct FreememDeleter {
  void operator()(void *memory) const { PQfreemem(memory); }
};

inline std::string trimmed(const char *text) {
  std::string message = text ? text : "";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}

// The server's error in `result` as a SqlError (pg_connection.cpp).
[[noreturn]] void throw_sql_error(const PGresult *result);

} // namespace ectowatch::detail
