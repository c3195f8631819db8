// ectowatch::Client: one connection that LISTENs, decodes ectowatch messages
// and hands each changed row to the local subscribers that want it.
//
// Threads
//   start()      runs two threads: an I/O thread that reads the socket and
//                decodes, and a dispatch thread that runs callbacks in message
//                order. A slow callback never stops the socket from being drained.
//   run()        does both on the calling thread until stop().
//   socket() + process() + next_timeout()
//                for your own event loop: call process() when socket() is
//                readable, or when next_timeout() has passed since you last
//                asked (0 = call it now), whichever comes first; it reads,
//                decodes and runs callbacks on your thread, and notices a
//                lost connection and reconnects at once. socket() changes on
//                a reconnect, possibly to the same number: on_connection()
//                says when to stop waiting on it and when to ask again
//                (examples/asio_listener.cpp).
// subscribe(), unsubscribe (Subscription::reset or its destructor), watch()
// and the on_* setters may be called from any thread, also from a callback.
// Callbacks of one client never run concurrently with each other.
//
// Delivery
//   Client(conninfo)            NOTIFY: at-most-once. After a reconnect every
//                               resync callback runs once, because events may
//                               have been missed; reload what you show.
//   Client(conninfo, Durable{"slot"})
//                               a logical replication slot: at-least-once, for
//                               watchers created with delivery 'durable'. Events
//                               committed while the client was down arrive
//                               when it runs again; a position is confirmed to
//                               the server only after the callbacks for it have
//                               returned, so after a crash some events arrive
//                               twice (Message::lsn identifies them). A
//                               callback that throws is reported (on_error)
//                               and its event counts as handled. Resync only
//                               when the slot was created or lost.
#pragma once

#include "ectowatch/cxx20_check.hpp"

#include "ectowatch/errors.hpp"
#include "ectowatch/filters.hpp"
#include "ectowatch/loader.hpp"
#include "ectowatch/message.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ectowatch {

