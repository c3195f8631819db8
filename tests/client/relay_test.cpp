// Relayed delivery against the real server started by scripts/test, which
// preloads ectowatch and lists the test database in ectowatch.relay_databases:
// the trigger writes WAL messages, the relay worker sends them with NOTIFY,
// and an ordinary client receives them in commit order, after commit only,
// also across a restart of the worker.
#define BOOST_TEST_MODULE relay
#include <boost/test/unit_test.hpp>

#include "relay_worker.hpp"
#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <signal.h>
#include <thread>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;
using test::sql;
using test::sql_value;

namespace {

// Row ids, in arrival order, with their messages' positions.
struct Arrivals {
  std::mutex mutex;
  std::vector<int> ids;
  std::vector<std::uint64_t> positions; // one per row
  std::vector<Resync> resyncs;

  EventCallback callback() {
    return [this](const Event &event) {
      std::lock_guard lock(mutex);
      ids.push_back(event.row().get<int>("id"));
      positions.push_back(event.message().lsn);
    };
  }
  std::set<int> distinct() {
    std::lock_guard lock(mutex);
    return {ids.begin(), ids.end()};
  }
};

struct RelayTable {
  std::string name = test::unique_name("relayed");
  std::string label;
  explicit RelayTable(const std::string &delivery = "relay") {
    sql("CREATE TABLE " + name + " (id int PRIMARY KEY, writer int)");
    label = sql_value("SELECT ectowatch_watch('" + name + "', 'inserted', delivery => '" + delivery + "')");
  }
  ~RelayTable() {
    try {
      sql("DROP TABLE IF EXISTS " + name + " CASCADE");
    } catch (...) {
    }
  }
  void insert(int id, int writer = 0) {
    sql("INSERT INTO " + name + " VALUES (" + std::to_string(id) + ", " + std::to_string(writer) + ")");
  }
};

using test::RelayWorkerRunning;
BOOST_TEST_GLOBAL_FIXTURE(RelayWorkerRunning);

} // namespace

BOOST_AUTO_TEST_CASE(relayed_rows_arrive_after_commit_only_with_their_position) {
  RelayTable table;
  Client client(test::conninfo());
  Arrivals arrivals;
  auto subscription = client.subscribe(table.label, arrivals.callback());
  client.start();
  sql("INSERT INTO " + table.name + " VALUES (1, 0), (2, 0)");
  table.insert(3);
  sql("BEGIN; INSERT INTO " + table.name + " VALUES (100, 0); ROLLBACK");
  sql("BEGIN; SAVEPOINT s; INSERT INTO " + table.name + " VALUES (101, 0); ROLLBACK TO SAVEPOINT s; INSERT INTO " +
      table.name + " VALUES (4, 0); COMMIT");
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().size() == 4; }));
  std::this_thread::sleep_for(200ms); // a rolled-back row would arrive now
  client.stop();
  BOOST_TEST(arrivals.distinct() == test::ids(1, 4));
  std::lock_guard lock(arrivals.mutex);
  BOOST_TEST(arrivals.ids.size() == 4u);
  for (std::uint64_t position : arrivals.positions)
    BOOST_TEST(position > 0u); // relayed: the message says where it was written
}

BOOST_AUTO_TEST_CASE(messages_of_concurrent_writers_arrive_in_commit_order) {
  RelayTable table;
  Client client(test::conninfo());
  Arrivals arrivals;
  auto subscription = client.subscribe(table.label, arrivals.callback());
  client.start();
  constexpr int kPerWriter = 300;
  std::vector<std::thread> writers;
  for (int writer = 0; writer < 2; ++writer)
    writers.emplace_back([&, writer] {
      for (int i = 0; i < kPerWriter; ++i)
        table.insert(writer * kPerWriter + i, writer);
    });
  for (auto &writer : writers)
    writer.join();
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().size() == 2u * kPerWriter; }));
  client.stop();
  std::lock_guard lock(arrivals.mutex);
  // Each writer's rows come in the order it committed them, and their
  // positions never go back (rows merged into one notification share its
  // position). Between writers, positions may: a message is written before
  // its commit, and the other writer may commit in between.
  std::map<int, int> last_id{{0, -1}, {1, kPerWriter - 1}};
  std::map<int, std::uint64_t> last_position{{0, 0}, {1, 0}};
  bool in_order = true;
  for (std::size_t i = 0; i < arrivals.ids.size(); ++i) {
    int writer = arrivals.ids[i] / kPerWriter;
    in_order = in_order && arrivals.ids[i] > last_id[writer] && arrivals.positions[i] >= last_position[writer];
    last_id[writer] = arrivals.ids[i];
    last_position[writer] = arrivals.positions[i];
  }
  BOOST_TEST(in_order);
}

