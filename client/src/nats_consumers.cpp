// NatsSource: which filter subjects the subscriptions need, and the
// per-subject consumers (nats_source.hpp says how subscriptions map to
// consumers; nats_one_consumer.cpp has the one consumer of NATS 2.10+).
#include "nats_callbacks.hpp"
#include "subject.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace ectowatch::detail {

namespace {

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

} // namespace

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
      // SQL NULL's match text is its own subject token (`~~`), as the bridge publishes it.
      if (text == kNullMatch)
        bridge::append_token(subject, {}, true);
      else
        bridge::append_token(subject, text);
    }
    filters.push_back(std::move(subject));
  }
  for (std::string_view marker : {bridge::kTruncatedToken, bridge::kDroppedToken, bridge::kResyncToken})
    filters.push_back(base + std::string(marker));
  return filters;
}

// A label that cannot be a subject token has no consumer (`out`: told so).
bool NatsSource::usable_label(const std::string &label, Batch *out) const {
  try {
    bridge::check_label(label);
    return true;
  } catch (const std::invalid_argument &error) {
    if (out)
      out->emplace_back(ErrorItem{std::make_exception_ptr(UsageError(std::string("subscribe: ") + error.what()))});
    return false;
  }
}

// Hands a new subscription's messages to the Inlet.
void NatsSource::watch(Consumer &consumer) {
  // The handler only queues (libnats' own queue stays short): a durable
  // consumer is bounded by MaxAckPending, an ephemeral one by the Inlet's
  // max_bytes.
  natsSubscription_SetPendingLimits(consumer.subscription, -1, -1);
  if (natsSubscription_SetOnCompleteCB(consumer.subscription, on_nats_subscription_complete, inlet_.get()) == NATS_OK) {
    std::lock_guard lock(inlet_->mutex);
    ++inlet_->callbacks_to_come;
  }
}

void NatsSource::open_consumer(const std::string &filter, const std::string &label, Batch &out) {
  if (consumers_.count(filter))
    return; // two Key subscriptions of one key
  if (!usable_label(label, &out))
    return;
  Consumer consumer{label, nullptr, {}, 0, {}, {}};
  if (positions_) {
    bind_durable(filter, label, out, consumer);
  } else {
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = nats_.stream.c_str();
    options.ManualAck = true;
    options.Config.DeliverPolicy = js_DeliverNew;
    options.Config.AckPolicy = js_AckNone;
    jsErrCode code = static_cast<jsErrCode>(0);
    check_nats_call(js_Subscribe(&consumer.subscription, jetstream_, filter.c_str(), on_nats_message, inlet_.get(),
                                 nullptr, &options, &code),
                    ("subscribe to " + filter).c_str());
  }
  watch(consumer);
  if (!consumer.name.empty())
    durable_filters_[consumer.name] = filter;
  consumers_[filter] = std::move(consumer);
}

// Creates the durable consumer of `filter` when missing (a resync: nothing
// before it is delivered), checks that the stream still holds what it has
// not acknowledged, and binds to it. What the stream no longer holds is
// reported here: `consumer.last_stream` starts past it.
void NatsSource::bind_durable(const std::string &filter, const std::string &label, Batch &out, Consumer &consumer) {
  std::string name = nats_.consumer + "-" + filter_hash(filter);
  consumer.name = name;
  jsConsumerInfo *info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetConsumerInfo(&info, jetstream_, nats_.stream.c_str(), name.c_str(), nullptr, &code);
  if (status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) {
    natsInbox *inbox = nullptr;
    check_nats_call(natsInbox_Create(&inbox), "inbox");
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
    check_nats_call(status, ("create consumer " + name).c_str());
    consumer.last_stream = info->Delivered.Stream; // DeliverNew: the stream's last sequence
    if (info->Config && keeper_)
      keeper_->ack_wait(std::chrono::nanoseconds(info->Config->AckWait));
    jsConsumerInfo_Destroy(info);
    out.emplace_back(Resync{Resync::Reason::consumer_created, label});
  } else {
    check_nats_call(status, ("consumer info of " + name).c_str());
    std::uint64_t needed = info->AckFloor.Stream + 1;
    consumer.last_stream = info->Delivered.Stream;
    if (info->Config && keeper_)
      keeper_->ack_wait(std::chrono::nanoseconds(info->Config->AckWait));
    expect_redelivery(consumer, info->AckFloor.Stream, info->Delivered.Stream,
                      static_cast<std::uint64_t>(std::max<std::int64_t>(info->NumAckPending, 0)));
    jsConsumerInfo_Destroy(info);
    std::uint64_t first = stream_first_sequence();
    // Conservative: messages of other subjects aged out look the same.
    if (first > needed) {
      out.emplace_back(Resync{Resync::Reason::aged_out, label});
      consumer.last_stream = std::max(consumer.last_stream, first - 1); // told: no second resync for it
      consumer.owed = {};
    }
  }
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = nats_.stream.c_str();
  options.Consumer = name.c_str(); // bound, not created: unsubscribing never deletes it
  options.ManualAck = true;
  status = js_Subscribe(&consumer.subscription, jetstream_, filter.c_str(), on_nats_message, inlet_.get(), nullptr,
                        &options, &code);
  check_nats_call(status, ("bind to consumer " + name + " (is another client using it?)").c_str());
}

void NatsSource::drop_consumer(std::map<std::string, Consumer>::iterator consumer) {
  // Ephemeral consumers go with their subscription (the one consumer: 5 s
  // later); durable ones stay (bound only).
  natsSubscription_Unsubscribe(consumer->second.subscription);
  durable_filters_.erase(consumer->second.name);
  retired_.push_back(consumer->second.subscription);
  consumers_.erase(consumer);
}

void NatsSource::label_changed(const std::string &label, Batch &out) {
  if (!connection_)
    return;
  round_first_sequence_ = 0;
  if (one_consumer_) {
    if (!context_.registry.all_of(label).empty())
      usable_label(label, &out);
    if (one_consumer_started_)
      put_one_consumer(out);
    return;
  }
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

} // namespace ectowatch::detail
