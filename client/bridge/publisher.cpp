#include "publisher.hpp"

#include "subject.hpp"

#include <ectowatch/protocol.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace ectowatch::bridge {

namespace {

// The Ectowatch-Format header's text (docs/protocol.md).
const std::string kFormatHeader = std::to_string(kSubjectFormat);

constexpr std::chrono::milliseconds kBackoffInitial{100};
constexpr std::chrono::milliseconds kBackoffMax{5000};

std::string nats_error(const char *what, natsStatus status) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char *detail = nats_GetLastError(&last);
  if (detail && *detail && std::strcmp(detail, natsStatus_GetText(status)) != 0)
    text += std::string(" (") + detail + ")";
  return text;
}

const char *header(natsMsg *msg, const char *key) {
  const char *value = nullptr;
  return natsMsgHeader_Get(msg, key, &value) == NATS_OK && value ? value : "";
}

// Set once the bridge stops on purpose: closing the connection then also
// calls the disconnected callback, which must not report a loss. Not a
// member: libnats may run a callback after the Publisher is gone.
std::atomic<bool> closing_on_purpose{false};

void log_disconnected(natsConnection *, void *) {
  if (!closing_on_purpose)
    std::fprintf(stderr, "ectowatch bridge: NATS disconnected, reconnecting\n");
}
void log_reconnected(natsConnection *, void *) { std::fprintf(stderr, "ectowatch bridge: NATS reconnected\n"); }

} // namespace

// PostgreSQL's text form, defined once in the protocol header (no sscanf
// and printf per acknowledgement: docs/performance.md, section 6).
std::string format_lsn(std::uint64_t lsn) {
  char text[protocol::kLsnTextSize];
  protocol::format_lsn(lsn, text);
  return text;
}

std::uint64_t parse_lsn(const char *text) { return protocol::parse_lsn(text); }

Publisher::Publisher(PublisherOptions options, ConfirmTracker &tracker)
    : options_(std::move(options)), tracker_(tracker) {}

Publisher::~Publisher() {
  jsCtx_Destroy(js_);
  if (connection_) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
  for (natsMsg *msg : retry_)
    natsMsg_Destroy(msg);
}

void Publisher::connect() {
  natsOptions *nats_options = nullptr;
  natsStatus status = natsOptions_Create(&nats_options);
  if (status == NATS_OK)
    status = set_nats_urls(nats_options, options_.url);
  if (status == NATS_OK)
    status = natsOptions_SetName(nats_options, "ectowatch bridge");
  if (status == NATS_OK) // libnats reconnects forever; unacknowledged messages are ours to publish again
    status = natsOptions_SetMaxReconnect(nats_options, -1);
  if (status == NATS_OK)
    status = natsOptions_SetReconnectWait(nats_options, 100);
  if (status == NATS_OK) // publishes while reconnecting are kept here: a full window fits many times
    status = natsOptions_SetReconnectBufSize(nats_options, 64 << 20);
  if (status == NATS_OK)
    status = natsOptions_SetTimeout(nats_options, 2000);
  if (status == NATS_OK)
    status = natsOptions_SetDisconnectedCB(nats_options, log_disconnected, nullptr);
  if (status == NATS_OK)
    status = natsOptions_SetReconnectedCB(nats_options, log_reconnected, nullptr);
  if (status == NATS_OK)
    status = natsConnection_Connect(&connection_, nats_options);
  natsOptions_Destroy(nats_options);
  if (status != NATS_OK)
    throw NatsError(nats_error(("cannot connect to NATS at " + options_.url).c_str(), status));

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = 5000; // API requests (stream info, creation)
  // libnats' own limit stays above ours, so it never stalls publish() itself.
  js_options.PublishAsync.MaxPending = static_cast<int64_t>(options_.window) * 2 + 16;
  js_options.PublishAsync.AckHandler = on_ack;
  js_options.PublishAsync.AckHandlerClosure = this;
  status = natsConnection_JetStream(&js_, connection_, &js_options);
  if (status != NATS_OK)
    throw NatsError(nats_error("cannot use JetStream", status));
}

