// A real JetStream client for the bridge's tests and benchmark (libnats, no mock):
//   nats_check read URL STREAM CONSUMER FILTER [PREFIX] [EXPECT] [TIMEOUT_S]
//       a durable pull consumer (created if missing) with that filter subject:
//       prints one JSON line per message (Nats-Msg-Id, subject, decoded key
//       tokens, payload), acks it, and last the consumer's delivered count
//       from the server. Ends when EXPECT distinct messages (Nats-Msg-Id) were read (0: when nothing
//       is pending), or after TIMEOUT_S.
//   nats_check create URL STREAM CONSUMER FILTER       only create that consumer
//   nats_check publish URL STREAM PREFIX COUNT BYTES WINDOW
//       the bare asynchronous publisher of bench/run: COUNT messages with the
//       bridge's subjects, headers and payload size; prints messages/s.
//   nats_check stream URL STREAM SUBJECT...
//       creates a stream that takes these subjects (a stream shared by prefixes).
//   nats_check delete-stream URL STREAM
//       deletes the stream (as `nats stream rm` would).
//   nats_check latency URL SUBJECT COUNT
//       a core subscriber: for each message, now minus the payload's row
//       "at" (microseconds since the epoch); prints p50 and p99 in ms.
#include "../../client/bridge/publisher.hpp"
#include "../../client/bridge/subject.hpp"
#include "ectowatch/message.hpp"

#include <nats/nats.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char *what, natsStatus status) {
  std::fprintf(stderr, "nats_check: %s: %s (%s)\n", what, natsStatus_GetText(status), nats_GetLastError(nullptr));
  std::exit(1);
}

natsConnection *connect(const char *url) {
  natsOptions *options = nullptr;
  natsConnection *connection = nullptr;
  natsOptions_Create(&options);
  ectowatch::bridge::set_nats_urls(options, url);
  natsOptions_SetMaxReconnect(options, -1);
  natsOptions_SetReconnectWait(options, 100);
  natsStatus status = natsConnection_Connect(&connection, options);
  natsOptions_Destroy(options);
  if (status != NATS_OK)
    die("connect", status);
  return connection;
}

jsCtx *jetstream(natsConnection *connection) {
  jsCtx *js = nullptr;
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = 5000;
  natsStatus status = natsConnection_JetStream(&js, connection, &options);
  if (status != NATS_OK)
    die("jetstream", status);
  return js;
}

const char *header(natsMsg *msg, const char *key) {
  const char *value = nullptr;
  return natsMsgHeader_Get(msg, key, &value) == NATS_OK && value ? value : "";
}

natsSubscription *pull_consumer(jsCtx *js, const char *stream, const char *consumer, const char *filter) {
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = stream;
  sub_options.Config.AckPolicy = js_AckExplicit;
  sub_options.Config.DeliverPolicy = js_DeliverAll;
  sub_options.Config.AckWait = 5'000'000'000LL;
  natsSubscription *sub = nullptr;
  jsErrCode code{};
  for (int attempt = 0;; ++attempt) {
    natsStatus status = js_PullSubscribe(&sub, js, filter, consumer, nullptr, &sub_options, &code);
    if (status == NATS_OK)
      return sub;
    if (attempt == 50)
      die("pull subscribe", status);
    nats_Sleep(200);
  }
}

