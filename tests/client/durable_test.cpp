// Durable delivery against the real server started by scripts/test: a client
// reading a replication slot (Client(conninfo, Durable{...})) gets what was
// committed while it was down, at least once, and resyncs only for a new or
// lost slot.
#define BOOST_TEST_MODULE durable
#include <boost/test/unit_test.hpp>

#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;
using test::sql;

namespace {

// Row ids and resyncs seen by a durable client; safe to read from the test thread.
struct Seen {
  std::mutex mutex;
  std::map<int, int> deliveries; // id -> how often
  std::vector<std::uint64_t> positions;
  std::vector<Resync> resyncs;
  std::vector<std::string> errors;

  void attach(Client &client) {
    client.on_resync([this](const Resync &resync) {
      std::lock_guard lock(mutex);
      resyncs.push_back(resync);
    });
    client.on_error([this](const Error &error) {
      std::lock_guard lock(mutex);
      errors.push_back(error.what());
    });
  }
  EventCallback callback() {
    return [this](const Event &event) {
      std::lock_guard lock(mutex);
      ++deliveries[event.row().get<int>("id")];
      positions.push_back(event.message().lsn);
    };
  }
  std::size_t distinct() {
    std::lock_guard lock(mutex);
    return deliveries.size();
  }
  std::size_t total() {
    std::lock_guard lock(mutex);
    std::size_t sum = 0;
    for (const auto &[id, times] : deliveries)
      sum += static_cast<std::size_t>(times);
    return sum;
  }
  // What was seen, for a failed check's message.
  std::string describe() {
    std::lock_guard lock(mutex);
    std::string text = "ids:";
    for (const auto &[id, times] : deliveries)
      text += " " + std::to_string(id) + "x" + std::to_string(times);
    text += "; resyncs: " + std::to_string(resyncs.size()) + "; errors:";
    for (const auto &error : errors)
      text += " [" + error + "]";
    return text;
  }
  std::set<int> ids() {
    std::lock_guard lock(mutex);
    std::set<int> result;
    for (const auto &[id, times] : deliveries)
      result.insert(id);
    return result;
  }
};

// A table with a durable inserted watcher, and a slot name; both dropped at the end.
struct DurableTable {
  std::string name = test::unique_name("durable");
  std::string slot = test::unique_name("slot");
  std::string label;
  DurableTable() {
    sql("CREATE TABLE " + name + " (id int PRIMARY KEY, note text)");
    label = test::sql_value("SELECT ectowatch_watch('" + name + "', 'inserted', delivery => 'durable')");
  }
  ~DurableTable() {
    try {
      sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
      sql("DROP TABLE IF EXISTS " + name + " CASCADE");
    } catch (...) {
    }
  }
  void insert(int from, int to) {
    sql("INSERT INTO " + name + " SELECT g, 'x' FROM generate_series(" + std::to_string(from) + ", " +
        std::to_string(to) + ") g");
  }
};

ClientOptions fast_options() {
  ClientOptions options;
  options.application_name = "ectowatch durable test";
  options.reconnect_initial = 20ms;
  options.reconnect_max = 200ms;
  return options;
}

} // namespace

