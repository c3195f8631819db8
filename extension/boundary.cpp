#include "boundary.hpp"

#include <cstring>
#include <new>

namespace ectowatch::detail {

namespace {
// The message of a C++ exception, copied without allocating (allocating inside
// a catch block could itself fail).
char remembered_message[512];
bool remembered_out_of_memory = false;

void remember_message(const char *message) noexcept {
  std::strncpy(remembered_message, message, sizeof remembered_message - 1);
  remembered_message[sizeof remembered_message - 1] = '\0';
}
} // namespace

ErrorData *remember_exception() noexcept {
  remembered_out_of_memory = false;
  try {
    throw;
  } catch (const PostgresError &error) {
    return error.data();
  } catch (const std::bad_alloc &) {
    remembered_out_of_memory = true;
    remember_message("out of memory");
  } catch (const std::exception &error) {
    remember_message(error.what());
  } catch (...) {
    remember_message("unknown C++ exception");
  }
  return nullptr;
}

void raise_remembered(ErrorData *postgres_error) {
  if (postgres_error)
    ReThrowError(postgres_error);
  if (remembered_out_of_memory)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("ectowatch: out of memory")));
  ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("ectowatch: %s", remembered_message),
                  errhint("This is a bug in ectowatch; please report it.")));
  pg_unreachable();
}

} // namespace ectowatch::detail
