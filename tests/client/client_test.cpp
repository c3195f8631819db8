// The client against the real server started by scripts/test: subscriptions
// of every kind, decoding, errors, coalescing, threads and reconnects.
#define BOOST_TEST_MODULE client
#include <boost/test/unit_test.hpp>

#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;
using test::sql;

namespace {

// Collects what callbacks receive; safe to read from the test thread.
struct Recorder {
  std::mutex mutex;
  std::vector<Event> events;
  std::vector<std::string> errors;
  std::vector<Resync> resyncs;

  EventCallback callback() {
    return [this](const Event &event) {
      std::lock_guard lock(mutex);
      events.push_back(event);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  std::size_t error_count() {
    std::lock_guard lock(mutex);
    return errors.size();
  }
  std::vector<std::string> rows() {
    std::lock_guard lock(mutex);
    std::vector<std::string> result;
    for (const Event &event : events)
      result.push_back(event.kind() == Event::Kind::row ? event.row().json() : "<event>");
    return result;
  }
  void attach(Client &client) {
    client.on_error([this](const Error &error) {
      std::lock_guard lock(mutex);
      errors.push_back(error.what());
    });
    client.on_resync([this](const Resync &resync) {
      std::lock_guard lock(mutex);
      resyncs.push_back(resync);
    });
  }
};

// A fresh table with its watchers; dropped at the end of the test.
struct Table {
  std::string name;
  explicit Table(const std::string &columns, const std::string &stem = "t") : name(test::unique_name(stem)) {
    sql("CREATE TABLE " + name + " (" + columns + ")");
  }
  ~Table() {
    try {
      sql("DROP TABLE IF EXISTS " + name + " CASCADE");
    } catch (...) {
    }
  }
  std::string watch(const std::string &op, const std::string &options = "") {
    return test::sql_value("SELECT ectowatch_watch('" + name + "', '" + op + "'" + options + ")");
  }
};

ClientOptions fast_options() {
  ClientOptions options;
  options.reconnect_initial = 20ms;
  options.reconnect_max = 200ms;
  options.health_check_interval = 500ms;
  options.application_name = test::unique_name("ectowatch_test");
  return options;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_row_of_a_packed_message_is_its_own_event) {
  Table table("id int PRIMARY KEY, name text");
  auto label = table.watch("inserted", ", extra_columns => ARRAY['name']");
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback());
  sql("INSERT INTO " + table.name + " SELECT i, 'n' || i FROM generate_series(1, 500) i");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 500; }, [&] { client.process(); }));
  auto rows = recorder.rows();
  BOOST_TEST(rows.front() == R"({"id":1,"name":"n1"})");
  BOOST_TEST(rows.back() == R"({"id":500,"name":"n500"})");
  for (std::size_t i = 0; i < rows.size(); ++i)
    BOOST_TEST(recorder.events[i].row().get<int>("id") == static_cast<int>(i + 1));
  const Event &event = recorder.events.front();
  BOOST_TEST(event.label() == label);
  BOOST_TEST(event.table() == "public." + table.name);
  BOOST_TEST((event.op() == Op::inserted));
  BOOST_TEST(event.key_columns() == std::vector<std::string>{"id"});
  // 500 rows in few messages, not 500 notifications.
  std::set<const Message *> messages;
  for (const Event &e : recorder.events)
    messages.insert(&e.message());
  BOOST_TEST(messages.size() < 10u);
}

BOOST_AUTO_TEST_CASE(key_subscriptions_see_only_their_record_composite_keys_too) {
  Table table("region text, id int, v int, PRIMARY KEY (region, id)");
  auto label = table.watch("updated");
  Client client(test::conninfo(), fast_options());
  Recorder eu7, us7, all;
  auto a = client.subscribe(label, Key{"eu", 7}, eu7.callback());
  auto b = client.subscribe(label, Key{"us", 7}, us7.callback());
  auto c = client.subscribe(label, all.callback());
  sql("INSERT INTO " + table.name + " VALUES ('eu', 7, 0), ('us', 7, 0), ('eu', 8, 0)");
  sql("UPDATE " + table.name + " SET v = v + 1");
  sql("UPDATE " + table.name + " SET v = v + 1 WHERE region = 'eu' AND id = 7");
  BOOST_REQUIRE(eventually([&] { return all.count() == 4; }, [&] { client.process(); }));
  BOOST_TEST(eu7.count() == 2u);
  BOOST_TEST(us7.count() == 1u);
  BOOST_TEST(us7.rows().front() == R"({"region":"us","id":7})");
}

