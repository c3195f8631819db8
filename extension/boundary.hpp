// The C/C++ boundary: the only way ectowatch code crosses between C++ and
// PostgreSQL.
//
// Two dangers, one rule each:
//  1. A C++ exception that reaches PostgreSQL aborts the backend and makes the
//     postmaster restart every session. So every function PostgreSQL calls
//     (SQL functions, triggers, callbacks) runs its body through
//     `guarded_entry` / `guarded_callback`, which turn any exception into an
//     ordinary ERROR after every C++ object has been destroyed.
//  2. `elog(ERROR)` is a longjmp that skips C++ destructors. So code that calls
//     PostgreSQL while a C++ object with a destructor is alive (a std::string,
//     a std::vector, a std::function) wraps that call in `call_postgres`, which
//     turns the ERROR into a `PostgresError` exception that unwinds normally.
//     Code that only has plain C data on the stack (pointers, ints, palloc'd
//     memory) may call PostgreSQL and ereport directly.
#pragma once

#include "postgres_api.hpp"

#include <exception>
#include <utility>

namespace ectowatch {

// A PostgreSQL ERROR caught by call_postgres, carried as a C++ exception until
// the boundary re-raises it unchanged (same SQLSTATE, message, hint).
class PostgresError : public std::exception {
public:
  explicit PostgresError(ErrorData *data) noexcept : data_(data) {}
  const char *what() const noexcept override { return data_ && data_->message ? data_->message : "PostgreSQL error"; }
  ErrorData *data() const noexcept { return data_; }

private:
  ErrorData *data_;
};

namespace detail {
// Records the exception being handled; returns its ErrorData when it is a
// PostgresError. Called only inside a catch block; never calls PostgreSQL.
ErrorData *remember_exception() noexcept;
// Raises the remembered exception as a PostgreSQL ERROR. Called outside every
// catch block, so the longjmp skips no C++ frame that still needs unwinding.
[[noreturn]] void raise_remembered(ErrorData *postgres_error);
} // namespace detail

// Runs `body` (which returns a Datum) for a SQL-callable function.
template <typename Body> Datum guarded_entry(Body &&body) {
  ErrorData *postgres_error = nullptr;
  bool failed = false;
  try {
    return body();
  } catch (...) {
    postgres_error = detail::remember_exception();
    failed = true;
  }
  if (failed)
    detail::raise_remembered(postgres_error);
  return (Datum)0;
}

// Runs `body` (returning void) for a callback PostgreSQL invokes.
template <typename Body> void guarded_callback(Body &&body) {
  ErrorData *postgres_error = nullptr;
  bool failed = false;
  try {
    body();
  } catch (...) {
    postgres_error = detail::remember_exception();
    failed = true;
  }
  if (failed)
    detail::raise_remembered(postgres_error);
}

// Runs PostgreSQL code `fn` (which must not create C++ objects with
// destructors itself) and turns an ERROR it raises into PostgresError.
template <typename Fn> void call_postgres(Fn &&fn) {
  MemoryContext caller_context = CurrentMemoryContext;
  ErrorData *volatile caught = nullptr;
  PG_TRY();
  { fn(); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller_context);
    caught = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (caught)
    throw PostgresError(caught);
}

} // namespace ectowatch
