// Decoding v1 messages without a server: valid messages, every kind of value,
// and malformed input, which must give ProtocolError and never crash.
#define BOOST_TEST_MODULE message_decoder
#include <boost/test/unit_test.hpp>

#include "fast_path_decoder.hpp"
#include "message_decoder.hpp"

#include <ectowatch/ectowatch.hpp>

using ectowatch::Event;
using ectowatch::Op;
using ectowatch::ProtocolError;
using ectowatch::UsageError;
using ectowatch::Value;
using ectowatch::detail::decode_message;

BOOST_AUTO_TEST_CASE(decodes_the_example_of_the_protocol) {
  auto message = decode_message(
      "users_updated",
      R"({"v":1,"op":"updated","table":"public.users","label":"users_updated","key":["id"],"rows":[{"id":42},{"id":43}]})");
  BOOST_TEST((message->op == Op::updated));
  BOOST_TEST(message->table == "public.users");
  BOOST_TEST(message->label == "users_updated");
  BOOST_TEST(message->key_columns == std::vector<std::string>{"id"});
  BOOST_REQUIRE_EQUAL(message->rows.size(), 2u);
  BOOST_TEST(message->rows[0].get<std::int64_t>("id") == 42);
  BOOST_TEST(message->rows[1].json() == R"({"id":43})");
  BOOST_TEST(!message->truncated);
  BOOST_TEST(message->dropped == 0u);
}

BOOST_AUTO_TEST_CASE(a_relayed_message_carries_its_wal_position) {
  auto relayed = decode_message(
      "t_inserted",
      R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[{"id":1}],"lsn":"16/B374D848"})");
  BOOST_TEST(relayed->lsn == 0x16B374D848u);
  BOOST_REQUIRE_EQUAL(relayed->rows.size(), 1u);
  // Direct NOTIFY has none; a malformed position is ignored, not an error.
  auto direct = decode_message(
      "t_inserted", R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[]})");
  BOOST_TEST(direct->lsn == 0u);
  auto odd = decode_message(
      "t_inserted",
      R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[],"lsn":"nowhere"})");
  BOOST_TEST(odd->lsn == 0u);
}

BOOST_AUTO_TEST_CASE(values_keep_their_json_and_match_text) {
  auto message = decode_message(
      "t_inserted",
      R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id","name"],"rows":[)"
      R"({"id":9223372036854775807,"name":"a \"q\" \\ \n é","ok":true,"none":null,"doc":{"a": [1, 2]},"list":[1,"x"],"n":"12.50"}]})");
  const auto &row = message->rows.at(0);
  BOOST_TEST(row.get<std::int64_t>("id") == INT64_MAX);
  BOOST_TEST(row.at("id").text() == "9223372036854775807");
  BOOST_TEST(row.get<std::string>("name") == "a \"q\" \\ \n é");
  BOOST_TEST(row.at("name").json() == R"("a \"q\" \\ \n é")");
  BOOST_TEST(row.get<bool>("ok") == true);
  BOOST_TEST(row.is_null("none"));
  BOOST_TEST(!row.get_optional<std::string>("none").has_value());
  BOOST_TEST(!row.get_optional<std::string>("missing").has_value());
  BOOST_TEST(row.at("doc").json() == R"({"a": [1, 2]})");
  BOOST_TEST((row.at("doc").kind() == Value::Kind::object));
  BOOST_TEST((row.at("list").kind() == Value::Kind::array));
  BOOST_TEST(row.get<std::string>("n") == "12.50");
  BOOST_CHECK_THROW(row.get<std::int64_t>("name"), UsageError);
  BOOST_CHECK_THROW(row.get<bool>("id"), UsageError);
  BOOST_CHECK_THROW(row.at("missing"), UsageError);
  BOOST_CHECK_THROW(row.get<int>("id"), UsageError); // does not fit an int
}

BOOST_AUTO_TEST_CASE(names_with_escapes_and_rows_sharing_names) {
  auto message =
      decode_message("q", R"({"v":1,"op":"inserted","table":"public.\"Q\"","label":"q","key":["a\"b"],"rows":[)"
                          R"({"a\"b":1,"x\ny":"v1"},{"a\"b":2,"x\ny":"v2"}]})");
  BOOST_TEST(message->table == "public.\"Q\"");
  BOOST_TEST(message->key_columns == std::vector<std::string>{"a\"b"});
  BOOST_REQUIRE_EQUAL(message->rows.size(), 2u);
  BOOST_TEST(message->rows[1].get<int>("a\"b") == 2);
  BOOST_TEST(message->rows[1].get<std::string>("x\ny") == "v2");
  BOOST_TEST(message->rows[0].json() == R"({"a\"b":1,"x\ny":"v1"})");
  // The rows stay valid while the message lives, wherever the Event goes.
  Event event(message, Event::Kind::row, 1);
  message.reset();
  BOOST_TEST(event.row().get<std::string>("x\ny") == "v2");
}