BOOST_AUTO_TEST_CASE(column_filters_match_key_or_extra_values_all_conditions) {
  Table table("id int PRIMARY KEY, post_id int, author text");
  auto label = table.watch("deleted", ", extra_columns => ARRAY['post_id', 'author']");
  Client client(test::conninfo(), fast_options());
  Recorder post7, post7_ann, by_id, all;
  auto a = client.subscribe(label, ColumnFilter{"post_id", 7}, post7.callback());
  auto b = client.subscribe(label, ColumnFilter({{"post_id", "7"}, {"author", "ann"}}), post7_ann.callback());
  auto c = client.subscribe(label, "id", 3, by_id.callback());
  auto d = client.subscribe(label, all.callback());
  sql("INSERT INTO " + table.name + " VALUES (1, 7, 'ann'), (2, 7, 'bob'), (3, 8, 'ann'), (4, NULL, NULL)");
  sql("DELETE FROM " + table.name);
  BOOST_REQUIRE(eventually([&] { return all.count() == 4; }, [&] { client.process(); }));
  BOOST_TEST(post7.count() == 2u);
  BOOST_TEST(post7_ann.rows() == std::vector<std::string>{R"({"id":1,"post_id":7,"author":"ann"})"});
  BOOST_TEST(by_id.rows() == std::vector<std::string>{R"({"id":3,"post_id":8,"author":"ann"})"});
}

BOOST_AUTO_TEST_CASE(several_subscribers_of_one_row_each_get_it_in_subscription_order) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  std::vector<int> order;
  auto first = client.subscribe(label, [&](const Event &) { order.push_back(1); });
  auto second = client.subscribe(label, Key{1}, [&](const Event &) { order.push_back(2); });
  auto third = client.subscribe(label, [&](const Event &) { order.push_back(3); });
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return order.size() == 3; }, [&] { client.process(); }));
  BOOST_TEST(order == std::vector<int>({1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(unsubscribed_callbacks_are_not_called_again) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  Recorder kept, dropped;
  auto keep = client.subscribe(label, kept.callback());
  auto gone = client.subscribe(label, dropped.callback());
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return kept.count() == 1 && dropped.count() == 1; }, [&] { client.process(); }));
  gone.reset();
  BOOST_TEST(!gone.active());
  sql("INSERT INTO " + table.name + " VALUES (2)");
  BOOST_REQUIRE(eventually([&] { return kept.count() == 2; }, [&] { client.process(); }));
  BOOST_TEST(dropped.count() == 1u);
  // The last subscription goes: the channel is unlistened, nothing arrives, no error.
  keep.reset();
  Recorder errors;
  errors.attach(client);
  sql("INSERT INTO " + table.name + " VALUES (3)");
  for (int i = 0; i < 20; ++i) {
    client.process();
    std::this_thread::sleep_for(5ms);
  }
  BOOST_TEST(kept.count() == 2u);
  BOOST_TEST(errors.error_count() == 0u);
  // The label comes back with a new subscription, which alone gets the next
  // row (the registry forgot the label it had matched last: ASan would see a
  // stale one).
  Recorder again;
  auto back = client.subscribe(label, again.callback());
  sql("INSERT INTO " + table.name + " VALUES (4)");
  BOOST_REQUIRE(eventually([&] { return again.count() == 1; }, [&] { client.process(); }));
  BOOST_TEST(again.rows() == std::vector<std::string>{R"({"id":4})"});
  BOOST_TEST(kept.count() == 2u);
  back.reset();
  // A Subscription may outlive its client.
  Subscription outliving;
  {
    Client short_lived(test::conninfo(), fast_options());
    outliving = short_lived.subscribe(label, [](const Event &) {});
  }
  outliving.reset();
}

