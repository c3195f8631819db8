// Where messages come from. A source owns its connection(s), decodes what
// arrives into a Batch for the inbox, and says when it must be polled again
// without input. The runtime owns exactly one source and calls it only with
// its I/O mutex held, so a source needs no locking of its own.
//
// Adding a source (e.g. another transport) is one new class: implement this
// interface and construct it in Runtime::make_source().
#pragma once

#include "pg_connection.hpp"
#include "subscription_registry.hpp"
#include "work.hpp"

#include <functional>
#include <string>

namespace ectowatch::detail {

class EventSource {
public:
  virtual ~EventSource() = default;

  // Opens the connection; throws ConnectionError (or SqlError/UsageError
  // with what to do). `reconnect`: it was open before. Queues into `out`
  // what the application must learn (resyncs, notifications received while
  // connecting).
  virtual void connect(Batch &out, bool reconnect) = 0;
  virtual bool is_open() const = 0;
  // Drops the connection (after a ConnectionError).
  virtual void close() = 0;
  // The descriptor that becomes readable when poll() has work; -1 when closed.
  virtual int socket() const = 0;
  // True while the source does not read (its inbox is full): waiting on
  // socket() would spin; the dispatcher wakes the runtime when there is room.
  virtual bool reading_paused() const { return false; }
  // One round without blocking: read and decode what arrived, keep the
  // connection healthy. Throws ConnectionError when the connection is lost.
  virtual void poll(Batch &out) = 0;
  // When poll() must run again even if socket() stays quiet.
  virtual Clock::time_point next_deadline() const = 0;
  // A subscription of `label` was added or removed (subscribe/unsubscribe):
  // the set of wanted labels may have changed, or (NATS) the filters.
  // Throws ConnectionError when the connection is lost.
  virtual void label_changed(const std::string &label, Batch &out) = 0;
  // Runs an administrative statement (watch(), watchers(), ...) on a
  // connection of the source's choosing; throws what `query` throws, and
  // ConnectionError (closing the source only if its stream was the one lost).
  virtual void run_query(const char *what, const std::function<void(PgConnection &)> &query, Batch &out) = 0;
  // The client is going away: last words to the server (durable: confirm
  // what was dispatched). Never throws.
  virtual void finish() noexcept {}
};

} // namespace ectowatch::detail