BOOST_AUTO_TEST_CASE(flags_truncate_and_unknown_fields) {
  auto message = decode_message(
      "t_deleted",
      R"({"v":1,"op":"truncated","table":"public.t","label":"t_deleted","key":["id"],"rows":[],"dropped":3,"truncated":true,"future":{"x":1}})");
  BOOST_TEST((message->op == Op::truncated));
  BOOST_TEST(message->dropped == 3u);
  BOOST_TEST(message->truncated);
  Event event(message, Event::Kind::truncated);
  BOOST_CHECK_THROW(event.row(), UsageError);
}

BOOST_AUTO_TEST_CASE(rejects_what_is_not_a_v1_message) {
  const char *bad[] = {
      "",
      "not json",
      "[]",
      "{}",
      R"({"v":2,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[]})",
      R"({"v":1,"op":"exploded","table":"t","label":"c","key":["id"],"rows":[]})",
      R"({"v":1,"op":"inserted","table":"t","label":"other","key":["id"],"rows":[]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":[],"rows":[]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"x":1}]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1}]} trailing)",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1})",
      R"({"v":"1","op":"inserted","table":"t","label":"c","key":["id"],"rows":[]})",
      R"({"v":1,"op":"inserted","table":5,"label":"c","key":["id"],"rows":[]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":{"id":1}})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":tru}]})",
      "{\"v\":1,\"op\":\"inserted\",\"table\":\"t\",\"label\":\"c\",\"key\":[\"id\"],\"rows\":[{\"id\":\"\xff\"}]}",
  };
  for (const char *payload : bad)
    BOOST_CHECK_THROW(decode_message("c", payload), ProtocolError);
  try {
    decode_message("c", R"({"v":2,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[]})");
  } catch (const ProtocolError &error) {
    BOOST_TEST(std::string(error.what()).find("version 2") != std::string::npos);
    BOOST_TEST(error.channel() == "c");
  }
}

// The fast path (fast_path_decoder.hpp) takes messages as the extension
// writes them and leaves everything else to simdjson; either way the result
// is the same. (tests/fuzz/decoder_fuzzer.cpp compares them on any input.)
namespace {

using ectowatch::detail::Parser;

std::string describe(const ectowatch::Message &message) {
  std::string text = std::string(ectowatch::to_string(message.op)) + "|" + message.table + "|" + message.label + "|";
  for (const auto &key : message.key_columns)
    text += key + ",";
  for (const auto &row : message.rows) {
    text += "|";
    for (const auto &[name, value] : row.columns())
      text += std::string(name) + "=" + std::to_string(static_cast<int>(value.kind())) + ":" +
              std::string(value.json()) + ":" + std::string(value.text()) + ";";
  }
  return text + "|" + std::to_string(message.truncated) + "|" + std::to_string(message.dropped) + "|" +
         std::to_string(message.lsn);
}

bool takes_fast_path(const std::string &payload) {
  ectowatch::Message message;
  message.payload = payload;
  std::vector<std::size_t> row_sizes;
  ectowatch::detail::CanonicalHeader last;
  return ectowatch::detail::decode_canonical(message, row_sizes, last);
}

} // namespace

BOOST_AUTO_TEST_CASE(the_fast_path_decodes_the_canonical_form_like_simdjson) {
  const std::string canonical[] = {
      R"({"v":1,"op":"updated","table":"public.users","label":"c","key":["id"],"rows":[{"id":42},{"id":43}]})",
      R"({"v":1,"op":"deleted","table":"public.t","label":"c","key":["a","b"],"rows":[{"a":-0.5,"b":"x y","c":true,"d":false,"e":null,"f":0}]})",
      R"({"v":1,"op":"truncated","table":"public.t","label":"c","key":["id"],"rows":[]})",
      R"({"v":1,"op":"inserted","table":"public.t","label":"c","key":["id"],"rows":[{"id":1}],"truncated":true,"dropped":12,"lsn":"16/B374D848"})",
      R"({"v":1,"op":"inserted","table":"public.t","label":"c","key":["id"],"rows":[{"id":1}],"dropped":0})",
      "{\"v\":1,\"op\":\"inserted\",\"table\":\"public.t\",\"label\":\"c\",\"key\":[\"id\"],\"rows\":[{\"id\":1,"
      "\"name\":\"Zoë 東京\"}]}",
  };
  for (const std::string &payload : canonical) {
    BOOST_TEST_INFO(payload);
    BOOST_TEST(takes_fast_path(payload));
    BOOST_TEST(describe(*decode_message("c", payload)) ==
               describe(*decode_message("c", payload, Parser::simdjson_only)));
  }
}