BOOST_AUTO_TEST_CASE(typed_values_round_trip) {
  Table table("id bigint PRIMARY KEY, n numeric, f float8, b boolean, t text, ts timestamptz, d date, "
              "u uuid, by bytea, j jsonb, arr int[], nothing text");
  auto label =
      table.watch("inserted", ", extra_columns => ARRAY['n','f','b','t','ts','d','u','by','j','arr','nothing']");
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback());
  sql("SET TimeZone = 'Asia/Tokyo'; INSERT INTO " + table.name +
      " VALUES (-9223372036854775808, 3.14159265358979323846264338327950288, 1e-7, false, "
      "E'line\\nquote\" slash\\\\ tab\\t ünï', '2024-06-01 09:00:00+09', '2024-06-01', "
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x0001ff', '{\"k\": [1, \"v\"]}', ARRAY[1,2], NULL)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }, [&] { client.process(); }));
  const Row &row = recorder.events.front().row();
  BOOST_TEST(row.get<std::int64_t>("id") == INT64_MIN);
  BOOST_TEST(row.get<std::string>("n") == "3.14159265358979323846264338327950288");
  BOOST_TEST(row.get<std::string>("f") == "1e-07");
  BOOST_TEST(row.get<bool>("b") == false);
  BOOST_TEST(row.get<std::string>("t") == "line\nquote\" slash\\ tab\t ünï");
  BOOST_TEST(row.get<std::string>("ts") == "2024-06-01T00:00:00+00:00");
  BOOST_TEST(row.get<std::string>("d") == "2024-06-01");
  BOOST_TEST(row.get<std::string>("u") == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  BOOST_TEST(row.get<std::string>("by") == "\\x0001ff");
  BOOST_TEST(row.at("j").json() == R"({"k": [1, "v"]})");
  BOOST_TEST(row.get<std::string>("arr") == "{1,2}");
  BOOST_TEST(row.is_null("nothing"));
}

BOOST_AUTO_TEST_CASE(composite_keys_of_mixed_types_round_trip_and_match) {
  sql("DO $$ BEGIN CREATE TYPE ectowatch_test_mood AS ENUM ('ok', 'sad'); EXCEPTION WHEN duplicate_object THEN NULL; "
      "END $$");
  Table table("u uuid, at timestamptz, name text, n numeric, flag boolean, day date, big bigint, "
              "mood ectowatch_test_mood, raw bytea, tags text[], nothing int, "
              "PRIMARY KEY (u, at, name, n, flag, day, big)");
  auto label = table.watch("inserted", ", extra_columns => ARRAY['mood', 'raw', 'tags', 'nothing']");
  Client client(test::conninfo(), fast_options());
  Recorder exact, wrong;
  const std::string name = "quote \" back\\slash\nnew line\ttab \u00e9 \u2713 \x01";
  auto a = client.subscribe(label,
                            Key{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-06-01T00:00:00+00:00", name, "12.50",
                                true, "2024-02-29", INT64_MIN},
                            exact.callback());
  // The same key with the timestamp written in another zone does not match:
  // keys are compared as the message renders them (UTC).
  auto b = client.subscribe(label,
                            Key{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-06-01T09:00:00+09:00", name, "12.50",
                                true, "2024-02-29", INT64_MIN},
                            wrong.callback());
  sql("SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'German'; INSERT INTO " + table.name +
      " VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-06-01 09:00:00+09', "
      "E'quote \" back\\\\slash\\nnew line\\ttab \u00e9 \u2713 \\x01', 12.50, true, '2024-02-29', "
      "-9223372036854775808, 'sad', '\\xdeadbeef', ARRAY['x', 'y z'], NULL)");
  BOOST_REQUIRE(eventually([&] { return exact.count() == 1; }, [&] { client.process(); }));
  BOOST_TEST(wrong.count() == 0u);
  const Row &row = exact.events.front().row();
  BOOST_TEST(row.get<std::string>("name") == name);
  BOOST_TEST(row.get<std::string>("n") == "12.50");
  BOOST_TEST(row.get<std::int64_t>("big") == INT64_MIN);
  BOOST_TEST(row.get<std::string>("day") == "2024-02-29");
  BOOST_TEST(row.get<std::string>("mood") == "sad");
  BOOST_TEST(row.get<std::string>("raw") == "\\xdeadbeef");
  BOOST_TEST(row.get<std::string>("tags") == "{x,\"y z\"}");
  BOOST_TEST(row.is_null("nothing"));
  sql("DROP TABLE " + table.name);
  sql("DROP TYPE ectowatch_test_mood");
}

BOOST_AUTO_TEST_CASE(malformed_messages_go_to_the_error_callback_and_are_skipped) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  recorder.attach(client);
  auto subscription = client.subscribe(label, recorder.callback());
  for (std::string payload :
       {std::string("garbage"), std::string("{\"v\":9}"),
        std::string(R"({"v":1,"op":"inserted","table":"x","label":"other","key":["id"],"rows":[]})"),
        std::string(R"({"v":1,"op":"inserted","table":"x","label":")") + label + R"(","key":["id"],"rows":[{"id":)"})
    sql("SELECT pg_notify('" + label + "', $$" + payload + "$$)");
  sql("INSERT INTO " + table.name + " VALUES (5)");
  BOOST_REQUIRE(
      eventually([&] { return recorder.count() == 1 && recorder.error_count() == 4; }, [&] { client.process(); }));
  BOOST_TEST(recorder.rows().front() == R"({"id":5})");
  BOOST_TEST(recorder.errors.front().find("malformed JSON") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_does_not_stop_the_others) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  recorder.attach(client);
  auto thrower = client.subscribe(label, [](const Event &) { throw std::runtime_error("boom"); });
  auto normal = client.subscribe(label, recorder.callback());
  sql("INSERT INTO " + table.name + " VALUES (1), (2)");
  BOOST_REQUIRE(
      eventually([&] { return recorder.count() == 2 && recorder.error_count() == 2; }, [&] { client.process(); }));
  BOOST_TEST(recorder.errors.front().find("boom") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(coalescing_delivers_the_first_at_once_and_the_latest_after_the_window) {
  Table table("id int PRIMARY KEY, v int");
  auto label = table.watch("updated", ", extra_columns => ARRAY['v']");
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback(), SubscribeOptions{.coalesce = 300ms});
  sql("INSERT INTO " + table.name + " VALUES (1, 0), (2, 0)");
  for (int i = 1; i <= 5; ++i)
    sql("UPDATE " + table.name + " SET v = " + std::to_string(i) + " WHERE id = 1");
  sql("UPDATE " + table.name + " SET v = 100 WHERE id = 2");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 3; }, [&] { client.process(); }));
  for (int i = 0; i < 20; ++i) { // nothing more comes
    client.process();
    std::this_thread::sleep_for(20ms);
  }
  auto rows = recorder.rows();
  BOOST_REQUIRE_EQUAL(rows.size(), 3u);
  BOOST_TEST(rows[0] == R"({"id":1,"v":1})");
  BOOST_TEST(rows[1] == R"({"id":2,"v":100})");
  BOOST_TEST(rows[2] == R"({"id":1,"v":5})");
}

