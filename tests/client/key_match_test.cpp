// Which rows a Key or a ColumnFilter matches, without a server: SQL NULL and
// the string "null" have the same Value::text(), but Key{nullptr} and a
// ColumnFilter on nullptr match the NULL alone, and a text "null" the string
// alone; numbers still match their text (42 and "42").
#define BOOST_TEST_MODULE key_match
#include <boost/test/unit_test.hpp>

#include "message_decoder.hpp"
#include "subscription_registry.hpp"

#include <ectowatch/ectowatch.hpp>

using namespace ectowatch;
using namespace ectowatch::detail;

namespace {

// One message of label t with rows {"k": <each of `keys`>, "c": <same>}.
std::shared_ptr<const Message> message_with(const std::vector<std::string> &keys) {
  std::string rows;
  for (const std::string &key : keys)
    rows += (rows.empty() ? "" : ",") + std::string(R"({"k":)") + key + R"(,"c":)" + key + "}";
  return decode_message("t",
                        R"({"v":1,"op":"updated","table":"public.t","label":"t","key":["k"],"rows":[)" + rows + "]}");
}

SubscriptionPtr key_subscription(const MatchValue &value) {
  auto state = std::make_shared<Subscription::State>();
  state->label = std::string("t");
  state->kind = Subscription::State::Kind::key;
  state->key = canonical_key({match_text(value)});
  return state;
}

SubscriptionPtr column_subscription(const MatchValue &value) {
  auto state = std::make_shared<Subscription::State>();
  state->label = std::string("t");
  state->kind = Subscription::State::Kind::columns;
  state->columns.emplace_back(std::string("c"), match_text(value));
  return state;
}

// The rows (by index) of `rows` that `subscription` matches.
std::vector<std::size_t> matched_rows(const SubscriptionPtr &subscription, const std::vector<std::string> &rows) {
  SubscriptionRegistry registry;
  registry.add(subscription);
  std::vector<SubscriptionRegistry::Match> matches;
  auto message = message_with(rows);
  registry.match(*message, matches);
  std::vector<std::size_t> indexes;
  for (const auto &match : matches)
    indexes.push_back(match.row_index);
  return indexes;
}

const std::vector<std::string> kRows = {"null", R"("null")", "42", R"("42")"};

} // namespace

BOOST_AUTO_TEST_CASE(a_null_key_matches_the_null_only) {
  BOOST_TEST(matched_rows(key_subscription(nullptr), kRows) == std::vector<std::size_t>{0},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_text_null_matches_the_string_only) {
  BOOST_TEST(matched_rows(key_subscription("null"), kRows) == std::vector<std::size_t>{1},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_column_filter_on_null_matches_the_null_only) {
  BOOST_TEST(matched_rows(column_subscription(nullptr), kRows) == std::vector<std::size_t>{0},
             boost::test_tools::per_element());
  BOOST_TEST(matched_rows(column_subscription("null"), kRows) == std::vector<std::size_t>{1},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_number_still_matches_its_text) {
  BOOST_TEST(matched_rows(key_subscription(42), kRows) == (std::vector<std::size_t>{2, 3}),
             boost::test_tools::per_element());
}