void Publisher::ensure_stream() {
  jsStreamInfo *info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  if (status == NATS_OK) {
    bool covered = false;
    std::string others;
    for (int i = 0; i < info->Config->SubjectsLen; ++i) {
      if (options_.subjects == info->Config->Subjects[i])
        covered = true;
      else
        others += std::string(others.empty() ? "" : ", ") + info->Config->Subjects[i];
    }
    jsStreamInfo_Destroy(info);
    if (!covered)
      throw StreamMismatch("stream " + options_.stream + " exists but does not take the subjects " + options_.subjects +
                           ": add them to it (nats stream edit) or pass --stream/--prefix of a stream that does");
    // Another source's messages would share this stream's limits (one
    // source's burst ages the other's rows out) and its duplicate window.
    if (!others.empty() && !options_.shared_stream)
      throw StreamMismatch("stream " + options_.stream + " also takes " + others +
                           " (another bridge's prefix?): give this bridge a stream of its own (--stream), or pass "
                           "--shared-stream if sharing its limits is intended");
    return;
  }
  if (status != NATS_NOT_FOUND && code != JSStreamNotFoundErr)
    throw NatsError(nats_error(("cannot look up stream " + options_.stream).c_str(), status));

  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char *subjects[] = {options_.subjects.c_str()};
  config.Name = options_.stream.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = options_.replicas;
  config.Duplicates = options_.duplicate_window_seconds * 1'000'000'000LL;
  config.MaxAge = options_.max_age_seconds * 1'000'000'000LL;
  config.MaxBytes = options_.max_bytes;
  config.MaxMsgs = options_.max_msgs;
  status = js_AddStream(&info, js_, &config, nullptr, &code);
  if (status != NATS_OK)
    throw NatsError(nats_error(("cannot create stream " + options_.stream).c_str(), status));
  jsStreamInfo_Destroy(info);
  std::fprintf(stderr, "ectowatch bridge: created stream %s (subjects %s)\n", options_.stream.c_str(),
               options_.subjects.c_str());
}

bool Publisher::publish(const Outgoing &message) {
  natsMsg *msg = nullptr;
  natsStatus status = natsMsg_Create(&msg, message.subject.c_str(), nullptr, message.payload.data(),
                                     static_cast<int>(message.payload.size()));
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Nats-Msg-Id", message.msg_id.c_str());
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Ectowatch-Format", kFormatHeader.c_str());
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Ectowatch-Op", message.op.c_str());
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Ectowatch-Label", message.label.c_str());
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Ectowatch-Lsn", message.lsn_text.c_str());
  if (status != NATS_OK) {
    natsMsg_Destroy(msg);
    throw NatsError(nats_error("cannot build a NATS message", status));
  }
  {
    std::unique_lock lock(mutex_);
    if (in_flight_ >= options_.window) {
      // Full: wait until a quarter of the window is free, so the
      // acknowledgements wake this thread once per batch, not once each.
      waiting_ = true;
      while (in_flight_ > low_water()) {
        if (Clock::now() >= shutdown_deadline_) {
          waiting_ = false;
          lock.unlock();
          natsMsg_Destroy(msg);
          tracker_.abandon(message.lsn);
          return false;
        }
        room_.wait_for(lock, std::chrono::milliseconds(100));
      }
      waiting_ = false;
    }
    if (in_flight_++ == 0)
      last_progress_ = Clock::now(); // the ack timeout counts from the first message waiting
    ++stats_.published;
    stats_.dropped_rows += message.dropped_rows;
  }
  tracker_.add(message.lsn); // before it can be acknowledged
  status = js_PublishMsgAsync(js_, &msg, nullptr);
  if (status != NATS_OK && msg) // not taken (e.g. the reconnect buffer is full): ours to publish again
    failed(msg, natsStatus_GetText(status));
  return true;
}

void Publisher::on_ack(jsCtx *, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error, void *closure) {
  auto *self = static_cast<Publisher *>(closure);
  if (ack)
    self->acknowledged(msg, ack->Duplicate);
  else
    self->failed(msg, error && error->ErrText ? error->ErrText : natsStatus_GetText(error ? error->Err : NATS_ERR));
}

void Publisher::acknowledged(natsMsg *msg, bool duplicate) {
  tracker_.acked(parse_lsn(header(msg, "Ectowatch-Lsn")));
  natsMsg_Destroy(msg);
  bool wake;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    ++stats_.acked;
    if (duplicate)
      ++stats_.duplicates;
    last_progress_ = Clock::now();
    backoff_ = kBackoffInitial;
    wake = waiting_ && in_flight_ <= low_water();
  }
  if (wake)
    room_.notify_all();
}

void Publisher::failed(natsMsg *msg, const char *why) {
  std::lock_guard lock(mutex_);
  retry_.push_back(msg);
  if (last_error_ != why)
    std::fprintf(stderr, "ectowatch bridge: JetStream did not take a message (%s): publishing it again\n", why);
  last_error_ = why;
}