BOOST_AUTO_TEST_CASE(anything_else_goes_to_simdjson_and_decodes_the_same) {
  const std::string other[] = {
      R"({"v":1,"op":"inserted","table":"public.\"Q\"","label":"c","key":["id"],"rows":[{"id":1}]})", // escape
      R"({ "v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1}]})",           // whitespace
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1,"doc":{"a":1}}]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1e3}]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1}],"future":1})",
      R"({"op":"inserted","v":1,"table":"t","label":"c","key":["id"],"rows":[{"id":1}]})", // order
  };
  for (const std::string &payload : other) {
    BOOST_TEST_INFO(payload);
    BOOST_TEST(!takes_fast_path(payload));
    BOOST_TEST(describe(*decode_message("c", payload)) ==
               describe(*decode_message("c", payload, Parser::simdjson_only)));
  }
  // Invalid, though the fast path could read it: it declines, simdjson rejects.
  const std::string invalid[] = {
      "{\"v\":1,\"op\":\"inserted\",\"table\":\"t\",\"label\":\"c\",\"key\":[\"id\"],\"rows\":[{\"id\":\"\xff\"}]}",
      "{\"v\":1,\"op\":\"inserted\",\"table\":\"t\",\"label\":\"c\",\"key\":[\"id\"],\"rows\":[{\"id\":\"\x01\"}]}",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":01}]})",
      R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1}],"dropped":007})",
  };
  for (const std::string &payload : invalid) {
    BOOST_TEST_INFO(payload);
    BOOST_TEST(!takes_fast_path(payload));
    BOOST_CHECK_THROW(decode_message("c", payload), ProtocolError);
  }
}

BOOST_AUTO_TEST_CASE(messages_sharing_a_header_decode_on_their_own) {
  // The fast path keeps the last header it read; the next message that starts
  // with the same bytes takes its fields from there.
  const std::string header =
      "{\"v\":1,\"op\":\"deleted\",\"table\":\"public.t\xc3\xb6\",\"label\":\"c\",\"key\":[\"id\"],\"rows\":[";
  auto first = decode_message("c", header + R"({"id":1}]})");
  auto second = decode_message("c", header + R"({"id":2,"x":"y"}],"dropped":1})");
  BOOST_TEST(second->table == "public.t\xc3\xb6");
  BOOST_TEST((second->op == Op::deleted));
  BOOST_TEST(second->key_columns == std::vector<std::string>{"id"});
  BOOST_TEST(second->rows.at(0).get<int>("id") == 2);
  BOOST_TEST(second->dropped == 1u);
  BOOST_TEST(first->rows.at(0).get<int>("id") == 1); // untouched by the second
  // The header had non-ASCII text: every payload that shares it is still
  // checked as UTF-8 as a whole.
  BOOST_CHECK_THROW(decode_message("c", header + "{\"id\":3,\"x\":\"\xff\"}]}"), ProtocolError);
  // A header that differs anywhere is read again.
  auto other = decode_message(
      "d", R"({"v":1,"op":"inserted","table":"public.t","label":"d","key":["id","k"],"rows":[{"id":4,"k":5}]})");
  BOOST_TEST(other->label == "d");
  BOOST_TEST(other->key_columns == (std::vector<std::string>{"id", "k"}));
  BOOST_TEST((other->op == Op::inserted));
}

