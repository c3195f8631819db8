// Loading the library: its settings and the callbacks it registers.
#include "pending_changes.hpp"
#include "pg_compat.hpp"
#include "postgres_api.hpp"
#include "relay.hpp"
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
  DefineCustomBoolVariable("ectowatch.relay", "Relay every 'notify' watcher through the relay worker.",
                           "Messages go to the WAL at commit and the relay worker sends them with NOTIFY, so "
                           "commits take no NOTIFY lock. Where the relay cannot run, NOTIFY is sent directly.",
                           &ectowatch::relay_all, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("ectowatch.relay_databases", "Databases whose relayed messages a relay worker sends.",
                             "A comma-separated list of at most 16 database names; needs "
                             "shared_preload_libraries.",
                             &ectowatch::relay_databases, "", PGC_SIGHUP, 0, ectowatch::check_relay_databases, nullptr,
                             nullptr);
  ectowatch::compat::reserve_setting_prefix("ectowatch");
  if (process_shared_preload_libraries_in_progress)
    ectowatch::relay_register_at_preload();
  ectowatch::register_pending_changes_callbacks();
  ectowatch::register_watcher_plan_invalidation();
}
}
