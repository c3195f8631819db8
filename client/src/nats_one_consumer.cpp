// NatsSource's one consumer (NATS 2.10+): every filter subject of the
// client's subscriptions as the `filter_subjects` of one push consumer
// (nats_source.hpp), created and changed by nats_consumer_api.hpp's requests
// and bound with libnats.
#include "ectowatch/errors.hpp"
#include "nats_callbacks.hpp"
#include "nats_consumer_api.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <set>

namespace ectowatch::detail {

namespace {

// consumers_' key of the one consumer (no filter subject is empty).
const std::string kOneConsumer;

std::vector<std::string> subjects_of(const std::map<std::string, std::string> &filters) {
  std::vector<std::string> subjects;
  for (const auto &[filter, label] : filters)
    subjects.push_back(filter);
  return subjects; // sorted, as the map is
}

// The name of a per-subject durable consumer of `consumer`: <consumer>-<16 hex digits>.
bool per_subject_name(const std::string &name, const std::string &consumer) {
  if (name.size() != consumer.size() + 17 || name.compare(0, consumer.size(), consumer) != 0 ||
      name[consumer.size()] != '-')
    return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(consumer.size()) + 1, name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string new_inbox() {
  natsInbox *inbox = nullptr;
  check_nats_call(natsInbox_Create(&inbox), "inbox");
  std::string subject = inbox;
  natsInbox_Destroy(inbox);
  return subject;
}

} // namespace

// Durable: per-subject consumers of this name hold what they have not
// acknowledged, and the one consumer cannot start where each of them stopped
// (it would lose or repeat messages): the client keeps reading through them,
// and says how to switch.
bool NatsSource::per_subject_consumers_exist(Batch &out) {
  jsConsumerNamesList *names = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_ConsumerNames(&names, jetstream_, nats_.stream.c_str(), nullptr, &code);
  if (status == NATS_NOT_FOUND)
    return false; // the stream has no consumer
  check_nats_call(status, "consumer names");
  std::vector<std::string> found;
  for (int i = 0; i < names->Count; ++i)
    if (per_subject_name(names->List[i], nats_.consumer))
      found.emplace_back(names->List[i]);
  jsConsumerNamesList_Destroy(names);
  if (found.empty())
    return false;
  out.emplace_back(
      LogLine{LogLevel::info,
              "NATS: " + std::to_string(found.size()) + " consumer(s) of \"" + nats_.consumer +
                  "\" with one filter subject each exist (" + found.front() + (found.size() > 1 ? ", ..." : "") +
                  "): reading through them, so nothing they hold is lost or repeated. To use one consumer for every "
                  "subject instead, delete them (nats consumer rm " +
                  nats_.stream + " NAME): the next connection creates \"" + nats_.consumer +
                  "\", with a resync consumer_created (what was published meanwhile is not delivered)"});
  return true;
}

std::map<std::string, std::string> NatsSource::wanted_filters() const {
  std::map<std::string, std::string> wanted;
  for (const std::string &label : context_.registry.labels())
    if (usable_label(label, nullptr))
      for (std::string &filter : filters_for(label))
        wanted.emplace(std::move(filter), label);
  return wanted;
}

// Makes the one consumer's filters those the subscriptions need: creates it
// (or, durable, finds it) and binds to it, or updates its filters while
// bound. A consumer whose reply shows other filters (a server that ignored
// filter_subjects made it unfiltered) is deleted at once, and the client
// falls back to one consumer per subject.
void NatsSource::put_one_consumer(Batch &out) {
  std::map<std::string, std::string> wanted = wanted_filters();
  auto bound = consumers_.find(kOneConsumer);
  // Durable: an unsubscribe (also each one as the client goes) leaves the
  // filters as they are, as a slot streams labels nobody subscribed to
  // (consumed unseen): the next connection's first poll() sets them to what
  // is subscribed then. Shrinking them on the way out would skip the backlog
  // of every label but the last one's on the next start.
  if (bound != consumers_.end() && positions_)
    wanted.insert(one_filters_.begin(), one_filters_.end());
  if (bound != consumers_.end() && wanted == one_filters_)
    return;
  if (wanted.empty()) {
    // No filter would be every subject: unbind instead (ephemeral; a durable one is not bound yet).
    if (bound != consumers_.end())
      drop_consumer(bound);
    one_filters_.clear();
    return;
  }
  std::int64_t timeout_ms = context_.options.connect_timeout_seconds * 1000;
  ConsumerRequest request{nats_.stream, {}, positions_ != nullptr, subjects_of(wanted), {}, kMaxAckPending};
  std::vector<std::string> before; // the filters it had, sorted
  bool created = false;
  std::optional<ConsumerState> state;
  if (bound != consumers_.end()) {
    request.name = bound->second.name;
    request.deliver_subject = bound->second.deliver_subject;
    before = subjects_of(one_filters_);
    state = put_consumer(connection_, request, timeout_ms);
  } else if (positions_) {
    request.name = nats_.consumer;
    state = consumer_state(connection_, nats_.stream, request.name, timeout_ms);
    if (state) {
      before = state->filters;
      request.deliver_subject = state->deliver_subject;
      if (state->filters != request.filters)
        state = put_consumer(connection_, request, timeout_ms); // its positions stay
    }
  }
  if (!state) {
    request.deliver_subject = new_inbox();
    state = put_consumer(connection_, request, timeout_ms);
    created = true;
  }
  if (state->filters != request.filters) {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus deleted = js_DeleteConsumer(jetstream_, nats_.stream.c_str(), state->name.c_str(), nullptr, &code);
    fall_back_to_per_subject("the server did not keep the filter_subjects of consumer \"" + state->name +
                                 "\" (a NATS server before 2.10 answered?): " +
                                 (deleted == NATS_OK ? "deleted it" : nats_error_text("deleting it", deleted)),
                             out);
    return;
  }
  if (bound == consumers_.end()) {
    try {
      bind_one_consumer(*state);
    } catch (...) {
      // Created again, with its resync, on the next connection.
      jsErrCode code = static_cast<jsErrCode>(0);
      if (created && positions_)
        js_DeleteConsumer(jetstream_, nats_.stream.c_str(), state->name.c_str(), nullptr, &code);
      throw;
    }
    Consumer &consumer = consumers_.at(kOneConsumer);
    std::uint64_t needed = state->ack_floor_stream + 1;
    std::uint64_t first = positions_ && !created ? stream_first_sequence() : 0;
    if (positions_)
      expect_redelivery(consumer, state->ack_floor_stream, state->delivered_stream, state->ack_pending);
    if (keeper_)
      keeper_->ack_wait(std::chrono::nanoseconds(state->ack_wait_ns));
    // As per subject: conservative, messages of other subjects aged out look the same.
    if (first > needed) {
      out.emplace_back(Resync{Resync::Reason::aged_out, {}});
      consumer.last_stream = std::max(consumer.last_stream, first - 1); // told: no second resync for it
      consumer.owed = {};
    }
  }
  if (positions_) {
    // A label it did not read before starts at the consumer's position, not at its first message.
    std::set<std::string> new_labels;
    for (const auto &[filter, label] : wanted)
      if (!std::binary_search(before.begin(), before.end(), filter))
        new_labels.insert(label);
    for (const std::string &label : new_labels)
      out.emplace_back(Resync{Resync::Reason::consumer_created, label});
  }
  one_filters_ = std::move(wanted);
}

void NatsSource::bind_one_consumer(const ConsumerState &state) {
  Consumer consumer{{}, nullptr, state.name, state.delivered_stream, state.deliver_subject, {}};
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = nats_.stream.c_str();
  options.Consumer = state.name.c_str(); // bound, not created: libnats never deletes it
  options.ManualAck = true;
  jsErrCode code = static_cast<jsErrCode>(0);
  // No subject: the consumer's filters are its own (libnats 3.4 knows only one).
  check_nats_call(js_Subscribe(&consumer.subscription, jetstream_, nullptr, on_nats_message, inlet_.get(), nullptr,
                               &options, &code),
                  ("bind to consumer " + state.name + (positions_ ? " (is another client using it?)" : "")).c_str());
  watch(consumer);
  if (positions_)
    durable_filters_[state.name] = kOneConsumer;
  consumers_[kOneConsumer] = std::move(consumer);
}

void NatsSource::fall_back_to_per_subject(const std::string &why, Batch &out) {
  // on_error, not only on_log: the server did something it should not have.
  out.emplace_back(
      ErrorItem{std::make_exception_ptr(Error("NATS: " + why + "; using one consumer per filter subject instead"))});
  auto bound = consumers_.find(kOneConsumer);
  if (bound != consumers_.end())
    drop_consumer(bound);
  one_consumer_ = false;
  one_filters_.clear();
  for (const std::string &label : context_.registry.labels())
    for (const std::string &filter : filters_for(label))
      open_consumer(filter, label, out);
}

} // namespace ectowatch::detail
