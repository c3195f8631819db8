// Forged messages (issue 14, case 9): any role that can connect can NOTIFY
// any channel. For relayed delivery the client tells forged messages from
// the relay worker's: they are reported (ForgedMessage) and not delivered,
// and genuine ones still arrive after the worker restarts with a new pid.
// Any role can also write WAL messages with ectowatch's prefixes
// (pg_logical_emit_message is executable by PUBLIC): the output plugin
// delivers only those whose MAC says ectowatch wrote them, so a forged one
// reaches neither a durable consumer nor the relay worker's NOTIFY.
// Runs against scripts/test's server, which relays the test database.
#define BOOST_TEST_MODULE forgery
#include <boost/test/unit_test.hpp>

#include "relay_worker.hpp"
#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <stdexcept>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;
using test::sql;
using test::sql_value;

namespace {

constexpr const char *kForger = "ectowatch_forger";

// Runs `statement` as a role with no privileges at all.
void as_forger(const std::string &statement) {
  PGconn *conn = PQconnectdb((std::string("user=") + kForger).c_str());
  PGresult *result = PQexec(conn, statement.c_str());
  auto status = PQresultStatus(result);
  std::string error = PQstatus(conn) == CONNECTION_OK ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw std::runtime_error("forger's SQL failed: " + statement + ": " + error);
}

struct Setup {
  Setup() {
    sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + std::string(kForger) +
        "') THEN CREATE ROLE " + kForger + " LOGIN; END IF; END $$");
  }
};
BOOST_TEST_GLOBAL_FIXTURE(Setup);
using test::RelayWorkerRunning;
BOOST_TEST_GLOBAL_FIXTURE(RelayWorkerRunning);

struct Seen {
  std::mutex mutex;
  std::set<int> ids;
  std::vector<std::string> forged, other_errors;
  int resyncs = 0;

  void attach(Client &client) {
    client.on_error([this](const Error &error) {
      std::lock_guard lock(mutex);
      if (auto *forgery = dynamic_cast<const ForgedMessage *>(&error)) {
        BOOST_TEST(forgery->sender_pid() > 0);
        forged.push_back(error.what());
      } else {
        other_errors.push_back(error.what());
      }
    });
    client.on_resync([this](const Resync &) {
      std::lock_guard lock(mutex);
      ++resyncs;
    });
  }
  EventCallback callback() {
    return [this](const Event &event) {
      std::lock_guard lock(mutex);
      ids.insert(event.row().get<int>("id"));
    };
  }
  // Waits until `condition` holds for what was seen (read under the lock).
  bool until(const std::function<bool(const Seen &)> &condition, std::chrono::milliseconds timeout = 10s) {
    return eventually(
        [&] {
          std::lock_guard lock(mutex);
          return condition(*this);
        },
        {}, timeout);
  }
  bool has(int id) {
    return until([id](const Seen &seen) { return seen.ids.count(id) > 0; });
  }
};

// A started client subscribed to one label, and what it saw.
struct Listener {
  Client client;
  Seen seen;
  Subscription subscription;
  explicit Listener(const std::string &label, std::optional<Durable> durable = {}) : client(connect(durable)) {
    seen.attach(client);
    subscription = client.subscribe(label, seen.callback());
    client.start();
  }

private:
  static Client connect(const std::optional<Durable> &durable) {
    if (durable)
      return Client(test::conninfo(), *durable);
    return Client(test::conninfo());
  }
};

std::string made_up(const std::string &label, int id, bool with_lsn) {
  return R"({"v":1,"op":"inserted","table":"public.made_up","label":")" + label + R"(","key":["id"],"rows":[{"id":)" +
         std::to_string(id) + "}]" + (with_lsn ? R"(,"lsn":"0/1")" : "") + "}";
}

