#include "nats_source.hpp"

#include "nats_callbacks.hpp"
#include "nats_consumer_api.hpp"
#include "nats_decoder.hpp"
#include "nats_urls.hpp"
#include "subject.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace ectowatch::detail {

void check_nats(const Nats &nats) {
  auto refuse = [](const std::string &why) { return UsageError("Nats: " + why); };
  if (nats.url.empty())
    throw refuse("url is empty: give the NATS server, e.g. nats://127.0.0.1:4222");
  if (nats.stream.empty() || nats.stream.find_first_of(" .*>\t/\\") != std::string::npos)
    throw refuse("stream \"" + nats.stream + "\" is not a stream name (use the bridge's --stream)");
  try {
    bridge::check_prefix(nats.prefix);
  } catch (const std::invalid_argument &error) {
    throw refuse(error.what());
  }
  if (nats.consumer.size() > 64)
    throw refuse("consumer \"" + nats.consumer + "\" is longer than 64 bytes");
  for (unsigned char c : nats.consumer)
    if (!std::isalnum(c) && c != '_' && c != '-')
      throw refuse("consumer \"" + nats.consumer + "\" may only have letters, digits, _ and -");
}

NatsSource::NatsSource(SourceContext context, Nats nats, PositionTracker *positions)
    : context_(context), nats_(std::move(nats)), positions_(positions), inlet_(std::make_unique<Inlet>()) {
  if (positions_)
    positions_->count_positions_only();
}

NatsSource::~NatsSource() { close(); }

// --- connection ----------------------------------------------------------------------

void NatsSource::connect(Batch &out, bool reconnect) {
  natsOptions *options = nullptr;
  check_nats_call(natsOptions_Create(&options), "options");
  std::unique_ptr<natsOptions, void (*)(natsOptions *)> owned(options, natsOptions_Destroy);
  check_nats_call(bridge::set_nats_urls(options, nats_.url), "url");
  check_nats_call(natsOptions_SetName(options, context_.options.application_name.c_str()), "name");
  check_nats_call(natsOptions_SetAllowReconnect(options, false), "reconnect");
  check_nats_call(natsOptions_SetTimeout(options, context_.options.connect_timeout_seconds * 1000), "timeout");
  // A silent server is found out like a silent PostgreSQL: within two health checks.
  check_nats_call(natsOptions_SetPingInterval(options, context_.options.health_check_interval.count()), "ping");
  check_nats_call(natsOptions_SetMaxPingsOut(options, 2), "ping");
  check_nats_call(natsOptions_SetDisconnectedCB(options, on_nats_lost, inlet_.get()), "callback");
  check_nats_call(natsOptions_SetClosedCB(options, on_nats_closed, inlet_.get()), "callback");
  check_nats_call(natsOptions_SetErrorHandler(options, on_nats_error, inlet_.get()), "callback");
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->lost.clear();
    inlet_->errors.clear();
    inlet_->accepting = true;
    // A durable consumer is bounded by MaxAckPending (and pauses); an ephemeral one would not be.
    inlet_->max_bytes = positions_ ? 0 : context_.options.max_buffered_bytes;
  }
  round_first_sequence_ = 0;
  next_check_ = Clock::now() + context_.options.health_check_interval;
  if (positions_)
    keeper_ = std::make_unique<InProgressKeeper>([this] { keep_in_progress(); });
  try {
    natsStatus connected = natsConnection_Connect(&connection_, options);
    if (connected == NATS_OK) {
      std::lock_guard lock(inlet_->mutex);
      ++inlet_->callbacks_to_come; // its closed callback
    }
    check_nats_call(connected, ("connect to " + nats_.url).c_str());
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = context_.options.connect_timeout_seconds * 1000;
    check_nats_call(natsConnection_JetStream(&jetstream_, connection_, &js_options), "JetStream");
    jsStreamInfo *info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&info, jetstream_, nats_.stream.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSStreamNotFoundErr)
      throw ConnectionError("NATS: stream \"" + nats_.stream + "\" does not exist: start `ectowatch bridge --stream " +
                            nats_.stream + "` first (it creates the stream)");
    check_nats_call(status, "stream info");
    jsStreamInfo_Destroy(info);
    // Decided by the server's version first: one before 2.10 would make a
    // consumer with filter_subjects unfiltered.
    one_consumer_ = server_has_filter_subjects(connection_) && !(positions_ && per_subject_consumers_exist(out));
    one_consumer_started_ = false;
    if (one_consumer_) {
      for (const std::string &label : context_.registry.labels())
        usable_label(label, &out); // the consumer itself comes with the first poll()
    } else {
      for (const std::string &label : context_.registry.labels())
        for (const std::string &filter : filters_for(label))
          open_consumer(filter, label, out);
    }
  } catch (...) {
    close();
    throw;
  }
  if (reconnect && !positions_)
    out.emplace_back(Resync{Resync::Reason::reconnected, {}});
}

