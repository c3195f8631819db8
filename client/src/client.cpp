// ectowatch::Client: the connection loop (connect, LISTEN or read the slot,
// reconnect, confirm positions) and the dispatch loop (match rows to
// subscriptions, coalesce, call back).
#include "ectowatch/client.hpp"

#include "message_decoder.hpp"
#include "pg_connection.hpp"
#include "replication_stream.hpp"
#include "subscription_registry.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

namespace ectowatch {

using Clock = std::chrono::steady_clock;
using detail::SubscriptionPtr;

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  // Work handed from the I/O side to the dispatch side, in arrival order.
  struct ErrorItem {
    std::exception_ptr error;
  };
  // Durable: the stream got this far with nothing (more) for the subscribers;
  // once dispatched, the position may be confirmed. `transaction_end`: the
  // plugin's empty row after a transaction's messages (lsn = end of its commit).
  struct Position {
    std::uint64_t lsn;
    bool transaction_end = false;
  };
  using Work = std::variant<std::shared_ptr<const Message>, Resync, ErrorItem, Position>;

  Impl(std::string conninfo_, ClientOptions options_, std::optional<Durable> durable_)
      : conninfo(std::move(conninfo_)), options(std::move(options_)), durable(std::move(durable_)) {
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
      throw ConnectionError("cannot create an eventfd");
  }
  ~Impl() {
    if (wake_fd >= 0)
      close(wake_fd);
  }

  const std::string conninfo;
  const ClientOptions options;
  const std::optional<Durable> durable; // set: read a slot instead of LISTENing

  // --- the connection (I/O side) -------------------------------------------
  mutable std::mutex connection_mutex;
  std::unique_ptr<detail::PgConnection> connection; // null while disconnected
  std::set<std::string> listening;                  // channels LISTENed on `connection`
  bool ever_connected = false;
  Clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  Clock::time_point last_activity = Clock::now();
  std::atomic<bool> is_connected{false};
  std::atomic<std::uint64_t> reconnect_count{0};
  int wake_fd = -1;

  // --- durable delivery (instead of `connection`; connection_mutex) ------------
  std::unique_ptr<detail::ReplicationStream> stream;
  std::unique_ptr<detail::PgConnection> admin; // watch(), watchers(), slots() while streaming
  std::uint64_t received_lsn = 0;              // read from the stream (queued or dispatched)
  std::uint64_t reported_lsn = 0;              // last position confirmed to the server
  Clock::time_point last_status{};
  // Callbacks for everything before this position have returned (dispatch side).
  std::atomic<std::uint64_t> dispatched_lsn{0};
  // Callbacks have seen part of a transaction but not its end: stop() waits
  // for the end in run() and process(), so no transaction is left half done.
  std::atomic<bool> inside_transaction{false};

  // --- subscriptions ---------------------------------------------------------
  detail::SubscriptionRegistry registry;
  std::atomic<std::uint64_t> next_subscription_id{1};

  // --- callbacks ---------------------------------------------------------------
  std::mutex callbacks_mutex;
  std::vector<std::function<void(const Resync &)>> resync_callbacks;
  ErrorCallback error_callback;

  // --- dispatch ------------------------------------------------------------------
  mutable std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<Work> queue;
  // Payload bytes read and not yet dispatched: in `queue` or in the batch the
  // dispatcher is working through.
  std::atomic<std::size_t> queued_bytes{0};
  // Decoded while reading one batch from the socket; queued together (connection_mutex).
  std::deque<Work> arrivals;
  // Coalescing windows that end: (due, subscription, key).
  std::multimap<Clock::time_point, std::pair<std::weak_ptr<Subscription::State>, std::string>> timers;
  std::mutex dispatch_mutex;                                // one dispatcher at a time: callbacks never overlap
  std::vector<detail::SubscriptionRegistry::Match> matches; // reused; under dispatch_mutex
  std::atomic<std::thread::id> dispatching_thread{};