BOOST_AUTO_TEST_CASE(events_committed_while_the_client_was_down_arrive_once_it_runs) {
  DurableTable table;
  {
    Client client(test::conninfo(), Durable{table.slot}, fast_options());
    Seen seen;
    seen.attach(client);
    auto subscription = client.subscribe(table.label, seen.callback());
    client.start();
    table.insert(1, 3);
    // Stopped after the transaction's end was dispatched: stop() in the middle
    // of one (its commit not yet read) has it delivered again, whole, next time.
    BOOST_REQUIRE(eventually([&] { return seen.distinct() == 3 && !client.inside_transaction(); }));
    client.stop();
    // A new slot: nothing before it was recorded, so subscribers resync once.
    BOOST_REQUIRE(seen.resyncs.size() == 1u);
    BOOST_TEST((seen.resyncs.front().reason == Resync::Reason::slot_created));
  }
  // Down: committed rows wait in the slot; rolled-back ones never enter it.
  table.insert(4, 6);
  sql("BEGIN; INSERT INTO " + table.name + " VALUES (100, 'rolled back'); ROLLBACK");
  sql("BEGIN; SAVEPOINT s; INSERT INTO " + table.name +
      " VALUES (101, 'savepoint'); ROLLBACK TO SAVEPOINT s; "
      "INSERT INTO " +
      table.name + " VALUES (7, 'kept'); COMMIT");

  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  // The message is built after the wait (an argument of the macro may be evaluated first).
  bool arrived = eventually([&] { return seen.distinct() == 4; });
  BOOST_REQUIRE_MESSAGE(arrived, seen.describe());
  std::this_thread::sleep_for(200ms); // anything more would arrive now
  client.stop();
  BOOST_TEST(seen.ids() == test::ids(4, 7));
  BOOST_TEST(seen.total() == 4u); // the first client stopped between transactions: nothing repeated
  BOOST_TEST(seen.resyncs.empty());
  BOOST_TEST(seen.errors.empty());
  BOOST_TEST(std::is_sorted(seen.positions.begin(), seen.positions.end()));
  BOOST_TEST(seen.positions.front() > 0u);
}

BOOST_AUTO_TEST_CASE(process_after_stop_finishes_the_transaction_and_nothing_after_it_is_confirmed) {
  DurableTable table;
  // A new slot is created by the client: make it exist before the writes.
  { Client client(test::conninfo(), Durable{table.slot}, fast_options()); }
  table.insert(1, 3000); // one transaction, several messages
  table.insert(3001, 3001);
  {
    Client client(test::conninfo(), Durable{table.slot}, fast_options());
    Seen seen;
    auto record = seen.callback();
    auto subscription = client.subscribe(table.label, [&](const Event &event) {
      record(event);
      client.stop(); // at the first row
    });
    BOOST_REQUIRE(
        eventually([&] { return seen.distinct() > 0 && !client.inside_transaction(); }, [&] { client.process(); }));
    BOOST_TEST(seen.ids() == test::ids(1, 3000)); // the whole transaction, not the next one
  }

  Client next(test::conninfo(), Durable{table.slot}, fast_options());
  Seen later;
  auto next_subscription = next.subscribe(table.label, later.callback());
  next.start();
  BOOST_REQUIRE(eventually([&] { return later.distinct() == 1; }));
  std::this_thread::sleep_for(200ms);
  next.stop();
  BOOST_TEST(later.ids() == test::ids(3001, 3001));
  BOOST_TEST(later.total() == 1u);
}