void NatsSource::close() {
  keeper_.reset();
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->accepting = false;
    for (natsMsg *message : inlet_->messages)
      natsMsg_Destroy(message); // nullptr (a drop mark) too
    inlet_->messages.clear();
    inlet_->bytes = 0;
    inlet_->dropped = 0;
  }
  // Not acknowledged: the server delivers them again (after the ack wait).
  for (auto &[position, message] : unacknowledged_)
    natsMsg_Destroy(message);
  unacknowledged_.clear();
  if (connection_)
    natsConnection_Close(connection_);
  for (auto &[filter, consumer] : consumers_)
    natsSubscription_Destroy(consumer.subscription);
  consumers_.clear();
  one_filters_.clear();
  durable_filters_.clear();
  for (natsSubscription *subscription : retired_)
    natsSubscription_Destroy(subscription);
  retired_.clear();
  if (jetstream_)
    jsCtx_Destroy(jetstream_);
  jetstream_ = nullptr;
  if (connection_)
    natsConnection_Destroy(connection_);
  connection_ = nullptr;
  // libnats calls back from its own threads: wait for the last callbacks.
  std::unique_lock lock(inlet_->mutex);
  inlet_->callbacks_done.wait_for(lock, std::chrono::seconds(10), [&] { return inlet_->callbacks_to_come <= 0; });
}

// --- reading -------------------------------------------------------------------------

bool NatsSource::reading_paused() const {
  return positions_ && context_.inbox.bytes() >= context_.options.max_buffered_bytes;
}

void NatsSource::poll(Batch &out) {
  inlet_->wakeup.drain();
  if (one_consumer_ && !one_consumer_started_) {
    one_consumer_started_ = true;
    put_one_consumer(out);
  }
  acknowledge_dispatched();
  round_first_sequence_ = 0;
  std::deque<natsMsg *> arrived;
  std::string lost;
  std::vector<std::string> errors;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(inlet_->mutex);
    lost = inlet_->lost;
    errors.swap(inlet_->errors);
    if (!reading_paused()) {
      arrived.swap(inlet_->messages);
      inlet_->bytes = 0;
      dropped = inlet_->dropped;
      inlet_->dropped = 0;
    }
  }
  try {
    while (!arrived.empty()) {
      natsMsg *message = arrived.front();
      if (!message) {
        // The event loop fell behind by max_buffered_bytes: what waited was dropped.
        out.emplace_back(ErrorItem{
            std::make_exception_ptr(BufferOverflow("NATS: callbacks fell behind: dropped " + std::to_string(dropped) +
                                                       " message(s) waiting for the event loop; a resync follows",
                                                   dropped, dropped))}); // a row per message
        out.emplace_back(Resync{Resync::Reason::overflow, {}});
      } else if (positions_) {
        check_sequence(message, out);
      }
      arrived.pop_front();
      if (message)
        accept(message, out);
    }
  } catch (...) {
    for (natsMsg *message : arrived)
      natsMsg_Destroy(message); // not acknowledged: delivered again after the reconnect
    throw;
  }
  for (const std::string &error : errors) {
    out.emplace_back(ErrorItem{std::make_exception_ptr(
        BufferOverflow("NATS: " + error + ": libnats dropped messages" +
                           (positions_ ? " (the server delivers them again after the ack wait)" : "; a resync follows"),
                       0, 0))});
    if (!positions_)
      out.emplace_back(Resync{Resync::Reason::overflow, {}});
  }
  if (!lost.empty())
    throw ConnectionError("NATS: " + lost);
  if (Clock::now() >= next_check_) {
    check_still_there(out);
    next_check_ = Clock::now() + check_interval();
  }
}

// While a consumer is owed messages, they may be removed at any moment
// before the ack wait: looked for every second, not every health check.
constexpr std::chrono::seconds kOwedCheckInterval{1};