BOOST_AUTO_TEST_CASE(dropped_and_truncated_reach_every_subscriber_and_resync_the_label) {
  Table table("id text PRIMARY KEY");
  auto label = table.watch("deleted");
  Client client(test::conninfo(), fast_options());
  Recorder all, one;
  all.attach(client);
  auto a = client.subscribe(label, all.callback());
  auto b = client.subscribe(label, Key{"x"}, one.callback());
  sql("INSERT INTO " + table.name + " VALUES (repeat('k', 8000)), ('x')");
  sql("DELETE FROM " + table.name + " WHERE id <> 'x'");
  sql("TRUNCATE " + table.name);
  BOOST_REQUIRE(eventually([&] { return all.count() == 2 && one.count() == 2; }, [&] { client.process(); }));
  BOOST_TEST((all.events[0].kind() == Event::Kind::dropped));
  BOOST_TEST(all.events[0].dropped() == 1u);
  BOOST_TEST((all.events[1].kind() == Event::Kind::truncated));
  BOOST_REQUIRE_EQUAL(all.resyncs.size(), 2u);
  BOOST_TEST((all.resyncs[0].reason == Resync::Reason::dropped));
  BOOST_TEST((all.resyncs[1].reason == Resync::Reason::truncated));
  BOOST_TEST(all.resyncs[1].label == label);
}

BOOST_AUTO_TEST_CASE(watch_unwatch_and_watchers_from_the_client) {
  Table table("id int PRIMARY KEY, email text");
  Client client(test::conninfo(), fast_options());
  WatchOptions options;
  options.label = table.name + "_mail";
  options.trigger_columns = {"email"};
  BOOST_TEST(client.watch(table.name, Op::updated, options) == table.name + "_mail");
  bool listed = false;
  for (const WatcherInfo &watcher : client.watchers())
    if (watcher.label == table.name + "_mail") {
      listed = true;
      BOOST_TEST(watcher.trigger_columns == std::vector<std::string>{"email"});
      BOOST_TEST(watcher.key_columns == std::vector<std::string>{"id"});
    }
  BOOST_TEST(listed);
  try {
    WatchOptions bad;
    bad.extra_columns = {"nope"};
    client.watch(table.name, Op::updated, bad);
    BOOST_FAIL("watch with an unknown column succeeded");
  } catch (const SqlError &error) {
    BOOST_TEST(error.sqlstate() == "42703");
    BOOST_TEST(!error.hint().empty());
  }
  BOOST_TEST(client.unwatch(table.name + "_mail"));
  BOOST_TEST(!client.unwatch(table.name + "_mail"));
}

BOOST_AUTO_TEST_CASE(threads_subscribe_and_unsubscribe_while_events_flow) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  Recorder steady;
  auto keep = client.subscribe(label, steady.callback());
  client.start();
  std::atomic<bool> done{false};
  std::atomic<int> churned{0};
  std::vector<std::thread> churners;
  for (int t = 0; t < 3; ++t)
    churners.emplace_back([&] {
      while (!done) {
        auto s = client.subscribe(label, [](const Event &) {});
        auto k = client.subscribe(label, Key{churned.load()}, [](const Event &) {});
        ++churned;
      }
    });
  for (int i = 0; i < 200; ++i)
    sql("INSERT INTO " + table.name + " VALUES (" + std::to_string(i) + ")");
  BOOST_REQUIRE(eventually([&] { return steady.count() == 200; }));
  done = true;
  for (auto &thread : churners)
    thread.join();
  client.stop();
  BOOST_TEST(churned > 0);
  auto rows = steady.rows();
  for (int i = 0; i < 200; ++i)
    BOOST_TEST(rows[i] == R"({"id":)" + std::to_string(i) + "}");
}

BOOST_AUTO_TEST_CASE(unsubscribing_from_inside_a_callback) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  int calls = 0;
  Subscription self;
  self = client.subscribe(label, [&](const Event &) {
    ++calls;
    self.reset();
  });
  sql("INSERT INTO " + table.name + " VALUES (1), (2), (3)");
  client.start();
  std::this_thread::sleep_for(300ms);
  client.stop();
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(reconnects_after_the_backend_is_terminated) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto options = fast_options();
  Client client(test::conninfo(), options);
  Recorder recorder;
  recorder.attach(client);
  auto subscription = client.subscribe(label, recorder.callback());
  client.start();
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }));
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + options.application_name +
      "'");
  BOOST_REQUIRE(eventually([&] {
    std::lock_guard lock(recorder.mutex);
    return !recorder.resyncs.empty();
  }));
  BOOST_TEST((recorder.resyncs.front().reason == Resync::Reason::reconnected));
  BOOST_TEST(client.reconnects() == 1u);
  sql("INSERT INTO " + table.name + " VALUES (2)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 2; }));
  BOOST_TEST(recorder.rows().back() == R"({"id":2})");
  client.stop();
}

namespace {

// Restarts the server with `restart` while a client listens and a writer
// keeps inserting; the client must reconnect, resync once, report the loss,
// and deliver the rows committed after the reconnect.
void check_reconnect_after(const std::function<void(const ClientOptions &)> &disrupt) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto options = fast_options();
  Client client(test::conninfo(), options);
  Recorder recorder;
  recorder.attach(client);
  std::atomic<int> plain_resyncs{0};
  client.on_resync([&] { ++plain_resyncs; });
  auto subscription = client.subscribe(label, recorder.callback());
  client.start();