// Issue 14, case 1: any valid JSON number, also one that no double or int64
// holds, is accepted and kept as its exact text, by both paths.
BOOST_AUTO_TEST_CASE(numbers_beyond_a_double_are_kept_as_their_exact_text) {
  const std::string big_integer = "123456789012345678901234567890";
  const std::string long_mantissa = "0." + std::string(400, '1');
  const char *numbers[] = {"1e400", "-1e400", "1E+99999", "-0.5e-400", "12345678901234567890", "-0"};
  std::vector<std::string> all(std::begin(numbers), std::end(numbers));
  all.push_back(big_integer);
  all.push_back(long_mantissa);
  for (const std::string &number : all) {
    std::string payload = R"({"v":1,"op":"inserted","table":"public.t","label":"c","key":["id"],"rows":[{"id":1,"n":)" +
                          number + R"(},{"id":2,"j":{"n":)" + number + R"(}}]})";
    for (Parser parser : {Parser::fast_path_first, Parser::simdjson_only}) {
      auto message = decode_message("c", payload, parser);
      BOOST_REQUIRE_EQUAL(message->rows.size(), 2u);
      const Value &n = message->rows[0].at("n");
      BOOST_TEST((n.kind() == Value::Kind::number));
      BOOST_TEST(n.text() == number);
      BOOST_TEST(n.json() == number);
      BOOST_TEST(message->rows[1].at("j").json() == R"({"n":)" + number + "}");
    }
  }
  auto message = decode_message(
      "c", R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1,"a":1e400,"b":)" +
               big_integer + R"(,"c":1.5e300}]})");
  const auto &row = message->rows.at(0);
  BOOST_CHECK_THROW(row.get<double>("a"), UsageError); // not inf
  BOOST_TEST(row.get<std::string>("a") == "1e400");
  BOOST_CHECK_THROW(row.get<std::int64_t>("b"), UsageError);
  BOOST_TEST(row.get<std::string>("b") == big_integer);
  BOOST_TEST(row.get<double>("c") == 1.5e300);
}

BOOST_AUTO_TEST_CASE(what_is_not_a_json_number_is_still_rejected) {
  for (const char *number : {"1.", "01", "1e", "1e+", "-", "+1", ".5", "1x", "0x10", "1.e5", "--1", "1e5.5"}) {
    std::string payload = R"({"v":1,"op":"inserted","table":"t","label":"c","key":["id"],"rows":[{"id":1,"n":)" +
                          std::string(number) + "}]}";
    BOOST_CHECK_THROW(decode_message("c", payload), ProtocolError);
    BOOST_CHECK_THROW(decode_message("c", payload, Parser::simdjson_only), ProtocolError);
  }
}

// Issue 14, case 1: a row that truly cannot be decoded is left out and
// reported (which row, which label); the other rows are delivered.
BOOST_AUTO_TEST_CASE(one_bad_row_does_not_take_its_neighbours_down) {
  std::string payload =
      R"({"v":1,"op":"inserted","table":"public.t","label":"c","key":["id"],"rows":[{"id":1},{"x":2},3,{"id":4},{}]})";
  for (Parser parser : {Parser::fast_path_first, Parser::simdjson_only}) {
    std::vector<ectowatch::RowError> bad;
    auto message = decode_message("c", payload, parser, &bad);
    BOOST_REQUIRE_EQUAL(message->rows.size(), 2u);
    BOOST_TEST(message->rows[0].get<int>("id") == 1);
    BOOST_TEST(message->rows[1].get<int>("id") == 4);
    BOOST_REQUIRE_EQUAL(bad.size(), 3u);
    BOOST_TEST(bad[0].row_index() == 1u);
    BOOST_TEST(bad[1].row_index() == 2u);
    BOOST_TEST(bad[2].row_index() == 4u);
    BOOST_TEST(bad[0].label() == "c");
    BOOST_TEST(std::string(bad[0].what()).find("lacks key column \"id\"") != std::string::npos);
    BOOST_TEST(std::string(bad[1].what()).find("row 2") != std::string::npos);
  }
  // Without a place to report them, the whole message is refused (never a silent skip).
  BOOST_CHECK_THROW(decode_message("c", payload), ProtocolError);
}

BOOST_AUTO_TEST_CASE(typed_keys_and_composite_key_values) {
  auto single = decode_message(
      "t", R"({"v":1,"op":"updated","table":"public.t","label":"t","key":["id"],"rows":[{"id":42,"name":"ann"}]})");
  Event event(single, Event::Kind::row, 0);
  BOOST_TEST(event.key<std::int64_t>() == 42);
  BOOST_REQUIRE_EQUAL(event.key_values().size(), 1u);
  BOOST_TEST(event.key_values()[0].json() == "42");
  auto composite = decode_message(
      "m",
      R"({"v":1,"op":"inserted","table":"public.m","label":"m","key":["org_id","user_name"],"rows":[{"org_id":7,"user_name":"ann"}]})");
  Event member(composite, Event::Kind::row, 0);
  BOOST_CHECK_THROW(member.key<std::int64_t>(), UsageError);
  auto values = member.key_values();
  BOOST_REQUIRE_EQUAL(values.size(), 2u);
  BOOST_TEST(values[0].as<int>() == 7);
  BOOST_TEST(values[1].as<std::string>() == "ann");
}
