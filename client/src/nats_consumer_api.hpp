// JetStream consumer requests that libnats 3.4 has no call for: a consumer
// with several filter subjects (`filter_subjects`, NATS 2.10+). libnats'
// jsConsumerConfig has one FilterSubject, so these are the JetStream API's
// own JSON requests ($JS.API.CONSUMER.CREATE / INFO), sent on the
// connection, and their replies read with simdjson.
//
// A server before 2.10 ignores an unknown `filter_subjects` and would make
// the consumer unfiltered (every subject of the stream): ask only a server
// that says it is 2.10 or newer, and check the filters in its reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

typedef struct __natsConnection natsConnection;

namespace ectowatch::detail {

// Whether the server this connection reached says (in its INFO) that it is
// NATS 2.10 or newer. False when libnats cannot tell: one consumer per
// subject is then the safe layout.
bool server_has_filter_subjects(natsConnection *connection);

// A consumer as the server describes it: what NatsSource uses.
struct ConsumerState {
  std::string name;
  std::vector<std::string> filters; // sorted: filter_subjects, or filter_subject alone (none: unfiltered)
  std::string deliver_subject;
  std::uint64_t delivered_stream = 0; // the last stream sequence it sent
  std::uint64_t ack_floor_stream = 0; // every message up to it is acknowledged
  std::uint64_t ack_pending = 0;      // sent and not acknowledged (sent again after the ack wait)
  std::int64_t ack_wait_ns = 0;       // the ack wait (0: not said)
};

// A push consumer starting at new messages, with several filter subjects.
struct ConsumerRequest {
  std::string stream;
  std::string name;                 // empty: a new ephemeral consumer, named by the server
  bool durable = false;             // explicit acks, kept without a subscriber
  std::vector<std::string> filters; // disjoint (the server refuses overlapping ones)
  std::string deliver_subject;
  std::int64_t max_ack_pending = 0; // durable
};

// $JS.API.CONSUMER.INFO: nullopt when the stream has no consumer of that name.
// Throws ConnectionError when the request fails.
std::optional<ConsumerState> consumer_state(natsConnection *connection, const std::string &stream,
                                            const std::string &name, std::int64_t timeout_ms);

// $JS.API.CONSUMER.CREATE: creates the consumer, or updates an existing one
// of that name (its filters; the rest must be as it was created). Returns
// what the server keeps, filters included, for the caller to check. Throws
// ConnectionError with the server's error.
ConsumerState put_consumer(natsConnection *connection, const ConsumerRequest &request, std::int64_t timeout_ms);

} // namespace ectowatch::detail
