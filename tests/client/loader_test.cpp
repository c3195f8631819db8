// subscribe_loaded() against the real server started by scripts/test: the
// rows it delivers are compared with the table (the oracle), the queries it
// runs with the server's own count (pg_stat_statements), and its failures
// (a dropped table, a revoked privilege, a terminated connection) with what
// the application is told.
#define BOOST_TEST_MODULE loader
#include <boost/test/unit_test.hpp>

#include "relay_worker.hpp"
#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;
using test::sql;
using test::sql_value;

namespace {

// What loaded subscribers saw: the last row per key (nullopt: absent).
struct View {
  std::mutex mutex;
  std::map<std::string, std::optional<std::string>> last;
  std::size_t rows = 0;
  std::size_t calls = 0;
  std::vector<Resync> resyncs;
  std::vector<std::string> sqlstates; // of the SqlErrors on_error got
  std::size_t errors = 0;

  LoadedCallback callback() {
    return [this](std::span<const LoadedRow> loaded) {
      std::lock_guard lock(mutex);
      ++calls;
      for (const LoadedRow &row : loaded) {
        ++rows;
        last[row.key.at(0).second] = row.absent ? std::nullopt : std::optional<std::string>(row.json);
      }
    };
  }
  std::function<void(const Resync &)> resync_callback() {
    return [this](const Resync &resync) {
      std::lock_guard lock(mutex);
      resyncs.push_back(resync);
    };
  }
  void attach(Client &client) {
    client.on_error([this](const Error &error) {
      std::lock_guard lock(mutex);
      ++errors;
      if (auto *sql_error = dynamic_cast<const SqlError *>(&error))
        sqlstates.push_back(sql_error->sqlstate());
    });
  }
  std::size_t row_count() {
    std::lock_guard lock(mutex);
    return rows;
  }
  std::size_t resyncs_for(Resync::Reason reason) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(
        std::count_if(resyncs.begin(), resyncs.end(), [&](const Resync &resync) { return resync.reason == reason; }));
  }
  bool saw_sqlstate(const std::string &sqlstate) {
    std::lock_guard lock(mutex);
    return std::find(sqlstates.begin(), sqlstates.end(), sqlstate) != sqlstates.end();
  }
  // The present rows, as the table would list them.
  std::map<std::string, std::string> present() {
    std::lock_guard lock(mutex);
    std::map<std::string, std::string> result;
    for (const auto &[key, row] : last)
      if (row)
        result[key] = *row;
    return result;
  }
};

// The oracle: every row of `table` as id -> row_to_json.
std::map<std::string, std::string> table_rows(const std::string &table) {
  std::string text = sql_value("SELECT coalesce(string_agg(id || E'\\t' || row_to_json(t)::text, E'\\n' ORDER BY id), "
                               "'') FROM " +
                               table + " t");
  std::map<std::string, std::string> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto tab = line.find('\t');
    rows[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return rows;
}

std::string describe(const std::map<std::string, std::string> &rows) {
  std::string text;
  for (const auto &[key, row] : rows)
    text += key + "=" + row + " ";
  return text.substr(0, 2000);
}

// The seed of a randomized test: ECTOWATCH_TEST_SEED, or a fresh one; printed.
unsigned seed_for(const char *test) {
  unsigned seed = std::random_device{}();
  if (const char *given = std::getenv("ECTOWATCH_TEST_SEED"))
    seed = static_cast<unsigned>(std::stoul(given));
  std::cout << test << ": seed " << seed << " (ECTOWATCH_TEST_SEED=" << seed << " repeats it)" << std::endl;
  return seed;
}

// One writing session of its own: random inserts, updates and deletes of ids
// 1..keys, alone or several in a transaction.
void write_randomly(unsigned seed, const std::string &table, int keys, int statements) {
  PGconn *conn = PQconnectdb(test::conninfo().c_str());
  BOOST_REQUIRE(PQstatus(conn) == CONNECTION_OK);
  PQsetNoticeProcessor(
      conn, [](void *, const char *) {}, nullptr);
  std::mt19937 random(seed);
  auto id = [&] { return std::to_string(std::uniform_int_distribution<int>(1, keys)(random)); };
  auto one = [&]() -> std::string {
    switch (std::uniform_int_distribution<int>(0, 3)(random)) {
    case 0:
      return "INSERT INTO " + table + " VALUES (" + id() + ", 'i', 0) ON CONFLICT (id) DO NOTHING;";
    case 1:
      return "UPDATE " + table + " SET n = n + 1, name = md5(random()::text) WHERE id = " + id() + ";";
    case 2:
      return "UPDATE " + table + " SET n = n + 1 WHERE id BETWEEN " + id() + " AND " + id() + ";";
    default:
      return "DELETE FROM " + table + " WHERE id = " + id() + ";";
    }
  };
  for (int done = 0; done < statements;) {
    int in_transaction = std::uniform_int_distribution<int>(1, 4)(random);
    std::string text = "BEGIN;";
    for (int index = 0; index < in_transaction; ++index, ++done)
      text += one();
    text += "COMMIT;";
    PGresult *result = PQexec(conn, text.c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK)
      PQclear(PQexec(conn, "ROLLBACK")); // a deadlock between sessions: try on
    PQclear(result);
  }
  PQfinish(conn);
}

// A table with watchers for every op; returns their labels.
std::vector<std::string> watched_table(Client &client, const std::string &table) {
  sql("CREATE TABLE " + table + " (id int PRIMARY KEY, name text, n int NOT NULL DEFAULT 0)");
  return {client.watch(table, Op::inserted), client.watch(table, Op::updated), client.watch(table, Op::deleted)};
}

// LoadOptions field by field (designated initializers that leave fields out
// warn under -Wextra).
LoadOptions load_options(std::chrono::milliseconds window, std::size_t max_batch = 1000,
                         std::function<void(const Resync &)> on_resync = {}) {
  LoadOptions options;
  options.window = window;
  options.max_batch = max_batch;
  options.on_resync = std::move(on_resync);
  return options;
}

LoadOptions with_columns(LoadOptions options, std::vector<std::string> columns) {
  options.columns = std::move(columns);
  return options;
}

LoadOptions with_query(LoadOptions options, std::string query) {
  options.query = std::move(query);
  return options;
}

} // namespace