// Looks the stream up (at most every 2 s while messages wait to be published
// again: JetStream answers a deleted stream's subjects with "no responders")
// and says once when it is gone and once when it is back. The bridge does
// not create it again: whoever deleted it may have meant it, and the rows
// stay unconfirmed in the slot until it exists (docs/protocol.md).
void Publisher::check_stream(Clock::time_point now) {
  {
    std::lock_guard lock(mutex_);
    if (now < next_stream_check_ || (retry_.empty() && waiting_for_.empty()))
      return;
    next_stream_check_ = now + kStreamCheckInterval;
  }
  if (natsConnection_Status(connection_) != NATS_CONN_STATUS_CONNECTED)
    return;
  jsStreamInfo *info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  jsStreamInfo_Destroy(info);
  bool missing = status == NATS_NOT_FOUND || code == JSStreamNotFoundErr;
  if (status != NATS_OK && !missing)
    return; // no answer: nothing new to tell
  std::lock_guard lock(mutex_);
  if (missing && waiting_for_.empty()) {
    waiting_for_ = "stream " + options_.stream + " missing";
    std::fprintf(stderr,
                 "ectowatch bridge: stream %s no longer exists (deleted?): waiting for it to be created again "
                 "(nats stream add, or restart the bridge, which creates it); nothing is confirmed meanwhile\n",
                 options_.stream.c_str());
  } else if (!missing && !waiting_for_.empty()) {
    waiting_for_.clear();
    std::fprintf(stderr, "ectowatch bridge: stream %s exists again: publishing\n", options_.stream.c_str());
  }
}

void Publisher::tick() {
  check_stream(Clock::now());
  std::vector<natsMsg *> round;
  {
    std::lock_guard lock(mutex_);
    auto now = Clock::now();
    if (in_flight_ > retry_.size() && now - last_progress_ >= options_.ack_timeout) {
      // Acknowledgements stopped (the server restarted or failed over): take
      // back what libnats still waits for. Late acknowledgements of these are
      // dropped by libnats; the copies published again are acknowledged instead.
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
        for (int i = 0; i < pending.Count; ++i) {
          retry_.push_back(pending.Msgs[i]);
          pending.Msgs[i] = nullptr;
        }
        natsMsgList_Destroy(&pending);
        std::fprintf(stderr, "ectowatch bridge: no acknowledgement for %lld ms: publishing %d messages again\n",
                     static_cast<long long>(options_.ack_timeout.count()), pending.Count);
      }
      last_progress_ = now;
    }
    if (retry_.empty() || now < next_retry_)
      return;
    next_retry_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, kBackoffMax);
    if (natsConnection_Status(connection_) != NATS_CONN_STATUS_CONNECTED)
      return;
    round.assign(retry_.begin(), retry_.end());
    retry_.clear();
    last_progress_ = now;
  }
  // In commit order, as far as it is still possible.
  std::stable_sort(round.begin(), round.end(), [](natsMsg *a, natsMsg *b) {
    return parse_lsn(header(a, "Ectowatch-Lsn")) < parse_lsn(header(b, "Ectowatch-Lsn"));
  });
  std::size_t sent = 0;
  for (natsMsg *&msg : round) {
    if (js_PublishMsgAsync(js_, &msg, nullptr) != NATS_OK)
      break;
    ++sent;
  }
  std::lock_guard lock(mutex_);
  stats_.retries += sent;
  retry_.insert(retry_.begin(), round.begin() + static_cast<std::ptrdiff_t>(sent), round.end());
}

void Publisher::begin_shutdown(Clock::time_point deadline) {
  closing_on_purpose = true;
  std::lock_guard lock(mutex_);
  shutdown_deadline_ = deadline;
  room_.notify_all();
}

std::optional<std::string> Publisher::closed_for_good() const {
  if (!connection_ || closing_on_purpose || natsConnection_Status(connection_) != NATS_CONN_STATUS_CLOSED)
    return std::nullopt;
  const char *text = nullptr;
  natsStatus status = natsConnection_GetLastError(connection_, &text);
  return std::string(text && *text ? text : natsStatus_GetText(status));
}

PublisherStats Publisher::stats() const {
  std::lock_guard lock(mutex_);
  PublisherStats stats = stats_;
  stats.in_flight = in_flight_;
  stats.waiting_for = waiting_for_;
  stats.connected = connection_ && natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
  return stats;
}

} // namespace ectowatch::bridge