BOOST_AUTO_TEST_CASE(a_full_buffer_pauses_reading_and_drops_nothing) {
  DurableTable table;
  auto options = fast_options();
  options.max_buffered_bytes = 16 * 1024;
  Client client(test::conninfo(), Durable{table.slot}, options);
  Seen seen;
  seen.attach(client);
  auto record = seen.callback();
  auto subscription = client.subscribe(table.label, [&](const Event &event) {
    record(event);
    std::this_thread::sleep_for(50us); // slower than the writer
  });
  for (int batch = 0; batch < 20; ++batch)
    table.insert(batch * 500 + 1, batch * 500 + 500);
  client.start();
  bool arrived = eventually([&] { return seen.distinct() == 10'000; }, {}, 60s);
  BOOST_REQUIRE_MESSAGE(arrived, seen.distinct() << " distinct rows, " << seen.errors.size() << " errors");
  client.stop();
  BOOST_TEST(seen.total() == 10'000u);
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.errors.empty()); // no BufferOverflow: reading paused instead
}

BOOST_AUTO_TEST_CASE(watch_and_watchers_work_on_a_durable_client) {
  DurableTable table;
  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  WatchOptions options;
  options.delivery = "durable";
  BOOST_TEST(client.watch(table.name, Op::deleted, options) == table.name + "_deleted");
  bool found = false;
  for (const WatcherInfo &watcher : client.watchers())
    found = found || (watcher.label == table.name + "_deleted" && watcher.delivery == "durable");
  BOOST_TEST(found);
  bool listed = false;
  for (const SlotInfo &slot : client.slots())
    listed = listed || (slot.name == table.slot && slot.wal_status == "reserved");
  BOOST_TEST(listed);
  // A slot being read cannot be dropped; the server says so.
  client.start();
  BOOST_REQUIRE(eventually([&] {
    return test::sql_value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + table.slot + "'") == "t";
  }));
  Client other(test::conninfo());
  BOOST_CHECK_THROW(other.drop_slot(table.slot), SqlError);
  client.stop();
}

BOOST_AUTO_TEST_CASE(status_updates_keep_an_idle_stream_alive) {
  DurableTable table;
  // The server drops a replication connection that stays silent this long.
  sql("ALTER SYSTEM SET wal_sender_timeout = '2s'");
  sql("SELECT pg_reload_conf()");
  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  std::this_thread::sleep_for(4s); // idle, four timeouts long
  table.insert(1, 1);
  bool delivered = eventually([&] { return seen.distinct() == 1; });
  client.stop();
  sql("ALTER SYSTEM RESET wal_sender_timeout");
  sql("SELECT pg_reload_conf()");
  BOOST_TEST(delivered);
  BOOST_TEST(client.reconnects() == 0u); // answered every keepalive
}

// A transaction of many row changes that ectowatch ignores (a table with no
// watcher) is decoded at its commit without a byte sent for the whole time.
// The walsender must still answer the client's status requests (the output
// plugin reports progress), and the client must wait as long as the
// walsender may take to answer (half its wal_sender_timeout), or it drops a
// healthy connection and the next walsender decodes the same transaction
// again, and again.
BOOST_AUTO_TEST_CASE(a_long_silent_transaction_keeps_the_stream) {
  DurableTable table;
  std::string bulk = test::unique_name("bulk");
  sql("CREATE TABLE " + bulk + " (id int)");
  sql("ALTER SYSTEM SET wal_sender_timeout = '6s'");
  sql("SELECT pg_reload_conf()");
  ClientOptions options = fast_options();
  // A status request after 1 s of silence. The walsender, replaying the
  // transaction, sends a keepalive once half its timeout (3 s) passed since
  // it last read the client: a client that waits only two intervals (2 s)
  // drops it; one that also waits for half the timeout has 2 s to spare.
  options.health_check_interval = 1s;
  Client client(test::conninfo(), Durable{table.slot}, options);
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  BOOST_REQUIRE(eventually([&] {
    return test::sql_value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + table.slot + "'") == "t";
  }));
  const auto started = std::chrono::steady_clock::now();
  sql("BEGIN; INSERT INTO " + bulk + " SELECT generate_series(1, 3000000); INSERT INTO " + table.name +
      " VALUES (1, 'after the bulk'); COMMIT");
  bool delivered = eventually([&] { return seen.distinct() == 1; }, {}, 60s);
  const auto took = std::chrono::steady_clock::now() - started;
  client.stop();
  sql("ALTER SYSTEM RESET wal_sender_timeout");
  sql("SELECT pg_reload_conf()");
  sql("DROP TABLE " + bulk);
  BOOST_TEST_MESSAGE("the row after 3M ignored changes arrived in "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  BOOST_TEST(delivered, seen.describe());
  BOOST_TEST(client.reconnects() == 0u, seen.describe());
}

BOOST_AUTO_TEST_CASE(bad_slots_are_refused_with_what_to_do) {
  BOOST_CHECK_THROW(Client(test::conninfo(), Durable{"Billing-Worker"}), UsageError);
  BOOST_CHECK_THROW(Client(test::conninfo(), Durable{std::string(64, 'a')}), UsageError);
  BOOST_CHECK_THROW(Client(test::conninfo(), Durable{"missing_slot", /*create_slot=*/false}), UsageError);

  // A role without REPLICATION cannot read a slot: the error says what to grant.
  std::string role = test::unique_name("no_replication");
  sql("CREATE ROLE " + role + " LOGIN");
  try {
    Client client("user=" + role, Durable{"any_slot"});
    BOOST_FAIL("a role without REPLICATION read a slot");
  } catch (const ConnectionError &error) {
    BOOST_TEST(std::string(error.what()).find("ALTER ROLE name REPLICATION") != std::string::npos);
  }
  sql("DROP ROLE " + role);

  std::string foreign = test::unique_name("foreign");
  sql("SELECT pg_create_logical_replication_slot('" + foreign + "', 'test_decoding')");
  try {
    Client client(test::conninfo(), Durable{foreign});
    BOOST_FAIL("a slot of another plugin was accepted");
  } catch (const UsageError &error) {
    BOOST_TEST(std::string(error.what()).find("test_decoding") != std::string::npos);
  }
  sql("SELECT pg_drop_replication_slot('" + foreign + "')");

  // One consumer per slot: a second one is refused after a short wait.
  DurableTable table;
  Client first(test::conninfo(), Durable{table.slot}, fast_options());
  first.start();
  BOOST_REQUIRE(eventually([&] {
    return test::sql_value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + table.slot + "'") == "t";
  }));
  try {
    Client second(test::conninfo(), Durable{table.slot}, fast_options());
    BOOST_FAIL("a slot in use was accepted");
  } catch (const ConnectionError &error) {
    BOOST_TEST(std::string(error.what()).find("in use") != std::string::npos);
  }
  first.stop();
}

