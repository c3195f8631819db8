// Messages are UTF-8 whatever the database encoding (issue 14, case 5):
// rows of a LATIN1 database arrive as the same text, correctly encoded, by
// NOTIFY, by the relay (when scripts/test lists the database in
// ectowatch.relay_databases) and durably; a SQL_ASCII database, whose text
// has no known encoding, is refused by ectowatch_watch.
#define BOOST_TEST_MODULE encoding
#include <boost/test/unit_test.hpp>

#include "test_database.hpp"

#include <ectowatch/ectowatch.hpp>

#include <libpq-fe.h>

#include <mutex>
#include <stdexcept>

using namespace ectowatch;
using namespace std::chrono_literals;
using test::eventually;

namespace {

constexpr const char *kLatin1Database = "ectowatch_latin1_test";
constexpr const char *kSqlAsciiDatabase = "ectowatch_sql_ascii_test";

// Runs `statement` in `database` (client_encoding UTF8: this source file is
// UTF-8, the server converts); returns the first value, or "".
std::string sql_in(const std::string &database, const std::string &statement) {
  std::string conninfo = "dbname=" + database + " client_encoding=UTF8";
  PGconn *conn = PQconnectdb(conninfo.c_str());
  PQsetNoticeProcessor(
      conn, [](void *, const char *) {}, nullptr);
  PGresult *result = PQexec(conn, statement.c_str());
  auto status = PQresultStatus(result);
  std::string value = status == PGRES_TUPLES_OK && PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
  std::string error = PQstatus(conn) == CONNECTION_OK ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw std::runtime_error("SQL failed in " + database + ": " + statement + ": " + error);
  return value;
}

void create_database(const std::string &name, const std::string &encoding) {
  if (test::sql_value("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'") == "0")
    test::sql("CREATE DATABASE " + name + " ENCODING '" + encoding +
              "' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
  sql_in(name, "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS ectowatch");
}

// Latin-1 text, written here in UTF-8: what must arrive, byte for byte.
const std::string kCafe = "café";
const std::string kMore = "Ærø ñ ÿ ß ½ «»";

struct Latin1Table {
  std::string name = test::unique_name("crème"); // a non-ASCII table name too
  std::string label = test::unique_name("latin1");
  explicit Latin1Table(const std::string &delivery) {
    sql_in(kLatin1Database, "CREATE TABLE \"" + name + "\" (id int PRIMARY KEY, \"prénom\" text, doc jsonb)");
    sql_in(kLatin1Database, "SELECT ectowatch_watch('\"" + name + "\"', 'inserted', label => '" + label +
                                "', extra_columns => '{prénom,doc}', delivery => '" + delivery + "')");
  }
  ~Latin1Table() {
    try {
      sql_in(kLatin1Database, "DROP TABLE IF EXISTS \"" + name + "\" CASCADE");
    } catch (...) {
    }
  }
  void insert_rows() {
    sql_in(kLatin1Database, "INSERT INTO \"" + name + "\" VALUES (1, '" + kCafe + "', '{\"k\": \"" + kMore +
                                "\"}'), (2, '" + kMore + "', NULL)");
  }
};

struct Received {
  std::mutex mutex;
  std::vector<std::string> names, docs, tables, errors;

  void attach(Client &client, const std::string &label, Subscription &subscription) {
    client.on_error([this](const Error &error) {
      std::lock_guard lock(mutex);
      errors.push_back(error.what());
    });
    subscription = client.subscribe(label, [this](const Event &event) {
      std::lock_guard lock(mutex);
      names.push_back(event.row().get<std::string>("prénom"));
      docs.push_back(std::string(event.row().at("doc").json()));
      tables.push_back(event.table());
    });
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return names.size() + errors.size();
  }
  void check(const Latin1Table &table) {
    std::lock_guard lock(mutex);
    BOOST_TEST(errors.empty(), (errors.empty() ? "" : errors.front()));
    BOOST_REQUIRE_EQUAL(names.size(), 2u);
    BOOST_TEST(names[0] == kCafe);
    BOOST_TEST(names[1] == kMore);
    BOOST_TEST(docs[0] == "{\"k\": \"" + kMore + "\"}"); // jsonb's own text
    BOOST_TEST(docs[1] == "null");
    BOOST_TEST(tables[0] == "public.\"" + table.name + "\"");
  }
};

struct Databases {
  Databases() { create_database(kLatin1Database, "LATIN1"); }
};
BOOST_TEST_GLOBAL_FIXTURE(Databases);

std::string latin1_conninfo() { return std::string("dbname=") + kLatin1Database; }

void receive_by(const std::string &delivery) {
  Latin1Table table(delivery);
  Client client(latin1_conninfo());
  Received received;
  Subscription subscription;
  received.attach(client, table.label, subscription);
  client.start();
  table.insert_rows();
  BOOST_REQUIRE(eventually([&] { return received.count() >= 2; }));
  client.stop();
  received.check(table);
}

} // namespace

BOOST_AUTO_TEST_CASE(latin1_rows_arrive_as_utf8_by_notify) { receive_by("notify"); }

BOOST_AUTO_TEST_CASE(latin1_rows_arrive_as_utf8_by_relay) {
  std::string listed = sql_in(kLatin1Database, "SELECT current_setting('ectowatch.relay_databases', true)");
  if (listed.find(kLatin1Database) == std::string::npos) {
    BOOST_TEST_MESSAGE("skipped: " << kLatin1Database << " is not in ectowatch.relay_databases");
    return;
  }
  BOOST_REQUIRE(eventually(
      [] {
        return sql_in(kLatin1Database, "SELECT count(pid) FROM ectowatch_relay_status "
                                       "WHERE database = current_database()") == "1";
      },
      {}, 60s));
  receive_by("relay");
}

BOOST_AUTO_TEST_CASE(latin1_rows_arrive_as_utf8_durably) {
  Latin1Table table("durable");
  std::string slot = test::unique_name("latin1_slot");
  {
    Client client(latin1_conninfo(), Durable{slot});
    Received received;
    Subscription subscription;
    received.attach(client, table.label, subscription);
    table.insert_rows();
    BOOST_REQUIRE(eventually([&] { return received.count() >= 2; }, [&] { client.process(); }));
    received.check(table);
    subscription.reset();
  }
  sql_in(kLatin1Database, "SELECT pg_drop_replication_slot('" + slot + "')");
}

BOOST_AUTO_TEST_CASE(a_sql_ascii_database_is_refused_with_a_reason) {
  create_database(kSqlAsciiDatabase, "SQL_ASCII");
  sql_in(kSqlAsciiDatabase, "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)");
  Client client(std::string("dbname=") + kSqlAsciiDatabase);
  try {
    client.watch("t", Op::inserted);
    BOOST_FAIL("ectowatch_watch accepted a SQL_ASCII database");
  } catch (const SqlError &error) {
    BOOST_TEST(error.sqlstate() == "55000");
    BOOST_TEST(std::string(error.what()).find("SQL_ASCII") != std::string::npos);
    BOOST_TEST(!error.hint().empty());
  }
  BOOST_TEST(client.watchers().empty());
}
