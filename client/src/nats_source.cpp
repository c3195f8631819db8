#include "nats_source.hpp"

#include "nats_callbacks.hpp"
#include "nats_decoder.hpp"
#include "nats_urls.hpp"
#include "subject.hpp"

#include <nats/nats.h>

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
  }
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
