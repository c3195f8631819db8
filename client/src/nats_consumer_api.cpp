#include "nats_consumer_api.hpp"

#include "ectowatch/errors.hpp"
#include "json_text.hpp"
#include "nats_callbacks.hpp"

#include <nats/nats.h>
#include <simdjson.h>

#include <algorithm>
#include <memory>

// libnats keeps the server's version from the INFO it connected with, and
// exports this check (Debian's libnats3.4 symbols file lists it since 3.3.0)
// without declaring it in nats.h. Weak: a libnats without it means "cannot
// tell", never a failed start.
extern "C" bool natsConn_srvVersionAtLeast(natsConnection *nc, int major, int minor, int update) __attribute__((weak));

namespace ectowatch::detail {

bool server_has_filter_subjects(natsConnection *connection) {
  return natsConn_srvVersionAtLeast != nullptr && natsConn_srvVersionAtLeast(connection, 2, 10, 0);
}

namespace {

// Sends one JetStream API request; returns the reply's JSON object, or
// nullopt for the server's "not found" (err_code `not_found`), throws for
// any other error.
std::optional<simdjson::dom::element> request(natsConnection *connection, simdjson::dom::parser &parser,
                                              const std::string &subject, const std::string &body,
                                              std::int64_t timeout_ms, int not_found = 0) {
  natsMsg *reply = nullptr;
  natsStatus status = natsConnection_Request(&reply, connection, subject.c_str(), body.data(),
                                             static_cast<int>(body.size()), timeout_ms);
  check_nats_call(status, subject.c_str());
  std::unique_ptr<natsMsg, void (*)(natsMsg *)> owned(reply, natsMsg_Destroy);
  simdjson::dom::element root;
  if (parser.parse(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply))).get(root) !=
      simdjson::SUCCESS)
    throw ConnectionError("NATS: " + subject + ": the reply is not JSON");
  simdjson::dom::object error;
  if (root["error"].get(error) == simdjson::SUCCESS) {
    std::int64_t code = 0;
    std::string_view description = "no description";
    if (error["err_code"].get(code) != simdjson::SUCCESS)
      code = 0;
    if (error["description"].get(description) != simdjson::SUCCESS)
      description = "no description";
    if (not_found && code == not_found)
      return std::nullopt;
    throw ConnectionError("NATS: " + subject + ": " + std::string(description) + " (JetStream error " +
                          std::to_string(code) + ")");
  }
  return root;
}

ConsumerState state_of(simdjson::dom::element reply) {
  ConsumerState state;
  std::string_view text;
  if (reply["name"].get(text) == simdjson::SUCCESS)
    state.name = text;
  auto config = reply["config"];
  if (config["deliver_subject"].get(text) == simdjson::SUCCESS)
    state.deliver_subject = text;
  simdjson::dom::array filters;
  if (config["filter_subjects"].get(filters) == simdjson::SUCCESS) {
    for (simdjson::dom::element filter : filters)
      if (filter.get(text) == simdjson::SUCCESS)
        state.filters.emplace_back(text);
  } else if (config["filter_subject"].get(text) == simdjson::SUCCESS && !text.empty()) {
    state.filters.emplace_back(text);
  }
  std::sort(state.filters.begin(), state.filters.end());
  std::int64_t wait = 0;
  if (config["ack_wait"].get(wait) == simdjson::SUCCESS)
    state.ack_wait_ns = wait;
  std::uint64_t sequence = 0;
  if (reply["delivered"]["stream_seq"].get(sequence) == simdjson::SUCCESS)
    state.delivered_stream = sequence;
  if (reply["ack_floor"]["stream_seq"].get(sequence) == simdjson::SUCCESS)
    state.ack_floor_stream = sequence;
  if (reply["num_ack_pending"].get(sequence) == simdjson::SUCCESS)
    state.ack_pending = sequence;
  return state;
}

// JetStream's error code for a consumer that does not exist.
constexpr int kConsumerNotFound = 10014;
// What an ephemeral consumer outlives its subscriber by (then the server deletes it).
constexpr std::int64_t kEphemeralInactiveNanoseconds = 5'000'000'000;

} // namespace

std::optional<ConsumerState> consumer_state(natsConnection *connection, const std::string &stream,
                                            const std::string &name, std::int64_t timeout_ms) {
  simdjson::dom::parser parser;
  auto reply =
      request(connection, parser, "$JS.API.CONSUMER.INFO." + stream + "." + name, "", timeout_ms, kConsumerNotFound);
  if (!reply)
    return std::nullopt;
  return state_of(*reply);
}

ConsumerState put_consumer(natsConnection *connection, const ConsumerRequest &request_of, std::int64_t timeout_ms) {
  // The subject names no filter: the server refuses filter_subjects with the
  // form that names one.
  std::string subject = "$JS.API.CONSUMER.CREATE." + request_of.stream;
  std::string body = "{\"stream_name\":";
  append_json_string(body, request_of.stream);
  body += ",\"config\":{";
  if (!request_of.name.empty()) {
    subject += "." + request_of.name;
    body += request_of.durable ? "\"durable_name\":" : "\"name\":";
    append_json_string(body, request_of.name);
    body += ",";
  }
  body += "\"deliver_subject\":";
  append_json_string(body, request_of.deliver_subject);
  body += ",\"deliver_policy\":\"new\"";
  if (request_of.durable)
    body += ",\"ack_policy\":\"explicit\",\"max_ack_pending\":" + std::to_string(request_of.max_ack_pending);
  else
    body += ",\"ack_policy\":\"none\",\"inactive_threshold\":" + std::to_string(kEphemeralInactiveNanoseconds);
  body += ",\"filter_subjects\":[";
  for (std::size_t i = 0; i < request_of.filters.size(); ++i) {
    if (i)
      body += ",";
    append_json_string(body, request_of.filters[i]);
  }
  body += "]}}";
  simdjson::dom::parser parser;
  return state_of(*request(connection, parser, subject, body, timeout_ms));
}

} // namespace ectowatch::detail
