// Delivery from NATS JetStream: what `ectowatch bridge` published
// (docs/design.md, "NatsSource"). The filter subjects the subscriptions need:
//   a label with any label or ColumnFilter subscription: <prefix>.<label>.>
//   a label with only Key subscriptions: each key's exact subject, plus
//     <prefix>.<label>.~truncated, ~dropped and ~resync (no event of the
//     label is lost to a Key subscriber), all disjoint, so no message
//     arrives twice.
// On a NATS server 2.10 or newer they are the `filter_subjects` of one push
// consumer for the whole client (nats_consumer_api.hpp), updated as
// subscriptions come and go. Before 2.10 a consumer has one filter: each
// filter subject gets its own consumer ("per subject"). A durable client
// whose per-subject consumers exist (an earlier version, or the server was
// before 2.10) keeps reading through them: switching would lose or repeat
// what they had not acknowledged.
// Durable (Nats::consumer set): the one consumer is named <consumer>; per
// subject, <consumer>-<16 hex digits of the filter's FNV-1a hash>. Created
// with DeliverNew (resync consumer_created, also for a label added to the
// one consumer's filters) and never deleted by the client; explicit acks, sent only after the
// dispatcher finished the message (PositionTracker counts delivered
// messages here, not WAL positions). A consumer whose unacknowledged
// messages the stream no longer holds gets a resync aged_out, at bind and
// while connected (a jump in the stream sequences it is sent, past the
// stream's first sequence). Ephemeral: AckNone, DeliverNew (the one
// consumer: the server deletes it 5 s after its subscription went, as
// libnats deletes the per-subject ones it created); a reconnect is a resync, and what waits for the event loop is
// bounded by max_buffered_bytes (beyond it, dropped: BufferOverflow and a resync, as the inbox does). Every
// health-check interval the stream and each consumer are looked up: a deleted one is a resync consumer_lost and a
// ConnectionError.
//
// libnats delivers on its own threads: the handler queues the message and
// signals an eventfd, which is socket(), so the event-loop contract holds.
// libnats' own reconnect is off: a lost connection goes through the
// runtime's (on_connection, backoff, consumers bound again), so every loss
// is seen the same way as with PostgreSQL.
#pragma once

#include "event_source.hpp"
#include "nats_in_progress.hpp"
#include "position_tracker.hpp"
#include "source_context.hpp"
#include "wakeup.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;
typedef struct __jsCtx jsCtx;

namespace ectowatch::detail {

struct ConsumerState;

// Unacknowledged messages a durable consumer pushes at most: the bound on
// what sits in this client beyond the inbox (the server waits for acks).
inline constexpr std::int64_t kMaxAckPending = 1024;

// Throws UsageError for an option NATS would refuse, saying what to use.
void check_nats(const Nats &nats);

class NatsSource final : public EventSource {
public:
  // `positions`: durable (a consumer name) only.
  NatsSource(SourceContext context, Nats nats, PositionTracker *positions);
  ~NatsSource() override;

  void connect(Batch &out, bool reconnect) override;
  bool is_open() const override { return connection_ != nullptr; }
  void close() override;
  int socket() const override { return connection_ ? inlet_->wakeup.fd() : -1; }
  bool reading_paused() const override;
  void poll(Batch &out) override;
  Clock::time_point next_deadline() const override;
  void label_changed(const std::string &label, Batch &out) override;
  void run_query(const char *what, const std::function<void(PgConnection &)> &query, Batch &out) override;
  void finish() noexcept override;

