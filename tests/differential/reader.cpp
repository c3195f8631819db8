// The differential checker's C++ client reader (tests/differential/README.md):
// subscribes to every label given on the command line, with the library's
// Client (direct NOTIFY and relay) or Client(conninfo, Durable{slot}), and
// prints one JSON line per event, resync and error, with the message's lsn,
// so the checker can tell a redelivery (same lsn) from a duplicate.
//   differential_reader [--slot NAME] LABEL...    (PG* environment; SIGTERM ends it)

#include <ectowatch/ectowatch.hpp>

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

std::mutex output_mutex;

void print_line(const std::string &line) {
  std::lock_guard lock(output_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// (Not "quoted": with a std::string argument, ADL would pick std::quoted from
// <iomanip>, which newer libstdc++ headers include along the way.)
std::string json_quoted(std::string_view text) {
  std::string out;
  ectowatch::append_json_string(out, text);
  return out;
}

} // namespace

int main(int argc, char **argv) {
  std::string slot;
  std::vector<std::string> labels;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--slot" && i + 1 < argc)
      slot = argv[++i];
    else
      labels.push_back(argument);
  }
  // Block the ending signals before any thread starts, so sigwait gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    ectowatch::ClientOptions options{.application_name = "differential_reader"};
    std::unique_ptr<ectowatch::Client> client =
        slot.empty() ? std::make_unique<ectowatch::Client>("", options)
                     : std::make_unique<ectowatch::Client>("", ectowatch::Durable{slot}, options);
    auto on_event = [](const ectowatch::Event &event) {
      std::string line = "{\"r\":";
      switch (event.kind()) {
      case ectowatch::Event::Kind::row:
        line += "\"row\",\"op\":" + json_quoted(ectowatch::to_string(event.op())) + ",\"row\":" + event.row().json() +
                ",\"truncated\":" + (event.extra_columns_left_out() ? "true" : "false");
        break;
      case ectowatch::Event::Kind::dropped:
        line += "\"dropped\",\"count\":" + std::to_string(event.dropped());
        break;
      case ectowatch::Event::Kind::truncated:
        line += "\"truncated\"";
        break;
      }
      line += ",\"label\":" + json_quoted(event.label()) + ",\"table\":" + json_quoted(event.table()) +
              ",\"lsn\":" + std::to_string(event.message().lsn) + "}";
      print_line(line);
    };
    std::vector<ectowatch::Subscription> subscriptions;
    for (const std::string &label : labels)
      subscriptions.push_back(client->subscribe(label, on_event));
    client->on_resync([](const ectowatch::Resync &resync) {
      print_line(std::string("{\"r\":\"resync\",\"reason\":\"") + std::string(ectowatch::to_string(resync.reason)) +
                 "\",\"label\":" + json_quoted(resync.label) + "}");
    });
    client->on_error([](const ectowatch::Error &error) {
      print_line("{\"r\":\"error\",\"what\":" + json_quoted(error.what()) + "}");
    });
    client->start();
    print_line("{\"r\":\"started\"}");
    int received = 0;
    sigwait(&signals, &received);
    client->stop();
  } catch (const std::exception &error) {
    print_line("{\"r\":\"fatal\",\"what\":" + json_quoted(error.what()) + "}");
    return 1;
  }
  return 0;
}