Clock::duration NatsSource::check_interval() const {
  Clock::duration interval = context_.options.health_check_interval;
  for (const auto &[filter, consumer] : consumers_)
    if (consumer.owed.count)
      return std::min<Clock::duration>(interval, kOwedCheckInterval);
  return interval;
}

std::uint64_t NatsSource::stream_first_sequence() {
  if (round_first_sequence_ == 0) {
    jsStreamInfo *stream = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&stream, jetstream_, nats_.stream.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSStreamNotFoundErr)
      throw ConnectionError("NATS: the stream \"" + nats_.stream + "\" is gone (deleted?)");
    check_nats_call(status, "stream info");
    round_first_sequence_ = std::max<std::uint64_t>(stream->State.FirstSeq, 1);
    jsStreamInfo_Destroy(stream);
  }
  return round_first_sequence_;
}

// A durable consumer is sent its filter's messages in stream order, so a
// jump in the stream sequence is either messages of other subjects or ones
// the stream's limits removed before the consumer was sent them (limits take
// the oldest first). The stream's first sequence, read after the message
// arrived, tells: past the jump's start, they may have been removed. As at
// bind, conservative: other subjects' messages removed after the consumer
// passed them look the same, a resync too many rather than a silent gap.
void NatsSource::check_sequence(natsMsg *message, Batch &out) {
  jsMsgMetaData *meta = nullptr;
  if (natsMsg_GetMetaData(&meta, message) != NATS_OK)
    return;
  std::unique_ptr<jsMsgMetaData, void (*)(jsMsgMetaData *)> owned(meta, jsMsgMetaData_Destroy);
  auto named = durable_filters_.find(meta->Consumer ? meta->Consumer : "");
  if (named == durable_filters_.end())
    return; // a consumer unsubscribed since
  Consumer &consumer = consumers_.at(named->second);
  std::uint64_t sequence = meta->Sequence.Stream;
  if (sequence <= consumer.last_stream) { // a redelivery
    Consumer::Owed &owed = consumer.owed;
    if (owed.count && sequence > owed.after && sequence <= owed.through) {
      owed.received.insert(sequence);
      if (owed.received.size() >= owed.count)
        owed = {}; // all came
    }
    return;
  }
  std::uint64_t after = consumer.last_stream;
  consumer.last_stream = sequence;
  if (sequence > after + 1 && stream_first_sequence() > after + 1)
    out.emplace_back(Resync{Resync::Reason::aged_out, consumer.label});
}

void NatsSource::expect_redelivery(Consumer &consumer, std::uint64_t ack_floor, std::uint64_t delivered,
                                   std::uint64_t pending) {
  consumer.owed = {};
  if (pending > 0 && delivered > ack_floor) {
    consumer.owed = {ack_floor, delivered, pending, {}};
    // Not check_interval(): the consumer may not be in consumers_ yet.
    next_check_ = std::min(next_check_, Clock::now() + kOwedCheckInterval);
  }
}

// The stream's first sequence past the ack floor at bind: the oldest owed
// message may be gone. Conservative, as at bind: a message of another
// subject, or one acknowledged out of order, looks the same.
void NatsSource::check_owed(Consumer &consumer, std::uint64_t first_sequence, Batch &out) {
  Consumer::Owed &owed = consumer.owed;
  if (!owed.count || first_sequence <= owed.after + 1)
    return;
  out.emplace_back(Resync{Resync::Reason::aged_out, consumer.label});
  owed = {}; // told
}

// A deleted stream or consumer sends nothing, and libnats does not notice:
// look them up every health-check interval.
void NatsSource::check_still_there(Batch &out) {
  auto gone = [&](const std::string &what, const std::string &label) {
    out.emplace_back(Resync{Resync::Reason::consumer_lost, label});
    return ConnectionError("NATS: " + what +
                           " was deleted: its messages are lost to this client (reconnecting; a durable consumer "
                           "is created again once the stream exists)");
  };
  jsStreamInfo *stream = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&stream, jetstream_, nats_.stream.c_str(), nullptr, &code);
  if (status == NATS_NOT_FOUND || code == JSStreamNotFoundErr)
    throw gone("the stream \"" + nats_.stream + "\"", {});
  check_nats_call(status, "stream info");
  std::uint64_t first = stream->State.FirstSeq;
  jsStreamInfo_Destroy(stream);
  if (!positions_)
    return; // an ephemeral consumer goes with the stream, or with the connection
  for (auto &[filter, consumer] : consumers_)
    check_owed(consumer, first, out);
  for (const auto &[filter, consumer] : consumers_) {
    jsConsumerInfo *info = nullptr;
    code = static_cast<jsErrCode>(0);
    status = js_GetConsumerInfo(&info, jetstream_, nats_.stream.c_str(), consumer.name.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr)
      throw gone("the consumer \"" + consumer.name + "\" of " + (filter.empty() ? "every subject read" : filter),
                 consumer.label);
    check_nats_call(status, ("consumer info of " + consumer.name).c_str());
    jsConsumerInfo_Destroy(info);
  }
}