  // What libnats' threads hand over (shared with the handlers).
  struct Inlet {
    Wakeup wakeup;
    std::mutex mutex;
    bool accepting = false;
    // nullptr: messages were dropped here (`dropped` of them), the buffer was full.
    std::deque<natsMsg *> messages;
    std::size_t bytes = 0;     // payload bytes in `messages`
    std::size_t max_bytes = 0; // ephemeral: beyond it the handler drops what waits (0: no bound)
    std::uint64_t dropped = 0;
    std::string lost;                // why the connection went (empty: it did not)
    std::vector<std::string> errors; // asynchronous errors (slow consumer: libnats dropped messages)
    // libnats callbacks that may still come (each subscription's completion,
    // the connection's closed callback, the last of each): close() waits for
    // them, so no callback finds the Inlet gone.
    int callbacks_to_come = 0;
    std::condition_variable callbacks_done;
  };

private:
  struct Consumer {
    std::string label; // empty: the one consumer (every label)
    natsSubscription *subscription = nullptr;
    std::string name;              // durable, and the one consumer: the consumer's name
    std::uint64_t last_stream = 0; // durable: the highest stream sequence it was sent
    std::string deliver_subject;   // the one consumer: kept when its filters change
    // Durable: what the server sent an earlier connection that never
    // acknowledged it. The server sends it again only after its ack wait
    // (30 s); if the stream's limits remove it first, the server just drops
    // it, and nothing would tell: the health check does (check_owed).
    struct Owed {
      std::uint64_t after = 0;          // the ack floor at bind
      std::uint64_t through = 0;        // the last sequence sent before bind
      std::uint64_t count = 0;          // how many will come again (0: none owed)
      std::set<std::uint64_t> received; // those that came
    } owed;
  };

  bool usable_label(const std::string &label, Batch *out) const;
  std::vector<std::string> filters_for(const std::string &label) const;
  void watch(Consumer &consumer);
  // Per subject.
  void open_consumer(const std::string &filter, const std::string &label, Batch &out);
  void bind_durable(const std::string &filter, const std::string &label, Batch &out, Consumer &consumer);
  // The one consumer (nats_one_consumer.cpp).
  bool per_subject_consumers_exist(Batch &out);
  std::map<std::string, std::string> wanted_filters() const;
  void put_one_consumer(Batch &out);
  void bind_one_consumer(const ConsumerState &state);
  void fall_back_to_per_subject(const std::string &why, Batch &out);
  void drop_consumer(std::map<std::string, Consumer>::iterator consumer);
  void accept(natsMsg *message, Batch &out);
  void check_sequence(natsMsg *message, Batch &out);
  std::uint64_t stream_first_sequence();
  void check_still_there(Batch &out);
  void expect_redelivery(Consumer &consumer, std::uint64_t ack_floor, std::uint64_t delivered, std::uint64_t pending);
  Clock::duration check_interval() const;
  static void check_owed(Consumer &consumer, std::uint64_t first_sequence, Batch &out);
  void acknowledge_dispatched();
  void keep_in_progress(); // the keeper's thread
  std::size_t acknowledgeable() const;

  SourceContext context_;
  const Nats nats_;
  PositionTracker *positions_;
  std::unique_ptr<Inlet> inlet_;
  natsConnection *connection_ = nullptr;
  jsCtx *jetstream_ = nullptr;
  std::map<std::string, Consumer> consumers_; // by filter subject (the one consumer: "")
  bool one_consumer_ = false;                 // this connection uses the one consumer
  // The one consumer is put on the first poll(), with every subscription made
  // before it: filters set one subscribe at a time would leave a durable
  // consumer with the first label's only and skip the others' backlog.
  bool one_consumer_started_ = false;
  std::map<std::string, std::string> one_filters_;     // the one consumer's filter subjects -> their label
  std::map<std::string, std::string> durable_filters_; // consumer name -> filter subject
  // The stream's first sequence, read once per poll() round that needs it (0: not yet).
  std::uint64_t round_first_sequence_ = 0;
  Clock::time_point next_check_; // when check_still_there() runs next
  // Unsubscribed, destroyed in close(): messages of theirs may still be acknowledged.
  std::vector<natsSubscription *> retired_;
  std::uint64_t delivered_ = 0; // durable: messages handed to the inbox (the tracker's positions)
  std::deque<std::pair<std::uint64_t, natsMsg *>> unacknowledged_; // durable, in delivery order
  std::mutex held_mutex_;                    // unacknowledged_ changes, against the keeper's reads
  std::unique_ptr<InProgressKeeper> keeper_; // durable, while connected
  std::vector<RowError> bad_rows_;           // reused
};

} // namespace ectowatch::detail
