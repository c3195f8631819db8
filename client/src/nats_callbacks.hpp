// What runs on libnats' threads for a NatsSource: each handler only hands
// over to the Inlet (under its mutex) and signals its eventfd, so the
// application's event loop does the rest. Plus how libnats' errors read.
#pragma once

#include "nats_source.hpp"

#include <nats/nats.h>

#include <string>

namespace ectowatch::detail {

// "what: status text (libnats' last error)".
std::string nats_error_text(const char *what, natsStatus status);
// Throws ConnectionError unless `status` is NATS_OK.
void check_nats_call(natsStatus status, const char *what);

// A subscription's message handler (closure: the Inlet).
void on_nats_message(natsConnection *, natsSubscription *, natsMsg *message, void *closure);
// A subscription's completion: its handler is not called again.
void on_nats_subscription_complete(void *closure);
// The connection's disconnected, closed and asynchronous-error handlers.
void on_nats_lost(natsConnection *, void *closure);
void on_nats_closed(natsConnection *connection, void *closure);
void on_nats_error(natsConnection *, natsSubscription *, natsStatus status, void *closure);

} // namespace ectowatch::detail