BOOST_AUTO_TEST_CASE(a_lost_slot_is_created_again_and_resyncs) {
  DurableTable table;
  { Client client(test::conninfo(), Durable{table.slot}, fast_options()); }
  // Let the server invalidate the slot: keep at most 1 MB of WAL for it, then
  // write and switch a few segments and checkpoint.
  sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  sql("SELECT pg_reload_conf()");
  for (int i = 0; i < 4; ++i) {
    table.insert(1000 + i, 1000 + i);
    sql("SELECT pg_switch_wal()");
  }
  sql("CHECKPOINT");
  std::string status =
      test::sql_value("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '" + table.slot + "'");
  sql("ALTER SYSTEM RESET max_slot_wal_keep_size");
  sql("SELECT pg_reload_conf()");
  BOOST_REQUIRE(status == "lost");

  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  table.insert(1, 1);
  BOOST_REQUIRE(eventually([&] { return seen.distinct() == 1; }));
  client.stop();
  BOOST_REQUIRE(seen.resyncs.size() == 1u);
  BOOST_TEST((seen.resyncs.front().reason == Resync::Reason::slot_lost));
  BOOST_TEST(test::sql_value("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '" + table.slot + "'") ==
             "reserved");
}

namespace {

// A writer commits one row per transaction while `disrupt` runs; every row
// committed must arrive at least once, with no resync. Returns duplicates.
std::size_t check_resume_after(const std::function<void()> &disrupt) {
  DurableTable table;
  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  std::atomic<bool> writing{true};
  std::set<int> committed;
  std::thread writer([&] {
    for (int id = 1; writing; ++id) {
      try {
        table.insert(id, id);
      } catch (const std::exception &) {
        // the server is restarting: this row may or may not be committed
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  disrupt();
  std::this_thread::sleep_for(500ms);
  writing = false;
  writer.join();
  // An INSERT whose connection broke may still have committed: the table says.
  std::string rows = test::sql_value("SELECT string_agg(id::text, ',' ORDER BY id) FROM " + table.name);
  committed.clear();
  for (std::size_t start = 0; start < rows.size();) {
    std::size_t comma = std::min(rows.find(',', start), rows.size());
    committed.insert(std::stoi(rows.substr(start, comma - start)));
    start = comma + 1;
  }
  BOOST_REQUIRE(eventually([&] { return seen.ids() == committed; }, {}, 30s));
  client.stop();
  BOOST_TEST(client.reconnects() >= 1u);
  std::lock_guard lock(seen.mutex);
  BOOST_TEST(seen.resyncs.size() == 1u); // the slot's creation only
  std::size_t duplicates = 0;
  for (const auto &[id, times] : seen.deliveries)
    duplicates += static_cast<std::size_t>(times - 1);
  BOOST_TEST_MESSAGE(committed.size() << " rows committed, " << duplicates << " delivered twice");
  return duplicates;
}

void run_command(const char *variable) {
  const char *command = std::getenv(variable);
  BOOST_REQUIRE_MESSAGE(command, std::string(variable) + " is not set (scripts/test sets it)");
  BOOST_REQUIRE(std::system(command) == 0);
}

} // namespace

BOOST_AUTO_TEST_CASE(resumes_after_its_walsender_is_terminated_with_nothing_lost) {
  check_resume_after([] {
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'ectowatch durable test'");
  });
}

BOOST_AUTO_TEST_CASE(resumes_after_an_immediate_server_restart_with_nothing_lost) {
  check_resume_after([] { run_command("ECTOWATCH_TEST_RESTART_IMMEDIATE"); });
}

// stats() of a durable client: what it read, and the position it confirmed
// once the callbacks had returned; on_log says the slot was created.
BOOST_AUTO_TEST_CASE(stats_count_slot_messages_and_the_confirmed_position) {
  DurableTable table;
  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  std::mutex mutex;
  std::vector<std::string> lines;
  client.on_log([&](LogLevel, std::string_view text) {
    std::lock_guard lock(mutex);
    lines.emplace_back(text);
  });
  Seen seen;
  seen.attach(client);
  auto subscription = client.subscribe(table.label, seen.callback());
  client.start();
  table.insert(1, 50);
  table.insert(51, 51);
  BOOST_REQUIRE_MESSAGE(eventually([&] { return seen.distinct() == 51; }), seen.describe());
  std::uint64_t last = 0;
  {
    std::lock_guard lock(seen.mutex);
    last = seen.positions.back();
  }
  // Confirmed a little after the callbacks (status updates are batched).
  BOOST_REQUIRE(eventually([&] { return client.stats().confirmed_lsn >= last; }));
  client.stop();
  Stats stats = client.stats();
  BOOST_TEST(stats.events == 51u);
  BOOST_TEST(stats.messages >= 2u); // the two statements' messages (a message holds what fits)
  BOOST_TEST(stats.bytes > 0u);
  BOOST_TEST(stats.resyncs_for(Resync::Reason::slot_created) == 1u);
  BOOST_TEST(stats.decode_errors == 0u);
  std::lock_guard lock(mutex);
  BOOST_TEST(std::count(lines.begin(), lines.end(), "replication slot \"" + table.slot + "\" created") == 1);
}

// A batch subscription on a slot: a statement's rows in one call per
// message, and nothing is confirmed before the call has returned (the
// position of a message is done only after its batch callback).
BOOST_AUTO_TEST_CASE(batch_subscriptions_on_a_slot_get_a_statements_rows_at_once) {
  DurableTable table;
  Client client(test::conninfo(), Durable{table.slot}, fast_options());
  std::mutex mutex;
  std::vector<std::size_t> sizes;
  std::atomic<std::size_t> rows{0};
  std::atomic<bool> confirmed_early{false};
  auto subscription = client.subscribe_batch(table.label, [&](std::span<const Event> events) {
    // The message being delivered is not confirmed yet.
    if (client.stats().confirmed_lsn >= events.front().message().lsn)
      confirmed_early = true;
    std::lock_guard lock(mutex);
    sizes.push_back(events.size());
    rows += events.size();
  });
  client.start();
  table.insert(1, 100);
  BOOST_REQUIRE(eventually([&] { return rows == 100; }));
  client.stop();
  std::lock_guard lock(mutex);
  BOOST_TEST(sizes.size() < 10u); // few messages for 100 rows, each one call
  BOOST_TEST(!confirmed_early);
}
