// The bridge's subject escaping (client/bridge/subject.hpp): every key value
// round-trips, every token is a valid NATS subject token, and nothing but a
// token escape_token made is accepted back.
#define BOOST_TEST_MODULE bridge_subject
#include <boost/test/unit_test.hpp>

#include "../../client/bridge/subject.hpp"

#include <random>
#include <stdexcept>
#include <string>

using namespace ectowatch::bridge;

namespace {

// What NATS accepts as one token of a published subject.
bool nats_token(const std::string &token) {
  if (token.empty())
    return false;
  for (unsigned char byte : token)
    if (byte <= ' ' || byte >= 0x7f || byte == '.' || byte == '*' || byte == '>')
      return false;
  return true;
}

void round_trip(const std::string &value) {
  std::string token = escape_token(value);
  BOOST_TEST_INFO("value of " << value.size() << " bytes, token " << token);
  BOOST_TEST(nats_token(token));
  BOOST_TEST(token != "~~");
  BOOST_TEST(token.rfind("~t", 0) != 0);
  BOOST_TEST(token.rfind("~d", 0) != 0);
  BOOST_TEST(token.rfind("~r", 0) != 0);
  auto back = unescape_token(token);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(*back == value);
}

} // namespace

BOOST_AUTO_TEST_CASE(hostile_values_round_trip) {
  for (const std::string &value : {std::string(""),
                                   std::string("."),
                                   std::string("*"),
                                   std::string(">"),
                                   std::string("a.b"),
                                   std::string("a b"),
                                   std::string(" "),
                                   std::string("\t\n"),
                                   std::string("~"),
                                   std::string("~~"),
                                   std::string("~41"),
                                   std::string("~truncated"),
                                   std::string("$JS"),
                                   std::string("Zürich"),
                                   std::string("日本"),
                                   std::string("emoji 🎉"),
                                   std::string("null"),
                                   std::string("42"),
                                   std::string("-1.5e3"),
                                   std::string("a\0b", 3),
                                   std::string("\xff\xfe"),
                                   std::string("_-"),
                                   std::string("ectowatch.orders.>")})
    round_trip(value);
}

BOOST_AUTO_TEST_CASE(random_strings_round_trip) {
  std::mt19937 random(20261129);
  std::uniform_int_distribution<int> length(0, 40), byte(0, 255), pick(0, 9);
  const std::string hostile = ".*> ~\t$";
  for (int n = 0; n < 20000; ++n) {
    std::string value;
    int size = length(random);
    for (int i = 0; i < size; ++i) {
      int choice = pick(random);
      if (choice < 3)
        value += hostile[static_cast<std::size_t>(byte(random)) % hostile.size()];
      else if (choice < 6)
        value += static_cast<char>('a' + byte(random) % 26);
      else
        value += static_cast<char>(byte(random));
    }
    round_trip(value);
  }
}

BOOST_AUTO_TEST_CASE(distinct_values_get_distinct_tokens) {
  BOOST_TEST(escape_token("") == "~");
  BOOST_TEST(escape_token("", true) == "~~");
  BOOST_TEST(escape_token("null", true) == "~~");
  BOOST_TEST(escape_token("null") == "null");
  BOOST_TEST(escape_token("a.b") == "a~2Eb");
  BOOST_TEST(escape_token("~") == "~7E");
  BOOST_TEST(escape_token("é") == "~C3~A9");
  BOOST_TEST(escape_token("order-42_x") == "order-42_x");
  BOOST_TEST(!unescape_token("~~").has_value());
}

BOOST_AUTO_TEST_CASE(foreign_tokens_are_refused) {
  for (const char *token : {"", "~truncated", "~dropped", "~resync", "~2e", "~2", "a~", "~4A", "a b", "a.b", "~~~"})
    BOOST_CHECK_THROW(unescape_token(token), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(prefixes_and_labels) {
  BOOST_CHECK_NO_THROW(check_prefix("ectowatch"));
  BOOST_CHECK_NO_THROW(check_prefix("acme.prod.ectowatch"));
  for (const char *prefix : {"", ".", "a..b", "a.*", "a.>", "a b", "$JS", "a.", "~x"})
    BOOST_CHECK_THROW(check_prefix(prefix), std::invalid_argument);
  BOOST_CHECK_NO_THROW(check_label("orders_inserted"));
  for (const char *label : {"", "a.b", "a b", "*", ">", "~x"})
    BOOST_CHECK_THROW(check_label(label), std::invalid_argument);
}

// Format 2: a value whose escaped token is longer than kMaxTokenBytes is
// `~h` and the hex SHA-256 of its text, so no key makes a subject longer
// than the server's control line; at the limit a token is still escaped.
BOOST_AUTO_TEST_CASE(long_values_are_hashed_tokens) {
  BOOST_TEST(escape_token(std::string(300, 'x')) ==
             "~h0d4e2ca9e9cbced7a7a5380eb29e1a3783b9b6d0db72de36a1051038e1c1fbc7");
  std::string cjk;
  for (int i = 0; i < 86; ++i)
    cjk += "日";
  BOOST_TEST(escape_token(cjk) == "~hbd6e4fa4fe35559113bbefc0f3f562935f8cfe90d6fe7c52085aa5af888cba56");
  BOOST_TEST(is_hashed_token(escape_token(cjk)));
  BOOST_CHECK_THROW(unescape_token(escape_token(cjk)), std::invalid_argument);
  round_trip(std::string(kMaxTokenBytes, 'x')); // 256 plain bytes: kept
  std::string at_limit, over_limit;
  for (int i = 0; i < 28; ++i)
    at_limit += "日"; // 28 x 9 = 252 escaped bytes
  over_limit = at_limit + "日";
  round_trip(at_limit);
  BOOST_TEST(is_hashed_token(escape_token(over_limit)));
  BOOST_TEST(is_hashed_token(escape_token(std::string(kMaxTokenBytes + 1, 'x'))));
  BOOST_TEST(!is_hashed_token("~hABC"));
  BOOST_TEST(!is_hashed_token(escape_token("~h")));
}
