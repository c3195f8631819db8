#include "nats_source.hpp"

#include "nats_decoder.hpp"
#include "nats_urls.hpp"
#include "subject.hpp"

#include <nats/nats.h>

#include <cstdio>
#include <stdexcept>

namespace ectowatch::detail {

namespace {

// Unacknowledged messages a durable consumer pushes at most: the bound on
// what sits in this client beyond the inbox (the server waits for acks).
constexpr std::int64_t kMaxAckPending = 1024;

std::string nats_text(const char *what, natsStatus status) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(status);
  const char *last = nats_GetLastError(nullptr);
  if (last && *last)
    text += std::string(" (") + last + ")";
  return text;
}

void check(natsStatus status, const char *what) {
  if (status != NATS_OK)
    throw ConnectionError("NATS: " + nats_text(what, status));
}

// Stable across processes and builds (std::hash is not): the durable name of a filter.
std::string filter_hash(const std::string &filter) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char byte : filter) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// The Key's values from its canonical form ("<size>:<text>" each).
std::vector<std::string> key_texts(const std::string &canonical) {
  std::vector<std::string> texts;
  for (std::size_t at = 0; at < canonical.size();) {
    std::size_t colon = canonical.find(':', at);
    std::size_t size = std::stoul(canonical.substr(at, colon - at));
    texts.push_back(canonical.substr(colon + 1, size));
    at = colon + 1 + size;
  }
  return texts;
}

// --- libnats' threads -------------------------------------------------------------

void on_message(natsConnection *, natsSubscription *, natsMsg *message, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    if (inlet->accepting) {
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

void on_subscription_complete(void *closure) { callback_done(static_cast<NatsSource::Inlet *>(closure)); }

void on_lost(natsConnection *, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    if (inlet->lost.empty())
      inlet->lost = "the connection to NATS was lost";
  }
  inlet->wakeup.notify();
}

void on_closed(natsConnection *connection, void *closure) {
  on_lost(connection, closure);
  callback_done(static_cast<NatsSource::Inlet *>(closure));
}

void on_error(natsConnection *, natsSubscription *, natsStatus status, void *closure) {
  auto *inlet = static_cast<NatsSource::Inlet *>(closure);
  {
    std::lock_guard lock(inlet->mutex);
    inlet->errors.push_back(natsStatus_GetText(status));
  }
  inlet->wakeup.notify();
}

} // namespace

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
  check(natsOptions_Create(&options), "options");
  std::unique_ptr<natsOptions, void (*)(natsOptions *)> owned(options, natsOptions_Destroy);
  check(bridge::set_nats_urls(options, nats_.url), "url");
  check(natsOptions_SetName(options, context_.options.application_name.c_str()), "name");
  check(natsOptions_SetAllowReconnect(options, false), "reconnect");
  check(natsOptions_SetTimeout(options, context_.options.connect_timeout_seconds * 1000), "timeout");
  // A silent server is found out like a silent PostgreSQL: within two health checks.
  check(natsOptions_SetPingInterval(options, context_.options.health_check_interval.count()), "ping");
  check(natsOptions_SetMaxPingsOut(options, 2), "ping");
  check(natsOptions_SetDisconnectedCB(options, on_lost, inlet_.get()), "callback");
  check(natsOptions_SetClosedCB(options, on_closed, inlet_.get()), "callback");
  check(natsOptions_SetErrorHandler(options, on_error, inlet_.get()), "callback");
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->lost.clear();
    inlet_->errors.clear();
    inlet_->accepting = true;
  }
  try {
    natsStatus connected = natsConnection_Connect(&connection_, options);
    if (connected == NATS_OK) {
      std::lock_guard lock(inlet_->mutex);
      ++inlet_->callbacks_to_come; // its closed callback
    }
    check(connected, ("connect to " + nats_.url).c_str());
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = context_.options.connect_timeout_seconds * 1000;
    check(natsConnection_JetStream(&jetstream_, connection_, &js_options), "JetStream");
    jsStreamInfo *info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&info, jetstream_, nats_.stream.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSStreamNotFoundErr)
      throw ConnectionError("NATS: stream \"" + nats_.stream + "\" does not exist: start `ectowatch bridge --stream " +
                            nats_.stream + "` first (it creates the stream)");
    check(status, "stream info");
    jsStreamInfo_Destroy(info);
    for (const std::string &label : context_.registry.labels())
      for (const std::string &filter : filters_for(label))
        open_consumer(filter, label, out);
  } catch (...) {
    close();
    throw;
  }
  if (reconnect && !positions_)
    out.emplace_back(Resync{Resync::Reason::reconnected, {}});
}