  std::atomic<bool> writing{true};
  std::atomic<int> next_id{1};
  std::mutex written_mutex;
  std::set<int> written; // committed: only these must arrive
  std::thread writer([&] {
    while (writing) {
      int id = next_id.fetch_add(1);
      try {
        sql("INSERT INTO " + table.name + " VALUES (" + std::to_string(id) + ")");
        std::lock_guard lock(written_mutex);
        written.insert(id);
      } catch (const std::exception &) {
        // the server is restarting (or the machine is too busy to connect):
        // this id is never written, so it is not expected
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  BOOST_REQUIRE(eventually([&] { return recorder.count() >= 5; })); // events flow
  disrupt(options);
  BOOST_REQUIRE(eventually([&] { return plain_resyncs.load() == 1; }, {}, 30s));
  int after_reconnect = next_id.load(); // written (and committed) after the reconnect
  auto seen = [&](int id) {
    std::lock_guard lock(recorder.mutex);
    for (const Event &event : recorder.events)
      if (event.row().get<int>("id") == id)
        return true;
    return false;
  };
  BOOST_REQUIRE(eventually([&] { return next_id.load() > after_reconnect + 5; }, {}, 30s));
  writing = false;
  writer.join();
  int committed_after = 0;
  for (int id = after_reconnect; id < next_id.load(); ++id)
    if (written.count(id)) {
      ++committed_after;
      BOOST_TEST(eventually([&] { return seen(id); }), "row " << id << " committed after the reconnect was delivered");
    }
  BOOST_TEST(committed_after > 0);
  BOOST_TEST(client.connected());
  BOOST_TEST(recorder.error_count() >= 1u); // the lost connection was reported
  BOOST_TEST(plain_resyncs.load() == 1);
  client.stop();
}

const char *required_env(const char *name) {
  const char *value = std::getenv(name);
  BOOST_REQUIRE_MESSAGE(value, std::string(name) + " is not set: scripts/test sets it");
  return value;
}

} // namespace

std::function<void(const ClientOptions &)> run_command(const char *command) {
  return [command](const ClientOptions &) { BOOST_REQUIRE_EQUAL(std::system(command), 0); };
}

BOOST_AUTO_TEST_CASE(reconnects_after_a_fast_server_restart_while_events_flow) {
  check_reconnect_after(run_command(required_env("ECTOWATCH_TEST_RESTART")));
}

BOOST_AUTO_TEST_CASE(reconnects_after_an_immediate_server_restart_while_events_flow) {
  check_reconnect_after(run_command(required_env("ECTOWATCH_TEST_RESTART_IMMEDIATE")));
}

BOOST_AUTO_TEST_CASE(reconnects_after_its_backend_is_terminated_while_events_flow) {
  check_reconnect_after([](const ClientOptions &options) {
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + options.application_name +
        "'");
  });
}

BOOST_AUTO_TEST_CASE(labels_that_need_quoting_as_channels) {
  // A mixed-case label (the default for a mixed-case table) is a channel that
  // must be quoted in LISTEN.
  std::string table = test::unique_name("Mixed Case");
  sql("CREATE TABLE \"" + table + "\" (\"Key Col\" int PRIMARY KEY)");
  auto label = test::sql_value("SELECT ectowatch_watch('\"" + table + "\"', 'inserted')");
  BOOST_TEST(label.find('M') == 0u);
  Client client(test::conninfo(), fast_options());
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback());
  sql("INSERT INTO \"" + table + "\" VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }, [&] { client.process(); }));
  BOOST_TEST(recorder.events.front().row().get<int>("Key Col") == 1);
  BOOST_TEST(recorder.events.front().table() == "public.\"" + table + "\"");
  sql("DROP TABLE \"" + table + "\"");
}

BOOST_AUTO_TEST_CASE(a_slow_consumer_overflows_a_bounded_buffer_and_resyncs) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto options = fast_options();
  options.max_buffered_bytes = 8000;
  Client client(test::conninfo(), options);
  std::atomic<std::uint64_t> delivered{0}, dropped_rows{0}, overflows{0};
  std::atomic<std::size_t> max_seen{0};
  client.on_error([&](const Error &error) {
    if (auto *overflow = dynamic_cast<const BufferOverflow *>(&error))
      dropped_rows += overflow->rows();
  });
  client.on_resync([&](const Resync &resync) {
    if (resync.reason == Resync::Reason::overflow)
      ++overflows;
  });
  auto subscription = client.subscribe(label, [&](const Event &) {
    std::this_thread::sleep_for(1ms);
    ++delivered;
  });
  client.start();
  const int sent = 2000;
  std::thread sender([&] {
    sql("SELECT count(pg_notify('" + label + "', '{\"v\":1,\"op\":\"inserted\",\"table\":\"t\",\"label\":\"" + label +
        "\",\"key\":[\"id\"],\"rows\":[{\"id\":' || i || '}]}')) FROM generate_series(1, " + std::to_string(sent) +
        ") i");
  });
  BOOST_REQUIRE(eventually(
      [&] {
        max_seen = std::max(max_seen.load(), client.buffered_bytes());
        return delivered + dropped_rows == static_cast<std::uint64_t>(sent);
      },
      {}, 30s));
  sender.join();
  client.stop();
  BOOST_TEST(overflows > 0u);
  BOOST_TEST(dropped_rows > 0u);
  BOOST_TEST(delivered > 0u);
  BOOST_TEST(max_seen <= options.max_buffered_bytes);
}

BOOST_AUTO_TEST_CASE(a_server_down_at_start_up_is_retried_in_the_background) {
  const char *stop = required_env("ECTOWATCH_TEST_STOP");
  const char *start = required_env("ECTOWATCH_TEST_START");
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  BOOST_REQUIRE_EQUAL(std::system(stop), 0);
  auto options = fast_options();
  options.connect_in_background = true;
  std::unique_ptr<Client> client;
  BOOST_CHECK_NO_THROW(client = std::make_unique<Client>(test::conninfo(), options));
  Recorder recorder;
  recorder.attach(*client);
  auto subscription = client->subscribe(label, recorder.callback());
  client->start();
  BOOST_TEST(eventually([&] { return recorder.error_count() >= 2; })); // retried, and said so
  BOOST_TEST(!client->connected());
  BOOST_REQUIRE_EQUAL(std::system(start), 0);
  BOOST_REQUIRE(eventually([&] { return client->connected(); }, {}, 30s));
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }));
  client->stop();
}

