#include "nats_callbacks.hpp"

#include "ectowatch/errors.hpp"

namespace ectowatch::detail {

std::string nats_error_text(const char *what, natsStatus status) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(status);
  const char *last = nats_GetLastError(nullptr);
  if (last && *last)
    text += std::string(" (") + last + ")";
  return text;
}

void check_nats_call(natsStatus status, const char *what) {
  if (status != NATS_OK)
    throw ConnectionError("NATS: " + nats_error_text(what, status));
}

// --- libnats' threads -------------------------------------------------------------

void on_nats_message(natsConnection *, natsSubscription *, natsMsg *message, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    if (inlet->accepting) {
      auto size = static_cast<std::size_t>(natsMsg_GetDataLength(message));
      // libnats reads on while the event loop is busy (a slow callback in
      // process()): beyond max_bytes, what waits is dropped, as the inbox's
      // drop_all does, and poll() reports it at the mark (nullptr).
      if (inlet->max_bytes && inlet->bytes + size > inlet->max_bytes) {
        for (natsMsg *waiting : inlet->messages)
          if (waiting) {
            ++inlet->dropped;
            natsMsg_Destroy(waiting);
          }
        inlet->messages.assign(1, nullptr);
        inlet->bytes = 0;
      }
      inlet->bytes += size;
      inlet->messages.push_back(message);
      message = nullptr;
    }
  }
  if (message)
    natsMsg_Destroy(message); // the connection is being closed: it is delivered again (durable) or lost (resync)
  else
    inlet->wakeup.notify();
}

// The last callback of a subscription (after its handler returned for good)
// or of a connection (closed).
void callback_done(NatsSource::Inlet *inlet) {
  std::lock_guard lock(inlet->mutex);
  --inlet->callbacks_to_come;
  inlet->callbacks_done.notify_all();
}

void on_nats_subscription_complete(void *closure) { callback_done(static_cast<NatsSource::Inlet *>(closure)); }

void on_nats_lost(natsConnection *, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    if (inlet->lost.empty())
      inlet->lost = "the connection to NATS was lost";
  }
  inlet->wakeup.notify();
}

void on_nats_closed(natsConnection *connection, void *closure) {
  on_nats_lost(connection, closure);
  callback_done(static_cast<NatsSource::Inlet *>(closure));
}

void on_nats_error(natsConnection *, natsSubscription *, natsStatus status, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    inlet->errors.push_back(natsStatus_GetText(status));
  }
  inlet->wakeup.notify();
}

} // namespace ectowatch::detail