void NatsSource::close() {
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->accepting = false;
    for (natsMsg *message : inlet_->messages)
      natsMsg_Destroy(message);
    inlet_->messages.clear();
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

// --- consumers -----------------------------------------------------------------------

std::vector<std::string> NatsSource::filters_for(const std::string &label) const {
  std::vector<std::string> filters;
  auto subscriptions = context_.registry.all_of(label);
  if (subscriptions.empty())
    return filters;
  std::string base = nats_.prefix + "." + label + ".";
  bool keys_only = true;
  for (const SubscriptionPtr &subscription : subscriptions)
    if (subscription->kind != Subscription::State::Kind::key)
      keys_only = false;
  if (!keys_only)
    return {base + ">"};
  for (const SubscriptionPtr &subscription : subscriptions) {
    std::string subject = base;
    bool first = true;
    for (const std::string &text : key_texts(subscription->key)) {
      if (!first)
        subject += '.';
      first = false;
      bridge::append_token(subject, text);
    }
    filters.push_back(std::move(subject));
  }
  for (std::string_view marker : {bridge::kTruncatedToken, bridge::kDroppedToken, bridge::kResyncToken})
    filters.push_back(base + std::string(marker));
  return filters;
}

void NatsSource::open_consumer(const std::string &filter, const std::string &label, Batch &out) {
  if (consumers_.count(filter))
    return; // two Key subscriptions of one key
  try {
    bridge::check_label(label);
  } catch (const std::invalid_argument &error) {
    out.emplace_back(ErrorItem{std::make_exception_ptr(UsageError(std::string("subscribe: ") + error.what()))});
    return;
  }
  natsSubscription *subscription = nullptr;
  if (positions_) {
    bind_durable(filter, label, out, &subscription);
  } else {
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = nats_.stream.c_str();
    options.ManualAck = true;
    options.Config.DeliverPolicy = js_DeliverNew;
    options.Config.AckPolicy = js_AckNone;
    jsErrCode code = static_cast<jsErrCode>(0);
    check(js_Subscribe(&subscription, jetstream_, filter.c_str(), on_message, inlet_.get(), nullptr, &options, &code),
          ("subscribe to " + filter).c_str());
  }
  // The handler only queues: libnats' own limits never drop for a durable
  // consumer (MaxAckPending bounds it); an ephemeral one is told (on_error).
  natsSubscription_SetPendingLimits(subscription, -1, -1);
  if (natsSubscription_SetOnCompleteCB(subscription, on_subscription_complete, inlet_.get()) == NATS_OK) {
    std::lock_guard lock(inlet_->mutex);
    ++inlet_->callbacks_to_come;
  }
  consumers_[filter] = Consumer{label, subscription};
}

// Creates the durable consumer of `filter` when missing (a resync: nothing
// before it is delivered), checks that the stream still holds what it has
// not acknowledged, and binds to it.
void NatsSource::bind_durable(const std::string &filter, const std::string &label, Batch &out,
                              natsSubscription **subscription) {
  std::string name = nats_.consumer + "-" + filter_hash(filter);
  jsConsumerInfo *info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetConsumerInfo(&info, jetstream_, nats_.stream.c_str(), name.c_str(), nullptr, &code);
  if (status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) {
    natsInbox *inbox = nullptr;
    check(natsInbox_Create(&inbox), "inbox");
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = name.c_str();
    config.Description = filter.c_str();
    config.DeliverSubject = inbox;
    config.DeliverPolicy = js_DeliverNew;
    config.AckPolicy = js_AckExplicit;
    config.FilterSubject = filter.c_str();
    config.MaxAckPending = kMaxAckPending;
    status = js_AddConsumer(&info, jetstream_, nats_.stream.c_str(), &config, nullptr, &code);
    natsInbox_Destroy(inbox);
    check(status, ("create consumer " + name).c_str());
    jsConsumerInfo_Destroy(info);
    out.emplace_back(Resync{Resync::Reason::consumer_created, label});
  } else {
    check(status, ("consumer info of " + name).c_str());
    std::uint64_t needed = info->AckFloor.Stream + 1;
    jsConsumerInfo_Destroy(info);
    jsStreamInfo *stream = nullptr;
    check(js_GetStreamInfo(&stream, jetstream_, nats_.stream.c_str(), nullptr, &code), "stream info");
    std::uint64_t first = stream->State.FirstSeq;
    jsStreamInfo_Destroy(stream);
    // Conservative: messages of other subjects aged out look the same.
    if (first > needed)
      out.emplace_back(Resync{Resync::Reason::aged_out, label});
  }
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = nats_.stream.c_str();
  options.Consumer = name.c_str(); // bound, not created: unsubscribing never deletes it
  options.ManualAck = true;
  status = js_Subscribe(subscription, jetstream_, filter.c_str(), on_message, inlet_.get(), nullptr, &options, &code);
  check(status, ("bind to consumer " + name + " (is another client using it?)").c_str());
}

void NatsSource::drop_consumer(std::map<std::string, Consumer>::iterator consumer) {
  // Ephemeral consumers go with their subscription; durable ones stay (bound only).
  natsSubscription_Unsubscribe(consumer->second.subscription);
  retired_.push_back(consumer->second.subscription);
  consumers_.erase(consumer);
}

void NatsSource::label_changed(const std::string &label, Batch &out) {
  if (!connection_)
    return;
  auto wanted = filters_for(label);
  for (auto it = consumers_.begin(); it != consumers_.end();) {
    auto next = std::next(it);
    if (it->second.label == label && std::find(wanted.begin(), wanted.end(), it->first) == wanted.end())
      drop_consumer(it);
    it = next;
  }
  for (const std::string &filter : wanted)
    open_consumer(filter, label, out);
}

// --- reading -------------------------------------------------------------------------

bool NatsSource::reading_paused() const {
  return positions_ && context_.inbox.bytes() >= context_.options.max_buffered_bytes;
}

void NatsSource::poll(Batch &out) {
  inlet_->wakeup.drain();
  acknowledge_dispatched();
  std::deque<natsMsg *> arrived;
  std::string lost;
  std::vector<std::string> errors;
  {
    std::lock_guard lock(inlet_->mutex);
    lost = inlet_->lost;
    errors.swap(inlet_->errors);
    if (!reading_paused())
      arrived.swap(inlet_->messages);
  }
  for (natsMsg *message : arrived)
    accept(message, out);
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
}

void NatsSource::accept(natsMsg *message, Batch &out) {
  const char *data = natsMsg_GetData(message);
  std::string_view payload(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(message)));
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
  unacknowledged_.emplace_back(delivered_, message);
}

std::size_t NatsSource::acknowledgeable() const {
  if (!positions_)
    return 0;
  std::uint64_t done = positions_->dispatched();
  std::size_t count = 0;
  for (const auto &[position, message] : unacknowledged_) {
    if (position > done)
      break;
    ++count;
  }
  return count;
}

void NatsSource::acknowledge_dispatched() {
  for (std::size_t count = acknowledgeable(); count > 0; --count) {
    natsMsg *message = unacknowledged_.front().second;
    natsMsg_Ack(message, nullptr);
    natsMsg_Destroy(message);
    unacknowledged_.pop_front();
  }
}

Clock::time_point NatsSource::next_deadline() const {
  if (!connection_)
    return Clock::time_point::max();
  return acknowledgeable() > 0 ? Clock::now() : Clock::time_point::max();
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
  acknowledge_dispatched();
  {
    std::lock_guard lock(inlet_->mutex);
    inlet_->accepting = false;
    for (natsMsg *message : inlet_->messages)
      unacknowledged_.emplace_back(0, message);
    inlet_->messages.clear();
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