struct Watched {
  std::string name = test::unique_name("forged");
  std::string label;
  explicit Watched(const std::string &delivery) {
    sql("CREATE TABLE " + name + " (id int PRIMARY KEY)");
    label = sql_value("SELECT ectowatch_watch('" + name + "', 'inserted', delivery => '" + delivery + "')");
  }
  ~Watched() {
    try {
      sql("DROP TABLE IF EXISTS " + name + " CASCADE");
    } catch (...) {
    }
  }
  void insert(int id) { sql("INSERT INTO " + name + " VALUES (" + std::to_string(id) + ")"); }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_forged_message_on_a_relay_label_is_reported_not_delivered) {
  Watched table("relay");
  Listener listener(table.label);
  Client &client = listener.client;
  Seen &seen = listener.seen;
  table.insert(1);
  BOOST_REQUIRE(seen.has(1));
  // Made up by a role without privileges: with a WAL position, as relayed
  // messages carry, and without (as if NOTIFY had been direct).
  as_forger("NOTIFY " + table.label + ", '" + made_up(table.label, 900, true) + "'");
  as_forger("NOTIFY " + table.label + ", '" + made_up(table.label, 901, false) + "'");
  table.insert(2);
  BOOST_REQUIRE(seen.until([](const Seen &now) { return now.ids.count(2) > 0 && now.forged.size() >= 2; }));
  std::this_thread::sleep_for(200ms);
  client.stop();
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.ids == (std::set<int>{1, 2}));
  BOOST_TEST(seen.forged.size() == 2u);
  BOOST_TEST(seen.other_errors.empty());
  if (!seen.forged.empty())
    BOOST_TEST(seen.forged[0].find("relay worker") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_forged_relayed_message_on_a_notify_label_is_reported) {
  // A 'notify' watcher's messages may be relayed (ectowatch.relay = on), and
  // only relayed ones carry a WAL position: one from elsewhere is forged.
  Watched table("notify");
  Listener listener(table.label);
  Client &client = listener.client;
  Seen &seen = listener.seen;
  as_forger("NOTIFY " + table.label + ", '" + made_up(table.label, 900, true) + "'");
  table.insert(1);
  BOOST_REQUIRE(seen.until([](const Seen &now) { return now.ids.count(1) > 0 && !now.forged.empty(); }));
  client.stop();
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.ids == (std::set<int>{1}));
}

// What a role without privileges writes to the WAL with `prefix`: the
// message a watcher of `label` would send for row `id`.
void forge_wal_message(const std::string &prefix, const std::string &label, int id) {
  as_forger("SELECT pg_logical_emit_message(true, '" + prefix + "', '" + made_up(label, id, false) + "')");
}

BOOST_AUTO_TEST_CASE(a_forged_wal_message_is_not_relayed) {
  Watched table("relay");
  Listener listener(table.label);
  Client &client = listener.client;
  Seen &seen = listener.seen;
  forge_wal_message("ectowatch_relay", table.label, 900);
  table.insert(1);
  // The worker relays in commit order: once row 1 arrived, the forged
  // message (committed before it) would have too.
  BOOST_REQUIRE(seen.has(1));
  std::this_thread::sleep_for(200ms);
  client.stop();
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.ids == (std::set<int>{1}));
  BOOST_TEST(seen.forged.empty()); // never sent: nothing to report
  BOOST_TEST(seen.other_errors.empty());
}

BOOST_AUTO_TEST_CASE(a_forged_wal_message_does_not_reach_a_durable_consumer) {
  Watched table("durable");
  std::string slot = test::unique_name("forged_slot");
  {
    Listener listener(table.label, Durable{slot});
    Client &client = listener.client;
    Seen &seen = listener.seen;
    forge_wal_message("ectowatch", table.label, 900);
    table.insert(1);
    BOOST_REQUIRE(seen.has(1));
    std::this_thread::sleep_for(200ms);
    client.stop();
    std::lock_guard lock(seen.mutex);
    BOOST_TEST(seen.ids == (std::set<int>{1}));
    BOOST_TEST(seen.other_errors.empty());
  }
  sql("SELECT pg_drop_replication_slot('" + slot + "')");
}

BOOST_AUTO_TEST_CASE(a_forged_relay_lost_resync_is_reported_not_run) {
  Watched table("relay");
  Listener listener(table.label);
  Client &client = listener.client;
  Seen &seen = listener.seen;
  as_forger("NOTIFY ectowatch_resync, '{\"reason\":\"made up\"}'");
  BOOST_REQUIRE(seen.until([](const Seen &now) { return !now.forged.empty(); }));
  client.stop();
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.resyncs == 0);
}

BOOST_AUTO_TEST_CASE(genuine_messages_arrive_after_the_worker_restarts_with_a_new_pid) {
  Watched table("relay");
  Listener listener(table.label);
  Client &client = listener.client;
  Seen &seen = listener.seen;
  table.insert(1);
  BOOST_REQUIRE(seen.has(1));
  BOOST_REQUIRE(test::restart_relay_worker());
  table.insert(2);
  table.insert(3);
  BOOST_REQUIRE(seen.until([](const Seen &now) { return now.ids.size() == 3u; }, 30s));
  client.stop();
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.forged.empty());
  BOOST_TEST(seen.other_errors.empty());
}