  // --- threads ---------------------------------------------------------------------
  std::atomic<bool> stopping{false};
  std::thread io_thread;
  std::thread dispatch_thread;

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_fd, &one, sizeof one);
  }
  void drain_wake() {
    uint64_t value;
    while (::read(wake_fd, &value, sizeof value) > 0) {
    }
  }

  static std::size_t size_of(const Work &work) {
    auto *message = std::get_if<std::shared_ptr<const Message>>(&work);
    return message ? (*message)->payload.size() : 0;
  }

  void enqueue(Work work) {
    {
      std::lock_guard lock(queue_mutex);
      push_locked(std::move(work));
    }
    queue_changed.notify_all();
  }

  // Queues everything decoded from one read under a single lock.
  void enqueue_arrivals() {
    if (arrivals.empty())
      return;
    std::size_t bytes = 0;
    for (const Work &work : arrivals)
      bytes += size_of(work);
    {
      std::lock_guard lock(queue_mutex);
      if (queue.empty() && (durable || queued_bytes + bytes <= options.max_buffered_bytes)) {
        // The usual case: the dispatcher has caught up, so the batch becomes the queue.
        queue.swap(arrivals);
        queued_bytes += bytes;
      } else {
        for (Work &work : arrivals)
          push_locked(std::move(work));
      }
    }
    arrivals.clear();
    queue_changed.notify_all();
  }

  void push_locked(Work work) {
    std::size_t size = size_of(work);
    // A durable client never drops: it stops reading instead (paused_locked).
    if (!durable && size > 0 && queued_bytes + size > options.max_buffered_bytes)
      drop_buffered_locked();
    queued_bytes += size;
    queue.push_back(std::move(work));
  }

  // The buffer is full: drop every buffered message, keep the socket drained,
  // and tell the application what happened (queue_mutex held).
  void drop_buffered_locked() {
    std::uint64_t messages = 0, rows = 0;
    std::deque<Work> kept;
    for (Work &work : queue) {
      if (auto *message = std::get_if<std::shared_ptr<const Message>>(&work)) {
        ++messages;
        rows += (*message)->rows.size();
        queued_bytes -= size_of(work);
      } else {
        kept.push_back(std::move(work));
      }
    }
    queue = std::move(kept);
    queue.push_back(ErrorItem{std::make_exception_ptr(
        BufferOverflow("callbacks fell behind: dropped " + std::to_string(messages) + " buffered message(s) with " +
                           std::to_string(rows) + " row(s); a resync follows",
                       messages, rows))});
    queue.push_back(Resync{Resync::Reason::overflow, {}});
  }
  void enqueue_error(std::exception_ptr error) { enqueue(ErrorItem{std::move(error)}); }

  // Decodes and queues one message read from the slot (connection_mutex held).
  // Messages nobody subscribed to are consumed unseen: only their position is queued.
  void accept_from_slot(std::uint64_t lsn, std::string_view payload) {
    received_lsn = std::max(received_lsn, lsn);
    if (payload.empty()) {
      arrivals.emplace_back(Position{lsn, true});
      return;
    }
    try {
      auto message = detail::decode_slot_message(lsn, payload, &bad_rows);
      if (registry.wants(message->label)) {
        arrivals.emplace_back(std::move(message));
        queue_bad_rows();
        return;
      }
      bad_rows.clear();
    } catch (const ProtocolError &) {
      arrivals.emplace_back(ErrorItem{std::current_exception()});
    }
    arrivals.emplace_back(Position{lsn});
  }

  // Rows left out of the message just decoded (a bad row never takes its
  // neighbours down): each is reported after the message's other rows.
  std::vector<RowError> bad_rows; // connection_mutex
  void queue_bad_rows() {
    if (bad_rows.empty())
      return;
    for (RowError &error : bad_rows)
      arrivals.emplace_back(ErrorItem{std::make_exception_ptr(std::move(error))});
    bad_rows.clear();
  }

  // The relay worker's channel for "your events may be lost" (its slot was
  // invalidated): every client LISTENs on it.
  static constexpr const char *kResyncChannel = "ectowatch_resync";

  // --- authenticity of relayed messages (connection_mutex) ----------------------
  // Any role that can connect can NOTIFY any channel. Relayed messages are
  // sent only by this database's relay worker, and they alone carry "lsn":
  // so a message with "lsn", a message on a label whose watcher has delivery
  // 'relay', and a relay_lost resync must come from the worker's backend.
  // What is known is checked against the server again before anything is
  // called forged (a restarted worker has a new pid; a watcher may have
  // changed its delivery), so only a real mismatch costs a query.
  std::set<int> relay_pids;                        // relay workers of this database seen so far
  std::set<std::string, std::less<>> relay_labels; // labels whose watcher has delivery 'relay'

  // "a,b" -> {"a", "b"}; "" -> {} (string_agg of pids and of labels, which have no comma).
  static std::vector<std::string> split_list(const std::string &text) {
    std::vector<std::string> items;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t comma = std::min(text.find(',', start), text.size());
      items.push_back(text.substr(start, comma - start));
      start = comma + 1;
    }
    return items;
  }

  // The relay labels, then the worker's pid (read only when a message needs
  // it: the status view costs more than the LISTEN it would ride along with).
  static constexpr const char *kRelayLabelsQuery =
      "SELECT string_agg(label, ',') FROM ectowatch_watchers WHERE delivery = 'relay'";
  static constexpr const char *kRelayQuery =
      "SELECT (SELECT string_agg(label, ',') FROM ectowatch_watchers WHERE delivery = 'relay'), "
      "(SELECT string_agg(pid::text, ',') FROM ectowatch_relay_status "
      "WHERE database = current_database() AND pid IS NOT NULL)";

  void apply_relay_rows(const detail::PgConnection::Rows &rows) {
    if (rows.empty() || rows[0].empty())
      return;
    relay_labels.clear();
    for (std::string &label : split_list(rows[0][0].value_or("")))
      relay_labels.insert(std::move(label));
    if (rows[0].size() > 1)
      for (const std::string &pid : split_list(rows[0][1].value_or("")))
        relay_pids.insert(std::stoi(pid));
  }

  // Reads the worker's pid and the relay labels (connection held). A server
  // without the relay (extension before 0.3.0) has neither.
  void refresh_relay_locked(detail::PgConnection &on) {
    try {
      apply_relay_rows(on.simple_query(kRelayQuery));
    } catch (const SqlError &) {
      // No relay on this server: nothing is relayed, every "lsn" is forged.
    }
  }

  // LISTEN, and read the relay labels in the same round trip (a connect
  // costs no more round trips than before; new subscriptions LISTEN alone:
  // even this query made the CLI's start measurably slower).
  void listen_locked(detail::PgConnection &on, const std::string &channel) {
    try {
      apply_relay_rows(on.simple_query("LISTEN " + on.quote_identifier(channel) + "; " + kRelayLabelsQuery));
    } catch (const SqlError &) {
      on.listen(channel); // no relay on this server (both ran in one implicit transaction)
    }
  }

  // Whether a notification on `label` from `sender_pid` may be genuine.
  // `relayed`: it carries "lsn" (or is a relay_lost resync).
  bool authentic_locked(std::string_view label, bool relayed, int sender_pid) {
    if (!relayed && (relay_labels.empty() || !relay_labels.count(label)))
      return true; // direct NOTIFY: cannot be told apart (docs/guarantees.md)
    if (relay_pids.count(sender_pid)) {
      // Labels are read at connect; a relay watcher created since is learned
      // from its first relayed message.
      if (relayed && !relay_labels.count(label))
        relay_labels.emplace(label);
      return true;
    }
    refresh_relay_locked(*connection);
    if (relay_pids.count(sender_pid))
      return true;
    if (relayed || !relay_labels.count(label))
      return !relayed;
    // A relay watcher's message sent directly: the writer falls back to
    // NOTIFY when the relay cannot run for it (pending_changes.cpp).
    try {
      return connection->query_value("SELECT ectowatch_relay_unavailable()", {}).has_value();
    } catch (const SqlError &) {
      return false;
    }
  }

  void report_forged_locked(std::string_view channel, std::string_view payload, int sender_pid, const char *why) {
    arrivals.emplace_back(ErrorItem{std::make_exception_ptr(
        ForgedMessage("forged message on channel \"" + std::string(channel) + "\", not delivered: " + why +
                          ", but it was sent by backend " + std::to_string(sender_pid) +
                          ", not by this database's relay worker (ectowatch_relay_status)",
                      std::string(channel), std::string(payload), sender_pid))});
  }

  // Decodes and queues one notification. Called with connection_mutex held.
  void accept(std::string_view channel, std::string_view payload, int sender_pid) {
    if (channel == kResyncChannel) {
      if (authentic_locked(channel, true, sender_pid))
        arrivals.emplace_back(Resync{Resync::Reason::relay_lost, {}});
      else
        report_forged_locked(channel, payload, sender_pid, "a relay_lost resync comes from the relay worker");
      return;
    }
    // A label unsubscribed meanwhile (until its UNLISTEN) is decoded too and
    // then matches nothing: cheaper than a second registry lookup per message.
    try {
      auto message = detail::decode_message(channel, payload, detail::Parser::fast_path_first, &bad_rows);
      if (!authentic_locked(channel, message->lsn != 0, sender_pid)) {
        bad_rows.clear();
        report_forged_locked(channel, payload, sender_pid,
                             message->lsn != 0 ? "it carries a WAL position, as only relayed messages do"
                                               : "its label's watcher has delivery 'relay'");
        return;
      }
      arrivals.emplace_back(std::move(message));
      queue_bad_rows();
    } catch (const ProtocolError &) {
      arrivals.emplace_back(ErrorItem{std::current_exception()});
    }
  }
  detail::PgConnection::Visitor acceptor() {
    return [this](std::string_view channel, std::string_view payload, int sender_pid) {
      accept(channel, payload, sender_pid);
    };
  }
  // Notifications libpq received during a command, queued in order.
  void take_buffered_locked() {
    connection->take_buffered(acceptor());
    enqueue_arrivals();
  }

  // --- connection management (connection_mutex held) ------------------------------
  void connect_locked() {
    if (durable) {
      connect_stream_locked();
      return;
    }
    auto fresh =
        std::make_unique<detail::PgConnection>(conninfo, options.application_name, options.connect_timeout_seconds);
    relay_pids.clear();
    listen_locked(*fresh, kResyncChannel);
    std::set<std::string> channels;
    for (const std::string &label : registry.labels()) {
      fresh->listen(label);
      channels.insert(label);
    }
    connection = std::move(fresh);
    listening = std::move(channels);
    last_activity = Clock::now();
    backoff = std::chrono::milliseconds(0);
    is_connected = true;
    take_buffered_locked();
    if (ever_connected) {
      ++reconnect_count;
      enqueue(Resync{Resync::Reason::reconnected, {}});
    }
    ever_connected = true;
  }

  // Durable: a slot resumes where it was confirmed, so a reconnect is not a
  // resync; only a new or lost slot is. Streaming begins at the first poll.
  void connect_stream_locked() {
    auto fresh = std::make_unique<detail::ReplicationStream>(conninfo, options.application_name,
                                                             options.connect_timeout_seconds);
    auto slot = fresh->prepare_slot(durable->slot, durable->create_slot);
    stream = std::move(fresh);
    last_activity = Clock::now();
    backoff = std::chrono::milliseconds(0);
    is_connected = true;
    if (ever_connected)
      ++reconnect_count;
    if (slot.created || slot.lost)
      enqueue(Resync{slot.lost ? Resync::Reason::slot_lost : Resync::Reason::slot_created, {}});
    ever_connected = true;
  }

  void lose_connection_locked(const ConnectionError &error) {
    stream.reset();
    connection.reset();
    listening.clear();
    is_connected = false;
    next_attempt = Clock::now(); // the first retry is immediate
    enqueue_error(std::make_exception_ptr(error));
  }

  // The constructors' first connection: now (errors are thrown), or in the
  // background (a failure is reported and retried).
  void connect_first() {
    std::lock_guard lock(connection_mutex);
    if (options.connect_in_background)
      try_reconnect_locked();
    else
      connect_locked();
  }

  void try_reconnect_locked() {
    if (Clock::now() < next_attempt)
      return;
    try {
      connect_locked();
    } catch (const Error &error) {
      connection.reset();
      backoff = backoff.count() == 0 ? options.reconnect_initial : std::min(backoff * 2, options.reconnect_max);
      next_attempt = Clock::now() + backoff;
      enqueue_error(std::current_exception());
    }
  }

  // Runs one statement for watch()/unwatch()/watchers() on the connection.
  // A durable client runs them on a second, ordinary connection, opened when needed.
  template <typename Query> auto query(const char *what, Query &&run) {
    std::lock_guard lock(connection_mutex);
    if (durable) {
      try {
        if (!admin)
          admin = std::make_unique<detail::PgConnection>(conninfo, options.application_name,
                                                         options.connect_timeout_seconds);
        return run(*admin);
      } catch (const ConnectionError &) {
        admin.reset();
        throw;
      }
    }
    if (!connection)
      throw ConnectionError(std::string(what) + ": not connected (reconnecting)");
    try {
      auto value = run(*connection);
      take_buffered_locked();
      return value;
    } catch (const ConnectionError &error) {
      lose_connection_locked(error);
      wake();
      throw;
    }
  }
  std::optional<std::string> query_value(const char *what, const std::string &sql,
                                         const std::vector<std::optional<std::string>> &params) {
    return query(what, [&](detail::PgConnection &on) { return on.query_value(sql, params); });
  }

  // LISTEN or UNLISTEN `label` so that the connection matches the registry.
  void sync_channel(const std::string &label) {
    if (durable)
      return; // a slot streams every label; unwanted ones are skipped on arrival
    std::lock_guard lock(connection_mutex);
    if (!connection)
      return; // the reconnect LISTENs every wanted channel
    bool wanted = registry.wants(label);
    bool listened = listening.count(label) > 0;
    try {
      if (wanted && !listened) {
        connection->listen(label);
        listening.insert(label);
      } else if (!wanted && listened) {
        connection->unlisten(label);
        listening.erase(label);
      }
      take_buffered_locked();
    } catch (const ConnectionError &error) {
      enqueue_arrivals();
      lose_connection_locked(error);
      wake();
    }
  }

  // One round of I/O without blocking: reconnect if due, read, check health.
  void poll_connection() {
    std::lock_guard lock(connection_mutex);
    if (durable) {
      if (!stream)
        try_reconnect_locked();
      if (stream)
        poll_stream_locked();
      return;
    }
    if (!connection) {
      try_reconnect_locked();
      return;
    }
    try {
      std::size_t received = connection->read_notifications(acceptor());
      auto now = Clock::now();
      if (received > 0) {
        last_activity = now;
      } else if (now - last_activity >= options.health_check_interval) {
        connection->check_alive();
        last_activity = now;
        connection->take_buffered(acceptor());
      }
      enqueue_arrivals();
    } catch (const ConnectionError &error) {
      enqueue_arrivals();
      lose_connection_locked(error);
    }
  }

  // Durable: the buffer is full, so reading stops and the server waits (TCP
  // back-pressure) instead of anything being dropped.
  bool paused_locked() const { return queued_bytes >= options.max_buffered_bytes; }

  void poll_stream_locked() {
    try {
      if (!stream->streaming())
        stream->start(durable->slot, received_lsn); // 0: from the slot's confirmed position
      bool reply_requested = false;
      std::size_t seen = 0;
      if (!paused_locked()) {
        seen = stream->read({[this](std::uint64_t lsn, std::string_view payload) { accept_from_slot(lsn, payload); },
                             [this](std::uint64_t lsn) {
                               received_lsn = std::max(received_lsn, lsn);
                               arrivals.emplace_back(Position{lsn});
                             }},
                            reply_requested);
        enqueue_arrivals();
      }
      auto now = Clock::now();
      if (seen > 0 || paused_locked())
        last_activity = now;
      else if (now - last_activity >= 2 * options.health_check_interval)
        throw ConnectionError("the server did not answer a status request for " +
                              std::to_string(options.health_check_interval.count()) + " ms");
      bool check =
          now - last_activity >= options.health_check_interval && now - last_status >= options.health_check_interval;
      send_status_locked(reply_requested || check, check);
    } catch (const ConnectionError &error) {
      enqueue_arrivals();
      lose_connection_locked(error);
    }
  }

  // Confirms what the callbacks have finished: soon after it advances (a
  // little batched), on request, and every 10 s so the server keeps us.
  static constexpr std::chrono::milliseconds kStatusBatch{20};
  static constexpr std::chrono::seconds kStatusInterval{10};
  // What may be confirmed: dispatched, and safe elsewhere (Durable::confirm_up_to).
  std::uint64_t confirmable() const {
    std::uint64_t done = dispatched_lsn;
    return durable && durable->confirm_up_to ? std::min(done, durable->confirm_up_to()) : done;
  }
  void send_status_locked(bool force, bool request_reply) {
    std::uint64_t confirmed = confirmable();
    auto now = Clock::now();
    bool advanced = confirmed > reported_lsn;
    if (!force && !(advanced && now - last_status >= kStatusBatch) && now - last_status < kStatusInterval)
      return;
    stream->send_status(std::max(received_lsn, confirmed), confirmed, request_reply);
    reported_lsn = std::max(reported_lsn, confirmed);
    last_status = now;
  }

  // When the I/O side must look again without input: a status update is due.
  Clock::time_point next_status_locked() const {
    if (!stream)
      return Clock::time_point::max();
    if (confirmable() > reported_lsn)
      return last_status + kStatusBatch;
    return last_status + kStatusInterval;
  }

  // Blocks until the socket is readable, a wake-up, or `deadline`.
  void wait_for_input(Clock::time_point deadline) {
    int socket_fd = -1;
    {
      std::lock_guard lock(connection_mutex);
      if (stream) {
        socket_fd = paused_locked() ? -1 : stream->socket(); // paused: the dispatcher wakes us
        deadline = std::min({deadline, last_activity + options.health_check_interval, next_status_locked()});
      } else if (connection) {
        socket_fd = connection->socket();
        deadline = std::min(deadline, last_activity + options.health_check_interval);
      } else {
        deadline = std::min(deadline, next_attempt);
      }
    }
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {socket_fd, POLLIN, 0}};
    ::poll(fds, socket_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<long long>(timeout, 0, 60'000)));
    drain_wake();
  }

  // --- dispatch -------------------------------------------------------------------
  static void call(const SubscriptionPtr &subscription, const Event &event, Impl &impl) {
    std::lock_guard lock(subscription->call_mutex);
    if (!subscription->active)
      return;
    try {
      subscription->callback(event);
    } catch (const std::exception &error) {
      impl.report(CallbackError(std::string("a subscriber of \"") + subscription->label + "\" threw: " + error.what()));
    } catch (...) {
      impl.report(CallbackError("a subscriber of \"" + subscription->label + "\" threw a non-standard exception"));
    }
  }

  void report(const Error &error) {
    ErrorCallback callback;
    {
      std::lock_guard lock(callbacks_mutex);
      callback = error_callback;
    }
    if (callback) {
      try {
        callback(error);
      } catch (...) {
        // An error handler that throws has nobody left to tell.
      }
    }
  }

  void deliver(const SubscriptionPtr &subscription, const Event &event) {
    if (!subscription->active)
      return;
    if (!subscription->options.coalesce || event.kind() != Event::Kind::row) {
      call(subscription, event, *this);
      return;
    }
    auto window = *subscription->options.coalesce;
    auto now = Clock::now();
    std::string key = detail::row_key(event.message(), event.row());
    auto [slot, fresh] = subscription->slots.try_emplace(key);
    if (fresh) {
      slot->second.last_delivery = now;
      schedule(now + window, subscription, key);
      call(subscription, event, *this);
    } else {
      slot->second.pending = event; // the latest wins; sent when the window ends
    }
  }

  void schedule(Clock::time_point due, const SubscriptionPtr &subscription, const std::string &key) {
    std::lock_guard lock(queue_mutex);
    timers.emplace(due, std::make_pair(std::weak_ptr<Subscription::State>(subscription), key));
  }

  // Ends the coalescing windows that are due; returns the events delivered.
  std::size_t fire_timers() {
    std::size_t delivered = 0;
    for (;;) {
      std::weak_ptr<Subscription::State> weak;
      std::string key;
      {
        std::lock_guard lock(queue_mutex);
        if (timers.empty() || timers.begin()->first > Clock::now())
          return delivered;
        weak = timers.begin()->second.first;
        key = std::move(timers.begin()->second.second);
        timers.erase(timers.begin());
      }
      SubscriptionPtr subscription = weak.lock();
      if (!subscription)
        continue;
      auto slot = subscription->slots.find(key);
      if (slot == subscription->slots.end())
        continue;
      if (!slot->second.pending) {
        subscription->slots.erase(slot); // a quiet window: forget the key
        continue;
      }
      Event event = std::move(*slot->second.pending);
      slot->second.pending.reset();
      slot->second.last_delivery = Clock::now();
      schedule(slot->second.last_delivery + *subscription->options.coalesce, subscription, key);
      call(subscription, event, *this);
      ++delivered;
    }
  }

  void resync(const Resync &event) {
    std::vector<std::function<void(const Resync &)>> callbacks;
    {
      std::lock_guard lock(callbacks_mutex);
      callbacks = resync_callbacks;
    }
    for (auto &callback : callbacks) {
      try {
        callback(event);
      } catch (const std::exception &error) {
        report(CallbackError(std::string("a resync callback threw: ") + error.what()));
      } catch (...) {
        report(CallbackError("a resync callback threw a non-standard exception"));
      }
    }
  }

  // Rows were left out of `message` (dropped) or its table was truncated:
  // every subscriber of the label is told, then the resync callbacks. Nobody
  // is when the label has no subscriber (left since the message was sent).
  std::size_t announce_gap(const std::shared_ptr<const Message> &message) {
    auto subscribers = registry.all_of(message->label);
    if (subscribers.empty())
      return 0;
    Event event(message, message->op == Op::truncated ? Event::Kind::truncated : Event::Kind::dropped);
    for (const SubscriptionPtr &subscription : subscribers)
      deliver(subscription, event);
    resync(Resync{message->op == Op::truncated ? Resync::Reason::truncated : Resync::Reason::dropped, message->label});
    return subscribers.size();
  }

  std::size_t dispatch(const Work &work) {
    std::size_t delivered = 0;
    if (auto *message = std::get_if<std::shared_ptr<const Message>>(&work)) {
      const auto &shared = *message;
      registry.match(*shared, matches);
      for (const auto &match : matches) {
        deliver(match.subscription, Event(shared, Event::Kind::row, match.row_index));
        ++delivered;
      }
      matches.clear();
      if (shared->dropped > 0 || shared->op == Op::truncated)
        delivered += announce_gap(shared);
    } else if (auto *event = std::get_if<Resync>(&work)) {
      resync(*event);
    } else if (auto *item = std::get_if<ErrorItem>(&work)) {
      try {
        std::rethrow_exception(item->error);
      } catch (const Error &error) {
        report(error);
      } catch (...) {
      }
    }
    return delivered;
  }

  // Durable: every callback for `work` has returned; its position may be confirmed.
  void mark_done(const Work &work) {
    if (!durable)
      return; // nothing to confirm: positions and transactions are the slot's
    std::uint64_t lsn = 0;
    if (auto *message = std::get_if<std::shared_ptr<const Message>>(&work)) {
      lsn = (*message)->lsn;
      inside_transaction = true;
    } else if (auto *position = std::get_if<Position>(&work)) {
      lsn = position->lsn;
      if (position->transaction_end)
        inside_transaction = false;
    }
    if (lsn > dispatched_lsn)
      dispatched_lsn = lsn;
  }

  // Runs everything queued and every due timer; returns events delivered.
  std::size_t dispatch_ready() {
    std::lock_guard dispatching(dispatch_mutex);
    dispatching_thread = std::this_thread::get_id();
    std::size_t delivered = 0;
    std::deque<Work> batch;
    // stop() (also from a callback) ends dispatch after the current message,
    // or for a durable client at the end of the current transaction: the rest
    // stays queued, unconfirmed.
    auto halted = [this] { return stopping && !inside_transaction; };
    while (!halted()) {
      {
        std::lock_guard lock(queue_mutex);
        if (queue.empty())
          break;
        batch.swap(queue);
      }
      while (!batch.empty() && !halted()) {
        delivered += dispatch(batch.front());
        mark_done(batch.front());
        // Room for the reading side as soon as a message is through, so a
        // slow consumer's long batch does not hold the whole budget.
        queued_bytes -= size_of(batch.front());
        batch.pop_front();
      }
      if (!batch.empty()) {
        std::lock_guard lock(queue_mutex);
        queue.insert(queue.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
        batch.clear();
      }
      if (durable)
        wake(); // the I/O side confirms, and reads again if it had paused
    }
    delivered += fire_timers();
    dispatching_thread = std::thread::id{};
    return delivered;
  }

  Clock::time_point next_timer() {
    std::lock_guard lock(queue_mutex);
    return timers.empty() ? Clock::time_point::max() : timers.begin()->first;
  }

  // --- loops ---------------------------------------------------------------------
  void io_loop() {
    while (!stopping) {
      poll_connection();
      wait_for_input(Clock::now() + options.health_check_interval);
    }
  }

  void dispatch_loop() {
    while (!stopping) {
      dispatch_ready();
      std::unique_lock lock(queue_mutex);
      auto due = timers.empty() ? Clock::now() + std::chrono::seconds(1) : timers.begin()->first;
      queue_changed.wait_until(lock, due, [&] { return stopping || !queue.empty(); });
    }
  }

  void unsubscribe(Subscription::State &subscription) {
    bool was_active = subscription.active.exchange(false);
    if (!was_active)
      return;
    bool label_gone = registry.remove(subscription);
    if (label_gone)
      sync_channel(subscription.label);
    // Wait for a callback running on another thread; from the dispatching
    // thread itself (unsubscribing inside a callback) there is nothing to wait for.
    if (dispatching_thread.load() != std::this_thread::get_id())
      std::lock_guard wait_for_callback(subscription.call_mutex);
  }

  Subscription subscribe(std::shared_ptr<Subscription::State> state) {
    if (state->label.empty())
      throw UsageError("subscribe: the label must not be empty");
    state->id = next_subscription_id++;
    std::weak_ptr<Impl> self = weak_from_this();
    state->unsubscribe = [self](Subscription::State &subscription) {
      if (auto impl = self.lock())
        impl->unsubscribe(subscription);
    };
    if (registry.add(state))
      sync_channel(state->label);
    return Subscription(state);
  }
};

// --- Subscription --------------------------------------------------------------

Subscription &Subscription::operator=(Subscription &&other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

Subscription::~Subscription() { reset(); }

void Subscription::reset() {
  if (auto state = state_.lock())
    state->unsubscribe(*state);
  state_.reset();
}

// --- Client ----------------------------------------------------------------------

Client::Client(const std::string &conninfo, ClientOptions options)
    : impl_(std::make_shared<Impl>(conninfo, std::move(options), std::nullopt)) {
  impl_->connect_first();
}

Client::Client(const std::string &conninfo, Durable durable, ClientOptions options) {
  detail::check_slot_name(durable.slot);
  impl_ = std::make_shared<Impl>(conninfo, std::move(options), std::move(durable));
  impl_->connect_first();
}

Client::~Client() {
  stop();
  std::lock_guard lock(impl_->connection_mutex);
  if (impl_->stream) {
    // What the callbacks finished is confirmed, and the server has taken it
    // in before the next consumer of the slot starts (otherwise it is simply
    // delivered again: at-least-once).
    std::uint64_t confirmed = impl_->confirmable();
    impl_->stream->finish(std::max(impl_->received_lsn, confirmed), confirmed, std::chrono::seconds(2));
  }
  impl_->stream.reset();
  impl_->admin.reset();
  impl_->connection.reset();
}

std::string Client::watch(const std::string &table, Op op, const WatchOptions &options) {
  auto array = [](const std::vector<std::string> &columns) -> std::optional<std::string> {
    if (columns.empty())
      return std::nullopt;
    // A text[] literal; every element quoted.
    std::string literal = "{";
    for (std::size_t i = 0; i < columns.size(); ++i) {
      literal += i ? ",\"" : "\"";
      for (char c : columns[i]) {
        if (c == '"' || c == '\\')
          literal.push_back('\\');
        literal.push_back(c);
      }
      literal += "\"";
    }
    return literal + "}";
  };
  auto label = impl_->query_value(
      "watch",
      "SELECT ectowatch_watch($1::regclass, $2, label => $3, trigger_columns => $4::text[], "
      "extra_columns => $5::text[], key_columns => $6::text[], condition => $7, replicated => $8::boolean, "
      "delivery => $9)",
      {table, std::string(to_string(op)), options.label, array(options.trigger_columns), array(options.extra_columns),
       array(options.key_columns), options.condition, std::string(options.replicated ? "true" : "false"),
       options.delivery});
  return label.value_or("");
}

bool Client::unwatch(const std::string &label) {
  auto existed = impl_->query_value("unwatch", "SELECT ectowatch_unwatch($1)", {label});
  return existed == std::optional<std::string>("t");
}

std::vector<SlotInfo> Client::slots() {
  auto rows = impl_->query("slots", [](detail::PgConnection &on) {
    return on.simple_query("SELECT slot_name, active, confirmed_flush_lsn, wal_status, "
                           "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
                           "ELSE pg_current_wal_lsn() END, restart_lsn)::bigint "
                           "FROM pg_replication_slots WHERE plugin = 'ectowatch' AND database = current_database() "
                           "ORDER BY slot_name");
  });
  std::vector<SlotInfo> slots;
  for (const auto &row : rows) {
    SlotInfo info;
    info.name = row[0].value_or("");
    info.active = row[1] == std::optional<std::string>("t");
    info.confirmed_lsn = row[2].value_or("");
    info.wal_status = row[3].value_or("");
    if (row[4])
      info.wal_bytes = std::stoll(*row[4]);
    slots.push_back(std::move(info));
  }
  return slots;
}

bool Client::drop_slot(const std::string &name) {
  detail::check_slot_name(name);
  auto dropped = impl_->query_value("drop_slot",
                                    "SELECT pg_drop_replication_slot(slot_name) IS NULL FROM pg_replication_slots "
                                    "WHERE slot_name = $1 AND plugin = 'ectowatch' AND database = current_database()",
                                    {name});
  return dropped.has_value();
}

std::vector<WatcherInfo> Client::watchers() {
  auto json = impl_->query_value(
      "watchers",
      "SELECT json_agg(w ORDER BY w.label)::text FROM (SELECT label, table_name::text AS table_name, op, channel, "
      "key_columns, extra_columns, trigger_columns, condition, replicated, delivery FROM ectowatch_watchers) w",
      {});
  return detail::decode_watchers(json.value_or(""));
}

namespace {

std::shared_ptr<Subscription::State> new_state(const std::string &label, Subscription::State::Kind kind,
                                               EventCallback callback, SubscribeOptions options) {
  auto state = std::make_shared<Subscription::State>();
  state->label = label;
  state->kind = kind;
  state->callback = std::move(callback);
  state->options = options;
  return state;
}

} // namespace

Subscription Client::subscribe(const std::string &label, EventCallback callback, SubscribeOptions options) {
  return impl_->subscribe(new_state(label, Subscription::State::Kind::all, std::move(callback), options));
}

Subscription Client::subscribe(const std::string &label, const Key &key, EventCallback callback,
                               SubscribeOptions options) {
  if (key.parts().empty())
    throw UsageError("subscribe: a Key needs at least one value");
  auto state = new_state(label, Subscription::State::Kind::key, std::move(callback), options);
  std::vector<std::string> texts;
  for (const MatchValue &part : key.parts())
    texts.push_back(part.text());
  state->key = detail::canonical_key(texts);
  return impl_->subscribe(std::move(state));
}

Subscription Client::subscribe(const std::string &label, const ColumnFilter &filter, EventCallback callback,
                               SubscribeOptions options) {
  if (filter.conditions().empty())
    throw UsageError("subscribe: a ColumnFilter needs at least one condition");
  auto state = new_state(label, Subscription::State::Kind::columns, std::move(callback), options);
  for (const auto &[column, value] : filter.conditions())
    state->columns.emplace_back(column, value.text());
  return impl_->subscribe(std::move(state));
}

void Client::on_resync(std::function<void()> callback) {
  on_resync([callback = std::move(callback)](const Resync &event) {
    if (event.label.empty()) // everything may be stale, not one label
      callback();
  });
}

void Client::on_resync(std::function<void(const Resync &)> callback) {
  std::lock_guard lock(impl_->callbacks_mutex);
  impl_->resync_callbacks.push_back(std::move(callback));
}

void Client::on_error(ErrorCallback callback) {
  std::lock_guard lock(impl_->callbacks_mutex);
  impl_->error_callback = std::move(callback);
}

void Client::start() {
  if (impl_->io_thread.joinable())
    throw UsageError("start: the client is already running");
  impl_->stopping = false;
  impl_->io_thread = std::thread([impl = impl_] { impl->io_loop(); });
  impl_->dispatch_thread = std::thread([impl = impl_] { impl->dispatch_loop(); });
}

void Client::run() {
  impl_->stopping = false;
  while (!impl_->stopping) {
    impl_->poll_connection();
    impl_->dispatch_ready();
    impl_->wait_for_input(std::min(impl_->next_timer(), Clock::now() + impl_->options.health_check_interval));
  }
}

void Client::stop() {
  impl_->stopping = true;
  impl_->wake();
  impl_->queue_changed.notify_all();
  for (std::thread *thread : {&impl_->io_thread, &impl_->dispatch_thread})
    if (thread->joinable() && thread->get_id() != std::this_thread::get_id())
      thread->join();
}

int Client::socket() const {
  std::lock_guard lock(impl_->connection_mutex);
  if (impl_->stream)
    return impl_->stream->socket();
  return impl_->connection ? impl_->connection->socket() : -1;
}

std::size_t Client::process() {
  if (!impl_->inside_transaction)
    impl_->stopping = false; // a stop() that took effect; one that waits for a transaction's end stays

  impl_->poll_connection();
  return impl_->dispatch_ready();
}

bool Client::connected() const { return impl_->is_connected; }
bool Client::inside_transaction() const { return impl_->inside_transaction; }
std::size_t Client::buffered_bytes() const { return impl_->queued_bytes; }
std::uint64_t Client::reconnects() const { return impl_->reconnect_count; }

} // namespace ectowatch
