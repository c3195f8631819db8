// Publishes rows to JetStream asynchronously (libnats' js_PublishMsgAsync)
// with a bounded window of unacknowledged messages, and never loses one:
// a message JetStream refused, or whose acknowledgement did not come within
// ack_timeout (a server restart or failover), is published again with
// backoff. Its Nats-Msg-Id lets JetStream drop the second copy of one it had
// already stored (within the stream's duplicate window).
//
// Threads: publish() on the client's dispatch thread (it blocks while the
// window is full: the client then stops reading the slot), acknowledgements
// on libnats' thread, tick() and stats() on the bridge's main thread.
#pragma once

#include "confirm_tracker.hpp"
#include "nats_urls.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include <nats/nats.h>

namespace ectowatch::bridge {

using Clock = std::chrono::steady_clock;

struct NatsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The stream exists but does not take the bridge's subjects: retrying cannot help.
struct StreamMismatch : NatsError {
  using NatsError::NatsError;
};

struct PublisherOptions {
  std::string url;           // one or several comma-separated nats:// URLs
  std::string stream;        // created when missing
  std::string subjects;      // the stream's subjects: <prefix>.>
  std::size_t window = 4096; // messages published and not yet acknowledged
  int replicas = 1;
  std::int64_t max_age_seconds = 0; // 0: no limit
  std::int64_t max_bytes = -1;      // -1: no limit
  std::int64_t max_msgs = -1;       // -1: no limit
  std::int64_t duplicate_window_seconds = 120;
  bool shared_stream = false; // publish into a stream that also takes other subjects
  std::chrono::milliseconds ack_timeout{5000};
};

// One message: headers Nats-Msg-Id, Ectowatch-Format, Ectowatch-Op,
// Ectowatch-Label, Ectowatch-Lsn.
struct Outgoing {
  std::string subject;
  std::string msg_id;
  std::string op;
  std::string label;
  std::string lsn_text;
  std::string payload;
  std::uint64_t lsn = 0;          // the tracker's position for it
  std::uint64_t dropped_rows = 0; // a ~dropped marker: the rows it stands for
};

struct PublisherStats {
  std::uint64_t published = 0;    // messages handed to libnats (first time)
  std::uint64_t acked = 0;        // acknowledged by JetStream
  std::uint64_t duplicates = 0;   // of which JetStream already had (same Nats-Msg-Id)
  std::uint64_t retries = 0;      // messages published again
  std::uint64_t dropped_rows = 0; // rows published as ~dropped markers (a marker can stand for several)
  std::size_t in_flight = 0;
  bool connected = false;
  std::string waiting_for; // what keeps messages from being stored ("" while they are)
};

class Publisher {
public:
  Publisher(PublisherOptions options, ConfirmTracker &tracker);
  ~Publisher();
  Publisher(const Publisher &) = delete;
  Publisher &operator=(const Publisher &) = delete;

  // Connects (libnats then reconnects by itself, forever). Throws NatsError.
  void connect();
  // Creates the stream when missing; checks an existing one takes our
  // subjects. Throws NatsError.
  void ensure_stream();

  // Blocks while the window is full. False only after begin_shutdown()'s
  // deadline passed: the message was not published (the tracker knows).
  bool publish(const Outgoing &message);
  // Publishes again what failed or timed out, when its backoff is due.
  void tick();
  // From now on publish() gives up waiting for room at `deadline`.
  void begin_shutdown(Clock::time_point deadline);
  PublisherStats stats() const;
  // Why the connection is closed for good (libnats gave up: no reconnect
  // follows), or nothing while it is up or reconnecting.
  std::optional<std::string> closed_for_good() const;
  const std::string &last_error() const { return last_error_; }

private:
  static void on_ack(jsCtx *, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error, void *closure);
  void acknowledged(natsMsg *msg, bool duplicate);
  void failed(natsMsg *msg, const char *why);
  void check_stream(Clock::time_point now);

  PublisherOptions options_;
  ConfirmTracker &tracker_;
  natsConnection *connection_ = nullptr;
  jsCtx *js_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::size_t low_water() const { return options_.window - std::max<std::size_t>(1, options_.window / 4); }
  std::size_t in_flight_ = 0;         // published and not yet acknowledged, retries included
  bool waiting_ = false;              // publish() waits for room
  std::deque<natsMsg *> retry_;       // owned: to publish again
  Clock::time_point last_progress_{}; // last acknowledgement (or retry round)
  Clock::time_point next_retry_{};
  std::chrono::milliseconds backoff_{100};
  Clock::time_point shutdown_deadline_ = Clock::time_point::max();
  PublisherStats stats_;
  std::string last_error_;
  // While messages wait to be published again: is the stream still there?
  static constexpr std::chrono::seconds kStreamCheckInterval{2};
  std::string waiting_for_;
  Clock::time_point next_stream_check_{};
};

// "16/B374D848" <-> 0x16B374D848, PostgreSQL's text form of an LSN.
std::string format_lsn(std::uint64_t lsn);
std::uint64_t parse_lsn(const char *text);

} // namespace ectowatch::bridge
