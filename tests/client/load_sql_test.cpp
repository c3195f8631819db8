// The loader's SQL text (load_sql.hpp), without a server: the queries for
// one and for composite keys, chosen columns, a custom query, and the array
// literals the keys are sent as. tests/client/loader_test.cpp runs them.
#define BOOST_TEST_MODULE load_sql
#include <boost/test/unit_test.hpp>

#include "load_sql.hpp"

using namespace ectowatch::detail;

namespace {

LoadRequest request(std::vector<std::string> keys, const std::vector<std::string> &columns,
                    const std::optional<std::string> &query) {
  LoadRequest result;
  result.table = "public.users";
  result.key_columns = std::move(keys);
  result.columns = &columns;
  result.query = &query;
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(one_key_every_column) {
  std::vector<std::string> columns;
  std::optional<std::string> query;
  BOOST_TEST(load_sql(request({"id"}, columns, query), {{"integer", 1007}}) ==
             "SELECT to_json(q.\"id\") #>> '{}', row_to_json(q)::text, q.* FROM (SELECT * FROM public.users WHERE "
             "\"id\" = ANY($1::integer[])) AS q");
}

BOOST_AUTO_TEST_CASE(a_composite_key_and_chosen_columns_with_the_key_first) {
  std::vector<std::string> columns{"name", "org", "we\"ird"};
  std::optional<std::string> query;
  BOOST_TEST(load_sql(request({"org", "id"}, columns, query), {{"text", 1009}, {"bigint", 1016}}) ==
             "SELECT to_json(q.\"org\") #>> '{}', to_json(q.\"id\") #>> '{}', row_to_json(q)::text, q.* FROM (SELECT "
             "\"org\", \"id\", \"name\", \"we\"\"ird\" FROM public.users WHERE (\"org\", \"id\") IN (SELECT * FROM "
             "unnest($1::text[], $2::bigint[]))) AS q");
}

BOOST_AUTO_TEST_CASE(a_custom_query_is_wrapped_as_it_is) {
  std::vector<std::string> columns;
  std::optional<std::string> query =
      "SELECT u.id, o.name FROM users u JOIN orgs o ON o.id = u.org WHERE u.id = ANY($1)";
  BOOST_TEST(load_sql(request({"id"}, columns, query), {{"integer", 1007}}) ==
             "SELECT to_json(q.\"id\") #>> '{}', row_to_json(q)::text, q.* FROM (" + *query + ") AS q");
}

BOOST_AUTO_TEST_CASE(array_literals_quote_escape_and_keep_nulls) {
  std::vector<std::vector<std::optional<std::string>>> keys{
      {"1", "a\"b"}, {"2", "back\\slash"}, {"3", std::nullopt}, {"4", "{,}"}};
  BOOST_TEST(array_literal(keys, 0) == R"({"1","2","3","4"})");
  BOOST_TEST(array_literal(keys, 1) == R"({"a\"b","back\\slash",NULL,"{,}"})");
  BOOST_TEST(array_literal({}, 0) == "{}");
}