BOOST_AUTO_TEST_CASE(rows_chosen_columns_absent_keys_and_a_custom_query) {
  Client client(test::conninfo());
  View view, chosen, custom;
  view.attach(client);
  std::string table = test::unique_name("loaded");
  auto labels = watched_table(client, table);
  std::vector<Subscription> subscriptions;
  for (const std::string &label : labels) {
    subscriptions.push_back(client.subscribe_loaded(label, view.callback(), load_options(20ms)));
    subscriptions.push_back(client.subscribe_loaded(label, chosen.callback(), with_columns(load_options(20ms), {"n"})));
    subscriptions.push_back(client.subscribe_loaded(
        label, custom.callback(),
        with_query(load_options(20ms), "SELECT id, upper(name) AS shout FROM " + table + " WHERE id = ANY($1)")));
  }
  sql("INSERT INTO " + table + " VALUES (1, 'ann', 5), (2, 'bob', 6), (3, 'cy', 7)");
  sql("UPDATE " + table + " SET n = 8 WHERE id = 2");
  sql("DELETE FROM " + table + " WHERE id = 3");
  auto step = [&] { client.process(); };
  BOOST_REQUIRE(eventually([&] { return view.last.size() == 3 && !view.last["3"]; }, step));
  BOOST_TEST(*view.last["1"] == R"({"id":1,"name":"ann","n":5})");
  BOOST_TEST(*view.last["2"] == R"({"id":2,"name":"bob","n":8})");
  BOOST_REQUIRE(eventually([&] { return chosen.last.size() == 3 && custom.last.size() == 3; }, step));
  BOOST_TEST(*chosen.last["2"] == R"({"id":2,"n":8})"); // the key columns always come along
  BOOST_TEST(!chosen.last["3"]);
  BOOST_TEST(*custom.last["1"] == R"({"id":1,"shout":"ANN"})");
  BOOST_TEST(!custom.last["3"]);
  BOOST_TEST(view.errors == 0u);
  BOOST_TEST(client.stats().loaded_rows > 0u);
}