BOOST_AUTO_TEST_CASE(a_terminated_worker_is_restarted_and_nothing_committed_is_lost) {
  RelayTable table;
  Client client(test::conninfo());
  Arrivals arrivals;
  auto subscription = client.subscribe(table.label, arrivals.callback());
  client.start();
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int id = 1; writing; ++id) {
      table.insert(id);
      written = id;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  // The launcher starts it again after a second; meanwhile messages wait in the WAL.
  BOOST_REQUIRE(test::restart_relay_worker(30s));
  std::this_thread::sleep_for(300ms);
  writing = false;
  writer.join();
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct() == test::ids(1, written); }, {}, 30s));
  client.stop();
  std::lock_guard lock(arrivals.mutex);
  BOOST_TEST_MESSAGE(written << " rows committed, " << arrivals.ids.size() - static_cast<std::size_t>(written.load())
                             << " relayed twice");
}

BOOST_AUTO_TEST_CASE(ectowatch_relay_on_relays_notify_watchers_too) {
  RelayTable table("notify");
  Client client(test::conninfo());
  Arrivals arrivals;
  auto subscription = client.subscribe(table.label, arrivals.callback());
  client.start();
  table.insert(1); // direct NOTIFY: no position
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().size() == 1; }));
  sql("ALTER SYSTEM SET ectowatch.relay = on");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(eventually([] { return sql_value("SHOW ectowatch.relay") == "on"; }));
  table.insert(2); // relayed
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().size() == 2; }));
  sql("ALTER SYSTEM RESET ectowatch.relay");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(eventually([] { return sql_value("SHOW ectowatch.relay") == "off"; }));
  client.stop();
  std::lock_guard lock(arrivals.mutex);
  BOOST_TEST(arrivals.positions.at(0) == 0u);
  BOOST_TEST(arrivals.positions.at(1) > 0u);
}

namespace {

// A session of its own on `database` that keeps the server's notices.
struct Session {
  PGconn *conn;
  std::vector<std::string> notices;
  explicit Session(const std::string &database) : conn(PQconnectdb(("dbname=" + database).c_str())) {
    BOOST_REQUIRE(PQstatus(conn) == CONNECTION_OK);
    PQsetNoticeProcessor(
        conn, [](void *self, const char *text) { static_cast<Session *>(self)->notices.emplace_back(text); }, this);
  }
  ~Session() { PQfinish(conn); }
  void run(const std::string &statement) {
    PGresult *result = PQexec(conn, statement.c_str());
    auto status = PQresultStatus(result);
    std::string error = PQresultErrorMessage(result);
    PQclear(result);
    BOOST_REQUIRE_MESSAGE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, statement + ": " + error);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(where_the_relay_cannot_run_notify_goes_out_directly_with_one_warning) {
  // A database without a relay worker, while ectowatch.relay = on.
  std::string database = test::unique_name("unrelayed");
  sql("CREATE DATABASE " + database);
  struct DropDatabase {
    std::string name;
    ~DropDatabase() {
      try {
        sql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      } catch (...) {
      }
    }
  } drop{database};
  {
    Session setup(database);
    setup.run("SET client_min_messages = warning; CREATE EXTENSION ectowatch");
    setup.run("CREATE TABLE items (id int PRIMARY KEY)");
    setup.run("SELECT ectowatch_watch('items', 'inserted')");
  }
  sql("ALTER SYSTEM SET ectowatch.relay = on");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(eventually([] { return sql_value("SHOW ectowatch.relay") == "on"; }));

  Client client("dbname=" + database);
  Arrivals arrivals;
  auto subscription = client.subscribe("items_inserted", arrivals.callback());
  client.start();
  Session writer(database);
  writer.run("INSERT INTO items VALUES (1)");
  writer.run("INSERT INTO items VALUES (2)");
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().size() == 2; }));
  client.stop();
  sql("ALTER SYSTEM RESET ectowatch.relay");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(eventually([] { return sql_value("SHOW ectowatch.relay") == "off"; }));

  BOOST_REQUIRE_EQUAL(writer.notices.size(), 1u); // once per session
  BOOST_TEST(writer.notices[0].find("not in ectowatch.relay_databases") != std::string::npos);
  std::lock_guard lock(arrivals.mutex);
  BOOST_TEST(arrivals.positions.at(0) == 0u); // sent directly, not relayed
  BOOST_TEST(arrivals.positions.at(1) == 0u);
}

