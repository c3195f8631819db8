// Loading the library: its settings and the callbacks it registers.
#include "pending_changes.hpp"
#include "postgres_api.hpp"
#include "settings.hpp"
#include "watcher_plan.hpp"

namespace ectowatch {
bool enabled = true;
} // namespace ectowatch

extern "C" {

PG_MODULE_MAGIC;

void _PG_init(void);

void _PG_init(void) {
  DefineCustomBoolVariable("ectowatch.enabled", "Send ectowatch change notifications.",
                           "When off, changes that follow send no notification; "
                           "SET LOCAL limits that to the current transaction.",
                           &ectowatch::enabled, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("ectowatch");
  ectowatch::register_pending_changes_callbacks();
  ectowatch::register_watcher_plan_invalidation();
}
}