BOOST_AUTO_TEST_CASE(composite_keys_are_loaded) {
  Client client(test::conninfo());
  std::string table = test::unique_name("pairs");
  sql("CREATE TABLE " + table + " (a text, b int, v text, PRIMARY KEY (a, b))");
  std::string label = client.watch(table, Op::updated);
  std::mutex mutex;
  std::vector<LoadedRow> seen;
  auto subscription = client.subscribe_loaded(label, [&](std::span<const LoadedRow> rows) {
    std::lock_guard lock(mutex);
    seen.insert(seen.end(), rows.begin(), rows.end());
  });
  sql("INSERT INTO " + table + " VALUES ('x\"y', 1, 'one'), ('x\"y', 2, 'two'), ('z', 1, 'three')");
  sql("UPDATE " + table + " SET v = v || '!' WHERE b = 1");
  BOOST_REQUIRE(eventually(
      [&] {
        std::lock_guard lock(mutex);
        return seen.size() == 2;
      },
      [&] { client.process(); }));
  std::set<std::string> rows;
  for (const LoadedRow &row : seen) {
    BOOST_TEST(!row.absent);
    BOOST_TEST(row.key.size() == 2u);
    rows.insert(row.json);
  }
  BOOST_TEST((rows == std::set<std::string>{R"({"a":"x\"y","b":1,"v":"one!"})", R"({"a":"z","b":1,"v":"three!"})"}));
}

// Random writes from several sessions; once they stop and the last window
// passed, the last row delivered per key is the table's row.
BOOST_AUTO_TEST_CASE(the_loaded_view_equals_the_table_after_random_writes) {
  unsigned seed = seed_for("the_loaded_view_equals_the_table_after_random_writes");
  Client client(test::conninfo());
  View view;
  view.attach(client);
  std::string table = test::unique_name("random_loaded");
  auto labels = watched_table(client, table);
  std::vector<Subscription> subscriptions;
  for (const std::string &label : labels)
    subscriptions.push_back(client.subscribe_loaded(label, view.callback(), load_options(5ms, 37)));
  client.start();
  std::vector<std::thread> sessions;
  for (unsigned session = 0; session < 4; ++session)
    sessions.emplace_back(write_randomly, seed + session, table, 150, 400);
  for (auto &session : sessions)
    session.join();
  auto oracle = table_rows(table);
  bool equal = eventually([&] { return view.present() == oracle; }, {}, 30s);
  client.stop();
  BOOST_TEST(equal, "seed " << seed << ": table " << describe(oracle) << "\nloaded " << describe(view.present()));
  // Absent keys are exactly the deleted ones: every key written is either there.
  for (const auto &[key, row] : view.last)
    BOOST_TEST((row.has_value() == (oracle.count(key) > 0)), "key " << key << " seed " << seed);
  BOOST_TEST(view.errors == 0u);
  Stats stats = client.stats();
  BOOST_TEST(stats.load_queries > 0u);
  std::cout << "  " << stats.events << " events, " << stats.load_queries << " load queries, " << stats.loaded_rows
            << " rows loaded" << std::endl;
}

// The server counts the load queries (pg_stat_statements): one per window and
// table, with 1 subscriber as with 100, and one per max_batch keys.
BOOST_AUTO_TEST_CASE(one_query_per_window_for_1_and_100_subscribers) {
  sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  for (std::size_t subscribers : {1u, 100u}) {
    for (std::size_t max_batch : {1000u, 200u}) {
      Client client(test::conninfo());
      View view;
      view.attach(client);
      std::string table = test::unique_name("counted");
      sql("CREATE TABLE " + table + " (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)");
      sql("INSERT INTO " + table + " SELECT g, 0 FROM generate_series(1, 500) g");
      std::string label = client.watch(table, Op::updated);
      std::vector<Subscription> subscriptions;
      // A window far longer than a statement's notifications take to arrive:
      // each UPDATE below is one window.
      for (std::size_t index = 0; index < subscribers; ++index)
        subscriptions.push_back(client.subscribe_loaded(label, view.callback(), load_options(1000ms, max_batch)));
      sql("SELECT pg_stat_statements_reset()");
      const std::size_t windows = 3;
      for (std::size_t window = 1; window <= windows; ++window) {
        sql("UPDATE " + table + " SET n = n + 1");
        BOOST_REQUIRE(
            eventually([&] { return view.row_count() == window * 500 * subscribers; }, [&] { client.process(); }, 20s));
      }
      std::string calls = sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE "
                                    "'SELECT to_json(q.%' AND query LIKE '%" +
                                    table + " WHERE%'");
      std::size_t per_window = (500 + max_batch - 1) / max_batch;
      BOOST_TEST(std::stoul(calls) == windows * per_window,
                 subscribers << " subscribers, max_batch " << max_batch << ": " << calls << " queries");
      BOOST_TEST(client.stats().load_queries == windows * per_window);
      BOOST_TEST(client.stats().loaded_rows == windows * 500);
      BOOST_TEST(view.errors == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_dropped_table_gives_an_sql_error_and_a_resync) {
  Client client(test::conninfo());
  View view;
  view.attach(client);
  std::string table = test::unique_name("dropped");
  auto labels = watched_table(client, table);
  auto subscription =
      client.subscribe_loaded(labels[0], view.callback(), load_options(1ms, 1000, view.resync_callback()));
  sql("INSERT INTO " + table + " VALUES (1, 'a', 0)");
  BOOST_REQUIRE(eventually([&] { return view.row_count() == 1; }, [&] { client.process(); }));
  // The event is read only after the DROP: its load fails.
  sql("INSERT INTO " + table + " VALUES (2, 'b', 0)");
  sql("DROP TABLE " + table);
  BOOST_REQUIRE(
      eventually([&] { return view.resyncs_for(Resync::Reason::load_failed) == 1; }, [&] { client.process(); }));
  BOOST_TEST(view.saw_sqlstate("42P01"));
  BOOST_TEST(view.row_count() == 1u);
  BOOST_TEST(view.resyncs.at(0).label == labels[0]);
  BOOST_TEST(client.stats().resyncs_for(Resync::Reason::load_failed) == 1u);
}

BOOST_AUTO_TEST_CASE(a_revoked_privilege_gives_an_sql_error_and_a_resync) {
  std::string role = test::unique_name("loader_role");
  std::string table = test::unique_name("revoked");
  sql("CREATE ROLE " + role + " LOGIN");
  ClientOptions options;
  options.load_conninfo = "user=" + role;
  Client client(test::conninfo(), options);
  View view;
  view.attach(client);
  auto labels = watched_table(client, table);
  sql("GRANT SELECT ON " + table + " TO " + role);
  auto subscription =
      client.subscribe_loaded(labels[0], view.callback(), load_options(1ms, 1000, view.resync_callback()));
  sql("INSERT INTO " + table + " VALUES (1, 'a', 0)");
  BOOST_REQUIRE(eventually([&] { return view.row_count() == 1; }, [&] { client.process(); }));
  sql("INSERT INTO " + table + " VALUES (2, 'b', 0)");
  sql("REVOKE SELECT ON " + table + " FROM " + role);
  BOOST_REQUIRE(
      eventually([&] { return view.resyncs_for(Resync::Reason::load_failed) == 1; }, [&] { client.process(); }));
  BOOST_TEST(view.saw_sqlstate("42501"));
  BOOST_TEST(view.row_count() == 1u);
  // Granted again, the next event loads.
  sql("GRANT SELECT ON " + table + " TO " + role);
  sql("INSERT INTO " + table + " VALUES (3, 'c', 0)");
  BOOST_REQUIRE(eventually([&] { return view.row_count() == 2; }, [&] { client.process(); }));
  subscription.reset();
  sql("DROP TABLE " + table);
}

// The loading connection is terminated again and again while sessions write:
// every failure is told (error, resync), the keys are loaded again on the
// next connection, and at the end nothing is missing.
BOOST_AUTO_TEST_CASE(a_terminated_loading_connection_loses_nothing) {
  unsigned seed = seed_for("a_terminated_loading_connection_loses_nothing");
  ClientOptions options;
  options.application_name = test::unique_name("killed");
  options.reconnect_initial = 10ms;
  Client client(test::conninfo(), options);
  View view;
  view.attach(client);
  std::string table = test::unique_name("killed_loaded");
  auto labels = watched_table(client, table);
  std::vector<Subscription> subscriptions;
  for (const std::string &label : labels)
    subscriptions.push_back(
        client.subscribe_loaded(label, view.callback(), load_options(5ms, 1000, view.resync_callback())));
  client.start();
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (unsigned round = 0; round < 8; ++round)
      write_randomly(seed + round, table, 100, 100);
    writing = false;
  });
  int kills = 0;
  while (writing) {
    std::this_thread::sleep_for(50ms);
    kills += std::stoi(sql_value("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE application_name = '" +
                                 options.application_name + " loader'"));
  }
  writer.join();
  auto oracle = table_rows(table);
  bool equal = eventually([&] { return view.present() == oracle; }, {}, 30s);
  client.stop();
  std::cout << "  terminated the loading connection " << kills << " times; " << view.errors << " errors, "
            << view.resyncs_for(Resync::Reason::load_failed) << " resyncs" << std::endl;
  BOOST_TEST(equal, "seed " << seed << ": table " << describe(oracle) << "\nloaded " << describe(view.present()));
  BOOST_REQUIRE(kills > 0);
  BOOST_TEST(view.errors >= 1u);
  BOOST_TEST(view.resyncs_for(Resync::Reason::load_failed) >= 1u);
}

// Durable delivery: a position is confirmed only after the loaded callback
// for its rows returned. A client whose window never ends confirms nothing of
// the row, so the next client on the slot loads it again.
BOOST_AUTO_TEST_CASE(a_durable_client_confirms_nothing_before_the_rows_were_delivered) {
  std::string table = test::unique_name("durable_loaded");
  std::string slot = test::unique_name("loader_slot");
  sql("CREATE TABLE " + table + " (id int PRIMARY KEY, note text)");
  std::string label = sql_value("SELECT ectowatch_watch('" + table + "', 'inserted', delivery => 'durable')");
  { Client creates_the_slot(test::conninfo(), Durable{slot}); }
  sql("INSERT INTO " + table + " VALUES (1, 'one')");
  {
    Client client(test::conninfo(), Durable{slot});
    View view;
    auto subscription = client.subscribe_loaded(label, view.callback(), load_options(std::chrono::hours(1)));
    BOOST_REQUIRE(eventually([&] { return client.stats().messages >= 1; }, [&] { client.process(); }));
    // Rounds enough for status updates (each 20 ms once something is confirmable).
    auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until) {
      client.process();
      std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST(view.row_count() == 0u);
  }
  {
    Client client(test::conninfo(), Durable{slot});
    View view;
    auto subscription = client.subscribe_loaded(label, view.callback(), load_options(1ms));
    BOOST_REQUIRE(eventually([&] { return view.row_count() == 1; }, [&] { client.process(); }));
    BOOST_TEST(*view.last["1"] == R"({"id":1,"note":"one"})");
    // Delivered now: confirmed, so a third client gets nothing again.
    BOOST_REQUIRE(eventually([&] { return client.stats().confirmed_lsn > 0; }, [&] { client.process(); }));
    auto until = std::chrono::steady_clock::now() + 200ms;
    while (std::chrono::steady_clock::now() < until) {
      client.process();
      std::this_thread::sleep_for(5ms);
    }
  }
  {
    Client client(test::conninfo(), Durable{slot});
    View view;
    auto subscription = client.subscribe_loaded(label, view.callback(), load_options(1ms));
    sql("INSERT INTO " + table + " VALUES (2, 'two')");
    BOOST_REQUIRE(eventually([&] { return view.row_count() >= 1; }, [&] { client.process(); }));
    BOOST_TEST(view.last.count("1") == 0u);
    BOOST_TEST(*view.last["2"] == R"({"id":2,"note":"two"})");
  }
  sql("SELECT pg_drop_replication_slot('" + slot + "')");
  sql("DROP TABLE " + table + " CASCADE");
}

// Relayed delivery (the relay worker sends the NOTIFYs after the commit):
// the same loaded rows, and a row deleted before its window ends comes absent.
BOOST_AUTO_TEST_CASE(relayed_events_are_loaded) {
  BOOST_REQUIRE_MESSAGE(eventually([] { return !test::relay_worker_pid().empty(); }, {}, 60s),
                        "no relay worker for the test database (ectowatch_relay_status)");
  std::string table = test::unique_name("relayed_loaded");
  sql("CREATE TABLE " + table + " (id int PRIMARY KEY, note text)");
  std::string label = sql_value("SELECT ectowatch_watch('" + table + "', 'inserted', delivery => 'relay')");
  Client client(test::conninfo());
  View view;
  view.attach(client);
  auto subscription = client.subscribe_loaded(label, view.callback(), load_options(5ms));
  sql("INSERT INTO " + table + " VALUES (1, 'one'), (2, 'two')");
  sql("DELETE FROM " + table + " WHERE id = 2"); // before the event is read: loaded as absent
  BOOST_REQUIRE(eventually([&] { return view.row_count() == 2; }, [&] { client.process(); }, 30s));
  BOOST_TEST(*view.last["1"] == R"({"id":1,"note":"one"})");
  BOOST_TEST(!view.last["2"]);
  BOOST_TEST(view.errors == 0u);
  sql("DROP TABLE " + table + " CASCADE");
}
