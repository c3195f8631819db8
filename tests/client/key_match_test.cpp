// Which rows a Key or a ColumnFilter matches, without a server: SQL NULL and
// the string "null" have the same Value::text(), but Key{nullptr} and a
// ColumnFilter on nullptr match the NULL alone, and a text "null" the string
// alone; numbers still match their text (42 and "42"). A subscription to
// every label (the bridge's) gets every label's rows and dropped events.
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

namespace {

std::shared_ptr<const Message> message_of(const std::string &label) {
  return decode_message(label, R"({"v":1,"op":"inserted","table":"public.t","label":")" + label +
                                   R"(","key":["k"],"rows":[{"k":1},{"k":2}]})");
}

} // namespace

BOOST_AUTO_TEST_CASE(an_every_label_subscription_gets_every_label_and_its_dropped_events) {
  SubscriptionRegistry registry;
  auto every = std::make_shared<Subscription::State>();
  every->kind = Subscription::State::Kind::every_label;
  every->id = 1;
  auto one = key_subscription(MatchValue(1));
  one->id = 2;
  BOOST_TEST(!registry.add(every)); // nothing for the server to do
  BOOST_TEST(registry.add(one));
  BOOST_TEST(registry.wants("created_later"));
  std::vector<SubscriptionRegistry::Match> matches;
  registry.match(*message_of("created_later"), matches);
  BOOST_TEST(matches.size() == 2u);
  registry.match(*message_of("t"), matches); // both rows for `every`, row 0 for `one`, in subscription order
  BOOST_TEST_REQUIRE(matches.size() == 3u);
  BOOST_TEST(matches[0].subscription == every);
  BOOST_TEST(matches[1].subscription == one);
  BOOST_TEST(matches[2].subscription == every);
  BOOST_TEST(registry.all_of("created_later").size() == 1u);
  BOOST_TEST(registry.all_of("t").size() == 2u);
  BOOST_TEST(!registry.remove(*every));
  BOOST_TEST(!registry.wants("created_later"));
  registry.match(*message_of("created_later"), matches);
  BOOST_TEST(matches.empty());
}