struct ClientOptions {
  std::string application_name = "ectowatch";
  // Reconnect backoff: initial, doubled after each failure, capped.
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{10'000};
  // An idle connection is checked this often with a cheap round trip; TCP
  // keepalives are also requested from libpq.
  std::chrono::milliseconds health_check_interval{15'000};
  // Seconds libpq waits for a connection to be established.
  int connect_timeout_seconds = 10;
  // false: the constructor connects and throws ConnectionError if it cannot.
  // true: the constructor never throws for that; the client keeps trying with
  // the backoff above (each failure goes to on_error) once it runs.
  bool connect_in_background = false;
  // Messages read from the socket but not yet dispatched (callbacks slower
  // than the event rate) are kept up to this many payload bytes. Beyond it
  // everything buffered is dropped, on_error gets a BufferOverflow with the
  // counts, and every resync callback runs (reason overflow): the socket is
  // always drained, so the server's notification queue never backs up.
  // A durable client instead stops reading until the callbacks catch up (the
  // server waits; nothing is dropped).
  std::size_t max_buffered_bytes = 64u << 20;
  // Where subscribe_loaded() loads rows (a libpq conninfo); empty: the
  // client's own conninfo (a NATS client: libpq's defaults and the PG*
  // environment).
  std::string load_conninfo{};
};

struct SubscribeOptions {
  // When set: at most one event per key per window; the first is delivered at
  // once, later ones in the window collapse into the latest, delivered when
  // the window ends. Dropped and truncated events are never coalesced.
  std::optional<std::chrono::milliseconds> coalesce;
};

struct WatchOptions {
  std::optional<std::string> label;
  std::vector<std::string> trigger_columns;
  std::vector<std::string> extra_columns;
  std::vector<std::string> key_columns;
  std::optional<std::string> condition;
  bool replicated = false;
  // One of protocol::kDeliveries (ectowatch/protocol.hpp): "notify" (NOTIFY,
  // at-most-once), "durable" (logical messages for a slot with the
  // 'ectowatch' output plugin; extension 0.2.0) or "relay" (NOTIFY sent by
  // the relay worker; 0.3.0).
  std::string delivery = "notify";
};

// Read a replication slot instead of LISTENing (watchers with delivery
// 'durable'). The slot is this consumer's bookmark: give each consumer process
// its own name, and drop slots you no longer use (they keep WAL on the server).
struct Durable {
  std::string slot; // 1-63 lower-case letters, digits, underscores
  // Create the slot when it does not exist (plugin 'ectowatch', or the
  // built-in 'pgoutput' where the database has the portable edition or the
  // server lacks ectowatch's files: docs/design.md, "Durable delivery");
  // otherwise a missing slot is an error. An existing slot's plugin decides.
  bool create_slot = true;
  // Optional, for forwarders that are acknowledged later (ectowatch bridge):
  // positions are confirmed to the server only up to what this returns as
  // well (everything at or before it is safe elsewhere). Called on the
  // client's I/O thread, often: cheap, thread-safe, and never throwing.
  std::function<std::uint64_t()> confirm_up_to = nullptr;
};

// Read what `ectowatch bridge` publishes to NATS JetStream instead of
// PostgreSQL (README, "Scaling out with NATS"; docs/design.md, "NatsSource").
// A label subscription reads the subjects <prefix>.<label>.>, a Key one only
// that key's subject, both filtered by the server; ColumnFilters match here.
// With a `consumer` name, delivery is at-least-once through durable JetStream
// consumers (named <consumer>-<hash of the filter>, one per filter subject,
// kept on the server when the client goes): a message is acknowledged only
// after its callbacks returned. Without one, at-most-once from now on
// (ephemeral consumers; resync after a reconnect). watch() and the other
// statements need a PostgreSQL client (UsageError here).
struct Nats {
  std::string url = "nats://127.0.0.1:4222"; // one or several comma-separated nats:// URLs
  std::string stream = "ECTOWATCH";          // the bridge's --stream
  std::string prefix = "ectowatch";          // the bridge's --prefix
  std::string consumer;                      // durable consumer name ([A-Za-z0-9_-]); empty: at-most-once
};

// One replication slot of the 'ectowatch' plugin in this database.
struct SlotInfo {
  std::string name;
  bool active = false;                   // a consumer is reading it now
  std::string confirmed_lsn;             // everything before it was delivered
  std::string wal_status;                // reserved, extended, unreserved or lost
  std::optional<std::int64_t> wal_bytes; // WAL the server keeps for it
  // This database's relay slot while ectowatch.relay_databases does not list
  // the database: no worker reads it, so its WAL grows until it is dropped
  // (drop_slot) or the database is listed again (the worker resumes from it).
  bool unlisted_relay = false;
};

// One row of ectowatch_watchers.
struct WatcherInfo {
  std::string label;
  std::string table;
  Op op = Op::inserted;
  std::string channel;
  std::vector<std::string> key_columns;
  std::vector<std::string> extra_columns;
  std::vector<std::string> trigger_columns;
  std::optional<std::string> condition;
  bool replicated = false;
  std::string delivery = "notify";
};

// Why subscribers may have missed events.
struct Resync {
  enum class Reason {
    reconnected,  // the connection was lost and is back: everything may be stale
    truncated,    // `label`'s table was truncated
    dropped,      // rows of `label` were too big to be sent
    overflow,     // the client's buffer overflowed (slow callbacks): everything may be stale
    slot_created, // durable: the slot was just created, nothing before it was recorded
    slot_lost,    // durable: the slot was invalidated (max_slot_wal_keep_size) and created again
    relay_lost,   // the relay worker's slot was invalidated: relayed events were lost
    // NATS: the durable consumer was just created; nothing before it is delivered.
    consumer_created,
    // NATS: the stream no longer holds messages the durable consumer had not acknowledged.
    aged_out,
    // NATS: the stream or the durable consumer was deleted (an error says which).
    consumer_lost,
    // subscribe_loaded(): loading the rows of `label` failed (on_error has the SqlError).
    load_failed,
  };
  // How many reasons there are (Stats::resyncs has one count per reason):
  // a reason added after load_failed must be named here.
  static constexpr std::size_t kReasons = static_cast<std::size_t>(Reason::load_failed) + 1;
  Reason reason;
  // Empty unless truncated or dropped, or (NATS) the label whose consumer or
  // bridge marker (~resync: slot_created, slot_lost) it is.
  std::string label;
};
// "reconnected", "truncated", ... (the enumerator's name).
ECTOWATCH_EXPORT std::string_view to_string(Resync::Reason reason);

// What a client has done since it was constructed (Client::stats()). A
// snapshot: each count is read on its own, so two counts may be a message
// apart while the client runs.
struct Stats {
  std::uint64_t messages = 0;        // messages read from the server (notifications, slot messages)
  std::uint64_t bytes = 0;           // their payload bytes
  std::uint64_t events = 0;          // events handed to subscribers (what process() counts)
  std::uint64_t decode_errors = 0;   // messages and rows left out as undecodable or forged (ProtocolError)
  std::uint64_t callback_errors = 0; // callbacks that threw (CallbackError)
  std::array<std::uint64_t, Resync::kReasons> resyncs{}; // resyncs dispatched, by reason
  std::uint64_t overflows = 0;                           // buffer overflows (each dropped what was buffered)
  std::uint64_t reconnects = 0;                          // connections re-established after a loss
  std::uint64_t confirmed_lsn = 0; // durable: the position last confirmed to the server (0: none yet)
  std::uint64_t load_queries = 0;  // subscribe_loaded(): queries run to load rows
  std::uint64_t loaded_rows = 0;   // subscribe_loaded(): rows those queries returned

  std::uint64_t resyncs_for(Resync::Reason reason) const { return resyncs[static_cast<std::size_t>(reason)]; }
};

// Severity of a line given to Client::on_log.
enum class LogLevel { debug, info, warning, error };
// "debug", "info", "warning", "error".
ECTOWATCH_EXPORT std::string_view to_string(LogLevel level);

// The client library's version, e.g. "0.1.0".
ECTOWATCH_EXPORT std::string_view client_version();

using EventCallback = std::function<void(const Event &)>;
// A batch subscription's callback: the events of one message for this
// subscription, in row order (never empty).
using BatchCallback = std::function<void(std::span<const Event>)>;
using ErrorCallback = std::function<void(const Error &)>;

class Client;

// Keeps a subscription alive; unsubscribes when reset or destroyed. After
// reset() returns, the callback is not called again (if a call is running on
// another thread, reset() waits for it; from inside the callback it does not).
class ECTOWATCH_EXPORT Subscription {
public:
  Subscription() = default;
  Subscription(Subscription &&) noexcept = default;
  Subscription &operator=(Subscription &&other) noexcept;
  Subscription(const Subscription &) = delete;
  Subscription &operator=(const Subscription &) = delete;
  ~Subscription();

  void reset();
  bool active() const noexcept { return !state_.expired(); }

  struct State; // implementation detail

private:
  friend class Client;
  explicit Subscription(std::weak_ptr<State> state) : state_(std::move(state)) {}
  std::weak_ptr<State> state_;
};

class ECTOWATCH_EXPORT Client {
public:
  // `conninfo`: any libpq connection string or URI ("" = libpq's defaults and
  // the PG* environment). Connects at once; throws ConnectionError on failure.
  explicit Client(const std::string &conninfo, ClientOptions options = {});
  // Durable delivery from `durable.slot` (created if missing). Connects and
  // checks the slot at once (throws ConnectionError, SqlError, UsageError with
  // what to do); streaming begins when the client first runs (start(), run()
  // or process()), so subscribe first: rows of labels nobody subscribed to are
  // consumed unseen. Needs wal_level = logical and the REPLICATION attribute.
  Client(const std::string &conninfo, Durable durable, ClientOptions options = {});
  // From NATS JetStream (struct Nats): connects and checks the stream at
  // once (throws ConnectionError); consumers are made as you subscribe.
  explicit Client(Nats nats, ClientOptions options = {});
  ~Client();
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  // Creates or replaces a watcher with ectowatch_watch(); returns its label.
  // Throws SqlError (with its SQLSTATE) when the server refuses.
  std::string watch(const std::string &table, Op op, const WatchOptions &options = {});
  // Removes a watcher; false if it did not exist.
  bool unwatch(const std::string &label);
  // The watchers of the database, ordered by label.
  std::vector<WatcherInfo> watchers();
  // The 'ectowatch' replication slots of the database, ordered by name.
  std::vector<SlotInfo> slots();
  // Drops a slot of the 'ectowatch' plugin; false if there was none. Throws
  // SqlError if a consumer is reading it.
  bool drop_slot(const std::string &name);
  // The ectowatch extension's version installed in this database (e.g.
  // "0.4.0"); nothing when it is not installed.
  std::optional<std::string> extension_version();
  // Where this database's WAL positions are unique: `<system identifier>-
  // <timeline>-<database oid>` (e.g. "7412..-1-16384"). A restored or
  // promoted copy has another timeline, another cluster another system
  // identifier, so an LSN plus this names one change (the bridge's Nats-Msg-Id).
  // Throws SqlError when pg_control_system() was revoked from the role.
  std::string source_id();

  // Every row of a watcher (label = channel). When subscribe() returns, the
  // client LISTENs on the label (if connected): rows committed from then on
  // are delivered. So "subscribe, load the table, then start()" misses nothing.
  [[nodiscard]] Subscription subscribe(const std::string &label, EventCallback callback, SubscribeOptions options = {});
  // Durable clients only: every row of every watcher the slot carries,
  // including watchers created after this call (Event::label says whose), so
  // a relay of the whole slot (ectowatch bridge) never confirms rows of a new
  // watcher unseen. Throws UsageError on a notify or NATS client, whose
  // server-side subscriptions are per label.
  [[nodiscard]] Subscription subscribe_every_label(EventCallback callback, SubscribeOptions options = {});
  // One record.
  [[nodiscard]] Subscription subscribe(const std::string &label, const Key &key, EventCallback callback,
                                       SubscribeOptions options = {});
  // Rows whose key or extra columns have these values. Name the type:
  // subscribe(label, ColumnFilter{"post_id", 7}, ...) (a bare {...} would be ambiguous with Key).
  [[nodiscard]] Subscription subscribe(const std::string &label, const ColumnFilter &filter, EventCallback callback,
                                       SubscribeOptions options = {});
  // The same for one column: subscribe("comments_deleted", "post_id", 7, ...).
  [[nodiscard]] Subscription subscribe(const std::string &label, const std::string &column, MatchValue value,
                                       EventCallback callback, SubscribeOptions options = {}) {
    return subscribe(label, ColumnFilter(column, std::move(value)), std::move(callback), options);
  }
  // Like subscribe(), but one call per message with all its rows this
  // subscription wants (a statement's rows, packed as they fit: see
  // docs/protocol.md), so a cache can reload them with one query
  // (WHERE id = ANY($1)). Called after the message's single-event
  // subscribers. A dropped or truncated event, and an event released by a
  // coalescing window, come as a batch of one. LISTENs like subscribe().
  [[nodiscard]] Subscription subscribe_batch(const std::string &label, BatchCallback callback,
                                             SubscribeOptions options = {});
  [[nodiscard]] Subscription subscribe_batch(const std::string &label, const ColumnFilter &filter,
                                             BatchCallback callback, SubscribeOptions options = {});

  // The current rows behind the label's events (ectowatch/loader.hpp): keys
  // are collected over options.window, deduplicated, and loaded with one
  // query per window and table on the client's loading connection, shared by
  // every loaded subscription with the same options. A key whose row is gone
  // comes as absent. On durable and NATS clients nothing is confirmed before
  // `callback` returned. A failed load goes to on_error (SqlError) and
  // resyncs the label (Resync::Reason::load_failed); a lost loading
  // connection reconnects with the client's backoff and loads the keys again.
  [[nodiscard]] Subscription subscribe_loaded(const std::string &label, LoadedCallback callback,
                                              LoadOptions options = {});

  // The simple form runs for every reason, a single label's truncated and
  // dropped included: the safe default for a cache (reload everything). The
  // Resync& form lets an application be selective.
  void on_resync(std::function<void()> callback);
  void on_resync(std::function<void(const Resync &)> callback);
  // Undecodable messages, callbacks that threw, lost connections (while
  // retrying). Without a handler they are ignored.
  void on_error(ErrorCallback callback);
  // socket() changed: false when the connection was lost (stop waiting on the
  // old descriptor: its number may be reused), true when a connection is open
  // (ask socket() again). Runs like the other callbacks (in process() for an
  // event loop), once per change, the first connection included.
  void on_connection(std::function<void(bool connected)> callback);
  // What the client does with its connection, one line each: connected,
  // connection lost, next attempt after a backoff, slot created or lost,
  // buffer overflow, resync. Runs like the other callbacks (in process() for
  // an event loop), in order with them.
  void on_log(std::function<void(LogLevel level, std::string_view text)> callback);

  void start();
  void run();
  // Ends start() or run(). Dispatch stops after the callbacks of the current
  // message (also when called from a callback); a durable client confirms only
  // what was dispatched, so the rest arrives again next time. In run() and
  // process(), a durable client first finishes the current transaction (see
  // inside_transaction()); with start() a transaction cut short by stop() is
  // delivered again, whole, next time.
  void stop();
  int socket() const;
  // Reads what has arrived and runs the callbacks due; returns the number of
  // events delivered. Never blocks on the socket; reconnects when it is time
  // (at once when it finds the connection lost).
  std::size_t process();
  // The longest an event loop may wait on socket() before it calls process()
  // again (0 = now): it covers reconnect backoff, health checks, coalescing
  // windows and a durable client's status updates. Ask again after each
  // process().
  std::chrono::milliseconds next_timeout() const;

  bool connected() const;
  // Durable: callbacks have run for part of a transaction whose end has not
  // been dispatched yet. After stop() from a callback, keep calling process()
  // while this is true, so the next consumer neither repeats nor loses it.
  bool inside_transaction() const;
  std::uint64_t reconnects() const;
  // Payload bytes read but not yet dispatched (bounded by max_buffered_bytes).
  std::size_t buffered_bytes() const;
  // Counts since construction (cheap: no lock, no round trip; any thread).
  Stats stats() const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

} // namespace ectowatch