BOOST_AUTO_TEST_CASE(run_blocks_until_stop) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  Client client(test::conninfo(), fast_options());
  auto subscription = client.subscribe(label, [&](const Event &) { client.stop(); });
  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    sql("INSERT INTO " + table.name + " VALUES (1)");
  });
  client.run(); // returns once the callback has stopped it
  writer.join();
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(connecting_to_nothing_throws_a_connection_error) {
  BOOST_CHECK_THROW(Client("host=/nonexistent port=1 connect_timeout=2"), ConnectionError);
}

// The README's cache recipe reloads in the simple on_resync: it must run for
// a single label's TRUNCATE and dropped rows too, not only when everything
// may be stale.
BOOST_AUTO_TEST_CASE(the_simple_on_resync_runs_on_truncate_and_dropped) {
  Table table("id text PRIMARY KEY");
  auto label = table.watch("deleted");
  Client client(test::conninfo(), fast_options());
  std::atomic<int> resyncs{0};
  client.on_resync([&] { ++resyncs; });
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback());
  sql("TRUNCATE " + table.name);
  BOOST_REQUIRE(eventually([&] { return resyncs == 1; }, [&] { client.process(); }));
  sql("INSERT INTO " + table.name + " VALUES (repeat('k', 8000))");
  sql("DELETE FROM " + table.name);
  BOOST_REQUIRE(eventually([&] { return resyncs == 2; }, [&] { client.process(); }));
  BOOST_TEST(recorder.count() == 2u);
}

BOOST_AUTO_TEST_CASE(resync_reasons_have_names) {
  BOOST_TEST(to_string(Resync::Reason::reconnected) == "reconnected");
  BOOST_TEST(to_string(Resync::Reason::truncated) == "truncated");
  BOOST_TEST(to_string(Resync::Reason::dropped) == "dropped");
  BOOST_TEST(to_string(Resync::Reason::overflow) == "overflow");
  BOOST_TEST(to_string(Resync::Reason::slot_created) == "slot_created");
  BOOST_TEST(to_string(Resync::Reason::slot_lost) == "slot_lost");
  BOOST_TEST(to_string(Resync::Reason::relay_lost) == "relay_lost");
  BOOST_TEST(to_string(Resync::Reason::consumer_created) == "consumer_created");
  BOOST_TEST(to_string(Resync::Reason::aged_out) == "aged_out");
  BOOST_TEST(to_string(Resync::Reason::consumer_lost) == "consumer_lost");
}

// Destroying the Client from inside its own callback used to abort the
// process (a joinable std::thread destroyed); it is safe in every mode.
BOOST_AUTO_TEST_CASE(destroying_the_client_inside_its_callback_with_start) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto client = std::make_unique<Client>(test::conninfo(), fast_options());
  std::atomic<bool> destroyed{false};
  Subscription subscription = client->subscribe(label, [&](const Event &) {
    client.reset();
    destroyed = true;
  });
  client->start();
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return destroyed.load(); }));
  subscription.reset();               // after its client: nothing to do
  std::this_thread::sleep_for(100ms); // the detached dispatch thread ends
  BOOST_TEST(!client);
}

BOOST_AUTO_TEST_CASE(destroying_the_client_inside_its_callback_with_process_and_run) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  for (bool use_run : {false, true}) {
    auto client = std::make_unique<Client>(test::conninfo(), fast_options());
    int calls = 0;
    Subscription subscription = client->subscribe(label, [&](const Event &) {
      ++calls;
      client.reset();
    });
    // Two messages: dispatch stops after the message whose callback destroyed the client.
    sql("INSERT INTO " + table.name + " VALUES (" + std::to_string(use_run ? 2 : 1) + ")");
    sql("INSERT INTO " + table.name + " VALUES (" + std::to_string(use_run ? 20 : 10) + ")");
    if (use_run) {
      Client *raw = client.get();
      raw->run(); // returns: destroying the client stopped it
    } else {
      Client *raw = client.get();
      BOOST_REQUIRE(eventually([&] { return !client; },
                               [&] {
                                 if (client)
                                   raw->process();
                               }));
    }
    BOOST_TEST(calls == 1); // dispatch stopped after the callback that destroyed it
  }
}