std::string print_message(natsMsg *msg, const std::string &prefix) {
  std::string subject = natsMsg_GetSubject(msg);
  std::string line = "{\"id\":";
  ectowatch::append_json_string(line, header(msg, "Nats-Msg-Id"));
  line += ",\"subject\":";
  ectowatch::append_json_string(line, subject);
  line += ",\"key\":[";
  // <prefix>.<label>.<token>...: the decoded key values (null for SQL NULL).
  std::string rest = subject.size() > prefix.size() + 1 ? subject.substr(prefix.size() + 1) : "";
  std::size_t dot = rest.find('.');
  bool first = true;
  while (dot != std::string::npos) {
    std::size_t next = rest.find('.', dot + 1);
    std::string token = rest.substr(dot + 1, next == std::string::npos ? next : next - dot - 1);
    line += first ? "" : ",";
    first = false;
    try {
      auto value = ectowatch::bridge::unescape_token(token);
      if (value)
        ectowatch::append_json_string(line, *value);
      else
        line += "null";
    } catch (const std::invalid_argument &) {
      line += "{\"special\":";
      ectowatch::append_json_string(line, token);
      line += "}";
    }
    dot = next;
  }
  line += "],\"lsn\":";
  ectowatch::append_json_string(line, header(msg, "Ectowatch-Lsn"));
  line += ",\"payload\":";
  line.append(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  line += "}\n";
  return line;
}

int read(int argc, char **argv) {
  if (argc < 6)
    return 2;
  std::string prefix = argc > 6 ? argv[6] : "ectowatch";
  long expect = argc > 7 ? std::atol(argv[7]) : 0;
  double timeout = argc > 8 ? std::atof(argv[8]) : 60;
  natsConnection *connection = connect(argv[2]);
  jsCtx *js = jetstream(connection);
  natsSubscription *sub = pull_consumer(js, argv[3], argv[4], argv[5]);
  if (std::strcmp(argv[1], "create") == 0)
    return 0;
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
  // EXPECT counts distinct rows (Nats-Msg-Id): after a fail-over JetStream
  // redelivers what was not acked in time, and those copies must not end
  // the read before every row came.
  long seen = 0;
  std::set<std::string> distinct;
  while (Clock::now() < deadline && (expect == 0 || static_cast<long>(distinct.size()) < expect)) {
    natsMsgList list{};
    jsErrCode code{};
    natsStatus status = natsSubscription_Fetch(&list, sub, 512, 1000, &code);
    if (status == NATS_OK) {
      for (int i = 0; i < list.Count; ++i) {
        std::string line = print_message(list.Msgs[i], prefix);
        std::fwrite(line.data(), 1, line.size(), stdout);
        natsMsg_Ack(list.Msgs[i], nullptr);
        ++seen;
        distinct.insert(header(list.Msgs[i], "Nats-Msg-Id"));
      }
      natsMsgList_Destroy(&list);
      continue;
    }
    if (expect == 0 && status == NATS_TIMEOUT) {
      jsConsumerInfo *info = nullptr;
      if (js_GetConsumerInfo(&info, js, argv[3], argv[4], nullptr, &code) == NATS_OK) {
        bool done = info->NumPending == 0 && info->NumAckPending == 0;
        jsConsumerInfo_Destroy(info);
        if (done)
          break;
      }
    }
    // Timeouts and errors while a server restarts or fails over: fetch again.
  }
  jsConsumerInfo *info = nullptr;
  jsErrCode code{};
  natsStatus status = NATS_ERR;
  for (int attempt = 0; attempt < 20 && status != NATS_OK; ++attempt, status == NATS_OK ? void() : nats_Sleep(250))
    status = js_GetConsumerInfo(&info, js, argv[3], argv[4], nullptr, &code);
  if (status != NATS_OK)
    die("consumer info", status);
  std::printf("{\"read\":%ld,\"consumer_delivered\":%llu,\"stream_delivered\":%llu,\"num_pending\":%llu}\n", seen,
              static_cast<unsigned long long>(info->Delivered.Consumer),
              static_cast<unsigned long long>(info->Delivered.Stream),
              static_cast<unsigned long long>(info->NumPending));
  jsConsumerInfo_Destroy(info);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return 0;
}

std::atomic<long> acked{0}, failed{0};

void on_ack(jsCtx *, natsMsg *msg, jsPubAck *ack, jsPubAckErr *, void *) {
  (ack ? acked : failed)++;
  natsMsg_Destroy(msg);
}

int publish(int argc, char **argv) {
  if (argc < 8)
    return 2;
  const char *stream = argv[3];
  std::string prefix = argv[4];
  long count = std::atol(argv[5]);
  std::size_t bytes = static_cast<std::size_t>(std::atol(argv[6]));
  long window = std::atol(argv[7]);
  natsConnection *connection = connect(argv[2]);
  jsCtx *js = nullptr;
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.MaxPending = window;
  options.PublishAsync.AckHandler = on_ack;
  natsStatus status = natsConnection_JetStream(&js, connection, &options);
  if (status != NATS_OK)
    die("jetstream", status);
  jsStreamInfo *info = nullptr;
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  std::string subjects = prefix + ".>";
  const char *subject_list[] = {subjects.c_str()};
  config.Name = stream;
  config.Subjects = subject_list;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Duplicates = 120'000'000'000LL;
  js_AddStream(&info, js, &config, nullptr, nullptr);
  jsStreamInfo_Destroy(info);
  std::string payload(bytes, 'x');
  auto start = Clock::now();
  for (long i = 1; i <= count; ++i) {
    std::string subject = prefix + ".bench_inserted." + std::to_string(i);
    char id[48], lsn[32];
    std::snprintf(lsn, sizeof lsn, "1/%lX", 0x1000000L + i * 128);
    std::snprintf(id, sizeof id, "%s-0", lsn);
    natsMsg *msg = nullptr;
    natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
    natsMsgHeader_Set(msg, "Ectowatch-Format", "1");
    natsMsgHeader_Set(msg, "Ectowatch-Op", "inserted");
    natsMsgHeader_Set(msg, "Ectowatch-Label", "bench_inserted");
    natsMsgHeader_Set(msg, "Ectowatch-Lsn", lsn);
    while ((status = js_PublishMsgAsync(js, &msg, nullptr)) == NATS_TIMEOUT) {
    }
    if (status != NATS_OK)
      die("publish", status);
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = 120000;
  js_PublishAsyncComplete(js, &wait);
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  std::printf("{\"acked\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_second\":%.0f,\"cpu_s\":%.2f}\n", acked.load(),
              failed.load(), elapsed, static_cast<double>(acked.load()) / elapsed, cpu);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return 0;
}

std::vector<double> latencies;
std::atomic<long> received{0};

void on_message(natsConnection *, natsSubscription *, natsMsg *msg, void *) {
  auto now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::string data(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  std::size_t at = data.find("\"at\":");
  if (at != std::string::npos)
    latencies.push_back(static_cast<double>(now_us - std::atoll(data.c_str() + at + 5)) / 1000.0);
  received++;
  natsMsg_Destroy(msg);
}

int latency(int argc, char **argv) {
  if (argc < 5)
    return 2;
  long count = std::atol(argv[4]);
  double timeout = argc > 5 ? std::atof(argv[5]) : 120;
  natsConnection *connection = connect(argv[2]);
  natsSubscription *sub = nullptr;
  natsStatus status = natsConnection_Subscribe(&sub, connection, argv[3], on_message, nullptr);
  if (status != NATS_OK)
    die("subscribe", status);
  natsConnection_Flush(connection);
  std::printf("subscribed\n");
  std::fflush(stdout);
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
  while (received < count && Clock::now() < deadline)
    nats_Sleep(20);
  natsSubscription_Unsubscribe(sub);
  nats_Sleep(50);
  std::vector<double> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  auto at = [&](double q) { return sorted.empty() ? -1.0 : sorted[static_cast<std::size_t>(q * (sorted.size() - 1))]; };
  std::printf("{\"received\":%ld,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n", received.load(), at(0.5),
              at(0.99), at(1.0));
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(connection);
  return 0;
}

} // namespace

int create_stream(int argc, char **argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: nats_check stream URL STREAM SUBJECT...\n");
    return 2;
  }
  natsConnection *connection = connect(argv[2]);
  jsCtx *js = jetstream(connection);
  std::vector<const char *> subjects(argv + 4, argv + argc);
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = argv[3];
  config.Subjects = subjects.data();
  config.SubjectsLen = static_cast<int>(subjects.size());
  config.Storage = js_FileStorage;
  jsStreamInfo *info = nullptr;
  natsStatus status = js_AddStream(&info, js, &config, nullptr, nullptr);
  if (status != NATS_OK)
    die("add stream", status);
  jsStreamInfo_Destroy(info);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return 0;
}

int delete_stream(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: nats_check delete-stream URL STREAM\n");
    return 2;
  }
  natsConnection *connection = connect(argv[2]);
  jsCtx *js = jetstream(connection);
  natsStatus status = js_DeleteStream(js, argv[3], nullptr, nullptr);
  if (status != NATS_OK)
    die("delete stream", status);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (std::strcmp(argv[1], "read") == 0 || std::strcmp(argv[1], "create") == 0))
    return read(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "publish") == 0)
    return publish(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "stream") == 0)
    return create_stream(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "delete-stream") == 0)
    return delete_stream(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "latency") == 0)
    return latency(argc, argv);
  std::fprintf(stderr, "usage: see the comment at the top of tests/nats/nats_check.cpp\n");
  return 2;
}