void NatsSource::accept(natsMsg *message, Batch &out) {
  const char *data = natsMsg_GetData(message);
  std::string_view payload(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(message)));
  context_.stats.message_read(payload.size());
  const char *op = nullptr;
  if (natsMsgHeader_Get(message, "Ectowatch-Op", &op) != NATS_OK)
    op = nullptr;
  try {
    decode_nats_message(nats_.prefix, natsMsg_GetSubject(message), payload, op ? op : "", out, bad_rows_);
    queue_bad_rows(bad_rows_, out);
  } catch (const ProtocolError &) {
    bad_rows_.clear();
    out.emplace_back(ErrorItem{std::current_exception()});
  }
  if (!positions_) {
    natsMsg_Destroy(message);
    return;
  }
  // Acknowledged once the dispatcher is past this position (after its callbacks).
  out.emplace_back(Position{++delivered_, true});
  std::lock_guard lock(held_mutex_);
  unacknowledged_.emplace_back(delivered_, message);
}

std::size_t NatsSource::acknowledgeable() const {
  if (!positions_)
    return 0;
  std::uint64_t done = positions_->confirmable(); // dispatched, and not held by the loader
  std::size_t count = 0;
  for (const auto &[position, message] : unacknowledged_) {
    if (position > done)
      break;
    ++count;
  }
  return count;
}

void NatsSource::acknowledge_dispatched() {
  std::size_t count = acknowledgeable();
  if (count == 0)
    return;
  std::lock_guard lock(held_mutex_);
  for (; count > 0; --count) {
    natsMsg *message = unacknowledged_.front().second;
    natsMsg_Ack(message, nullptr);
    natsMsg_Destroy(message);
    unacknowledged_.pop_front();
  }
}

// What is held, in the inbox, in a callback or waiting for the event loop,
// is not sent again while the callbacks take their time.
void NatsSource::keep_in_progress() {
  {
    std::lock_guard lock(held_mutex_);
    for (const auto &[position, message] : unacknowledged_)
      natsMsg_InProgress(message, nullptr);
  }
  std::lock_guard lock(inlet_->mutex);
  for (natsMsg *message : inlet_->messages)
    if (message)
      natsMsg_InProgress(message, nullptr);
}

Clock::time_point NatsSource::next_deadline() const {
  if (!connection_)
    return Clock::time_point::max();
  if (one_consumer_ && !one_consumer_started_)
    return Clock::now(); // the first poll puts the one consumer
  return acknowledgeable() > 0 ? Clock::now() : next_check_;
}

void NatsSource::run_query(const char *what, const std::function<void(PgConnection &)> &, Batch &) {
  throw UsageError(std::string(what) +
                   ": a client reading NATS has no PostgreSQL connection; use a Client on the database for it");
}

// Acknowledges what the callbacks finished, and hands the rest back to the
// server at once (Nak) so the next consumer gets it without the ack wait.
void NatsSource::finish() noexcept {
  if (!connection_)
    return;
  keeper_.reset();
  acknowledge_dispatched();
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->accepting = false;
    for (natsMsg *message : inlet_->messages)
      if (message)
        unacknowledged_.emplace_back(0, message);
    inlet_->messages.clear();
    inlet_->bytes = 0;
  }
  for (auto &[position, message] : unacknowledged_) {
    if (positions_)
      natsMsg_Nak(message, nullptr);
    natsMsg_Destroy(message);
  }
  unacknowledged_.clear();
  natsConnection_FlushTimeout(connection_, 2000);
  close();
}

} // namespace ectowatch::detail