// The event-loop contract: a loop that waits on socket() at most
// next_timeout() and calls process() notices a terminated backend, is told
// by on_connection, and is connected again without waiting for a timer of
// its own.
BOOST_AUTO_TEST_CASE(an_event_loop_reconnects_at_once_guided_by_next_timeout) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto options = fast_options();
  options.health_check_interval = 30s; // a timer of that length would lose the test
  Client client(test::conninfo(), options);
  std::vector<bool> changes;
  client.on_connection([&](bool connected) { changes.push_back(connected); });
  Recorder recorder;
  auto subscription = client.subscribe(label, recorder.callback());
  BOOST_TEST((client.next_timeout() <= 30s));
  client.process();
  BOOST_TEST((changes == std::vector<bool>{true}));
  auto loop_once = [&] {
    pollfd fd{client.socket(), POLLIN, 0};
    ::poll(&fd, fd.fd >= 0 ? 1 : 0, static_cast<int>(client.next_timeout().count()));
    client.process();
  };
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + options.application_name +
      "'");
  auto start = std::chrono::steady_clock::now();
  BOOST_REQUIRE(eventually([&] { return changes.size() == 3; }, loop_once, 5s));
  BOOST_TEST((changes == std::vector<bool>{true, false, true}));
  BOOST_TEST(client.connected());
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }, loop_once));
}

namespace {

// What batch subscriptions receive: one entry per call.
struct BatchRecorder {
  std::mutex mutex;
  std::vector<std::vector<Event>> calls;

  BatchCallback callback() {
    return [this](std::span<const Event> events) {
      std::lock_guard lock(mutex);
      calls.emplace_back(events.begin(), events.end());
    };
  }
  std::size_t rows() {
    std::lock_guard lock(mutex);
    std::size_t total = 0;
    for (const auto &call : calls)
      total += call.size();
    return total;
  }
};

std::set<const Message *> messages_of(const std::vector<Event> &events) {
  std::set<const Message *> messages;
  for (const Event &event : events)
    messages.insert(&event.message());
  return messages;
}

} // namespace

// A cache reloads a statement's rows with one query: subscribe_batch hands
// it every row of a message that the subscription wants, in one call.
BOOST_AUTO_TEST_CASE(batch_subscriptions_get_each_messages_rows_in_one_call_filters_apply) {
  Table table("id int PRIMARY KEY, grp int");
  auto label = table.watch("inserted", ", extra_columns => ARRAY['grp']");
  Client client(test::conninfo(), fast_options());
  Recorder single;
  BatchRecorder all, odd;
  auto a = client.subscribe(label, single.callback());
  auto b = client.subscribe_batch(label, all.callback());
  auto c = client.subscribe_batch(label, ColumnFilter{"grp", 1}, odd.callback());
  // One transaction, three statements: 300 rows and 2 rows, then 1 row.
  sql("BEGIN; INSERT INTO " + table.name + " SELECT i, i % 2 FROM generate_series(1, 300) i; INSERT INTO " +
      table.name + " VALUES (1001, 1), (1002, 0); INSERT INTO " + table.name + " VALUES (1003, 0); COMMIT");
  BOOST_REQUIRE(eventually([&] { return single.count() == 303 && all.rows() == 303; }, [&] { client.process(); }));
  BOOST_REQUIRE(eventually([&] { return odd.rows() == 151; }, [&] { client.process(); }));

  // One call per message, with the message's rows in order, never empty.
  std::set<const Message *> messages = messages_of(single.events);
  BOOST_TEST(all.calls.size() == messages.size());
  BOOST_TEST(messages.size() < 10u); // 303 rows packed into few messages: batches of many rows
  std::vector<int> ids;
  for (const auto &call : all.calls) {
    BOOST_REQUIRE(!call.empty());
    BOOST_TEST(messages_of(call).size() == 1u);
    for (const Event &event : call)
      ids.push_back(event.key<int>());
  }
  std::vector<int> expected;
  for (const Event &event : single.events)
    expected.push_back(event.key<int>());
  BOOST_TEST(ids == expected);
  // The filter: only grp = 1 rows, still grouped by message.
  for (const auto &call : odd.calls) {
    BOOST_REQUIRE(!call.empty());
    BOOST_TEST(messages_of(call).size() == 1u);
    for (const Event &event : call)
      BOOST_TEST(event.row().get<int>("grp") == 1);
  }
  BOOST_TEST(odd.calls.size() <= all.calls.size());
  BOOST_TEST(client.stats().events == 303u + 303u + 151u);
}