BOOST_AUTO_TEST_CASE(a_lost_relay_slot_is_created_again_and_every_client_resyncs) {
  RelayTable table;
  Client client(test::conninfo());
  Arrivals arrivals;
  client.on_resync([&](const Resync &resync) {
    std::lock_guard lock(arrivals.mutex);
    arrivals.resyncs.push_back(resync);
  });
  auto subscription = client.subscribe(table.label, arrivals.callback());
  client.start();
  // Stop the worker so its slot falls behind, keep at most 1 MB of WAL for
  // slots, and write past that: the next checkpoint invalidates the slot (it
  // waits for the worker to let go, so the worker is continued meanwhile).
  int pid = std::stoi(test::relay_worker_pid());
  BOOST_REQUIRE(::kill(pid, SIGSTOP) == 0);
  sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  sql("SELECT pg_reload_conf()");
  for (int i = 0; i < 4; ++i) {
    table.insert(1000 + i);
    sql("SELECT pg_switch_wal()");
  }
  std::thread checkpoint([] { sql("CHECKPOINT"); });
  std::this_thread::sleep_for(500ms);
  ::kill(pid, SIGCONT);
  checkpoint.join();
  sql("ALTER SYSTEM RESET max_slot_wal_keep_size");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(eventually(
      [&] {
        std::lock_guard lock(arrivals.mutex);
        return !arrivals.resyncs.empty();
      },
      {}, 30s));
  BOOST_TEST((arrivals.resyncs.front().reason == Resync::Reason::relay_lost));
  // The new slot relays what is written from now on.
  table.insert(1);
  BOOST_REQUIRE(eventually([&] { return arrivals.distinct().count(1) == 1; }, {}, 30s));
  client.stop();
}

BOOST_AUTO_TEST_CASE(the_status_view_reports_the_worker) {
  RelayTable table;
  table.insert(1);
  BOOST_REQUIRE(eventually([] {
    return sql_value("SELECT messages_relayed > 0 AND bytes_behind IS NOT NULL AND slot_name LIKE 'ectowatch_relay_%' "
                     "FROM ectowatch_relay_status WHERE database = current_database()") == "t";
  }));
}

// PostgreSQL collapses identical (channel, payload) notifications of one
// transaction, and the worker sends many source transactions in one. Two
// source transactions with byte-identical messages, relayed in one round (the
// worker is stopped while they commit), must both arrive: each notification
// carries its own "lsn".
BOOST_AUTO_TEST_CASE(identical_messages_of_two_transactions_in_one_round_both_arrive) {
  RelayTable table, other;
  Client client(test::conninfo());
  Arrivals arrivals, others;
  auto subscription = client.subscribe(table.label, arrivals.callback());
  auto other_subscription = client.subscribe(other.label, others.callback());
  client.start();
  int pid = std::stoi(test::relay_worker_pid());
  BOOST_REQUIRE(::kill(pid, SIGSTOP) == 0);
  table.insert(1);                                    // {"label":...,"rows":[{"id":1}]}
  other.insert(1);                                    // between them, so the two are not merged
  sql("DELETE FROM " + table.name + " WHERE id = 1"); // no deleted watcher: no message
  table.insert(1);                                    // the same message again
  ::kill(pid, SIGCONT);
  BOOST_REQUIRE(eventually(
      [&] {
        std::lock_guard lock(arrivals.mutex);
        return arrivals.ids.size() >= 2;
      },
      {}, 30s));
  std::this_thread::sleep_for(200ms); // a third would arrive now
  client.stop();
  std::lock_guard lock(arrivals.mutex);
  BOOST_TEST(arrivals.ids == (std::vector<int>{1, 1}));
  BOOST_TEST(arrivals.positions.at(0) != arrivals.positions.at(1));
}