BOOST_AUTO_TEST_CASE(batch_subscriptions_get_truncate_as_a_batch_of_one_and_refuse_an_empty_callback) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("deleted");
  Client client(test::conninfo(), fast_options());
  BatchRecorder batches;
  auto subscription = client.subscribe_batch(label, batches.callback());
  sql("TRUNCATE " + table.name);
  BOOST_REQUIRE(eventually([&] { return batches.rows() == 1; }, [&] { client.process(); }));
  BOOST_TEST((batches.calls.front().front().kind() == Event::Kind::truncated));
  BOOST_CHECK_THROW((void)client.subscribe_batch(label, BatchCallback{}), UsageError);
}

// Client::stats() against what was committed and sent.
BOOST_AUTO_TEST_CASE(stats_count_messages_events_errors_and_resyncs) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto truncated = table.watch("deleted");
  Client client(test::conninfo(), fast_options());
  Recorder recorder, truncates;
  recorder.attach(client);
  auto subscription = client.subscribe(label, recorder.callback());
  auto thrower = client.subscribe(label, Key{7}, [](const Event &) { throw std::runtime_error("boom"); });
  auto on_truncate = client.subscribe(truncated, truncates.callback());
  sql("INSERT INTO " + table.name + " SELECT i FROM generate_series(1, 200) i");
  for (int id = 201; id <= 205; ++id)
    sql("INSERT INTO " + table.name + " VALUES (" + std::to_string(id) + ")");
  sql("SELECT pg_notify('" + label + "', 'garbage')");
  sql("TRUNCATE " + table.name);
  BOOST_REQUIRE(
      eventually([&] { return recorder.count() == 205 && truncates.count() == 1; }, [&] { client.process(); }));
  BOOST_REQUIRE(eventually([&] { return recorder.error_count() == 2; }, [&] { client.process(); }));

  Stats stats = client.stats();
  std::set<const Message *> messages = messages_of(recorder.events);
  std::uint64_t bytes = std::string_view("garbage").size() + truncates.events.front().message().payload.size();
  for (const Message *message : messages)
    bytes += message->payload.size();
  BOOST_TEST(stats.messages == messages.size() + 2); // the rows' messages, the garbage, the TRUNCATE
  BOOST_TEST(stats.bytes == bytes);
  BOOST_TEST(stats.events == 205u + 1u + 1u); // every row, row 7 again (the thrower), the truncated event
  BOOST_TEST(stats.decode_errors == 1u);
  BOOST_TEST(stats.callback_errors == 1u);
  BOOST_TEST(stats.resyncs_for(Resync::Reason::truncated) == 1u);
  BOOST_TEST(stats.resyncs_for(Resync::Reason::reconnected) == 0u);
  BOOST_TEST(stats.overflows == 0u);
  BOOST_TEST(stats.reconnects == 0u);
  BOOST_TEST(stats.confirmed_lsn == 0u); // not durable
}

// A terminated backend: the reconnect is counted, resyncs by reason, and
// on_log tells what happened, in order with the other callbacks.
BOOST_AUTO_TEST_CASE(stats_and_log_lines_after_the_backend_is_terminated) {
  Table table("id int PRIMARY KEY");
  auto label = table.watch("inserted");
  auto options = fast_options();
  Client client(test::conninfo(), options);
  std::mutex mutex;
  std::vector<std::pair<LogLevel, std::string>> lines;
  client.on_log([&](LogLevel level, std::string_view text) {
    std::lock_guard lock(mutex);
    lines.emplace_back(level, std::string(text));
  });
  Recorder recorder;
  recorder.attach(client);
  auto subscription = client.subscribe(label, recorder.callback());
  client.start();
  sql("INSERT INTO " + table.name + " VALUES (1)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 1; }));
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + options.application_name +
      "'");
  BOOST_REQUIRE(eventually([&] { return client.stats().resyncs_for(Resync::Reason::reconnected) == 1; }));
  sql("INSERT INTO " + table.name + " VALUES (2)");
  BOOST_REQUIRE(eventually([&] { return recorder.count() == 2; }));
  client.stop();
  Stats stats = client.stats();
  BOOST_TEST(stats.reconnects == 1u);
  BOOST_TEST(stats.events == 2u);
  BOOST_TEST(stats.messages == 2u);
  std::lock_guard lock(mutex);
  std::string all;
  for (const auto &[level, text] : lines)
    all += std::string(to_string(level)) + ": " + text + "\n";
  BOOST_TEST_MESSAGE(all);
  auto find = [&](std::string_view text) {
    return std::find_if(lines.begin(), lines.end(),
                        [&](const auto &line) { return line.second.find(text) != std::string::npos; });
  };
  auto connected = find("connected"), lost = find("disconnected: connection lost"),
       back = find("reconnected (reconnect 1)"), resync = find("resync (reconnected)");
  BOOST_REQUIRE_MESSAGE(connected != lines.end() && lost != lines.end() && back != lines.end() && resync != lines.end(),
                        all);
  BOOST_TEST((connected->first == LogLevel::info && lost->first == LogLevel::warning));
  BOOST_TEST((connected < lost && lost < back && back < resync));
}

BOOST_AUTO_TEST_CASE(log_levels_have_names) {
  BOOST_TEST(to_string(LogLevel::debug) == "debug");
  BOOST_TEST(to_string(LogLevel::info) == "info");
  BOOST_TEST(to_string(LogLevel::warning) == "warning");
  BOOST_TEST(to_string(LogLevel::error) == "error");
}
