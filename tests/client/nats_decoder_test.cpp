// Decoding what `ectowatch bridge` publishes (docs/protocol.md, "NATS
// subjects") without a server: rows become the Message a slot would give,
// with the key columns taken from the subject's tokens; markers become
// events and resyncs; anything else is a ProtocolError.
#define BOOST_TEST_MODULE nats_decoder
#include <boost/test/unit_test.hpp>

#include "nats_decoder.hpp"
#include "subject.hpp"

#include <ectowatch/ectowatch.hpp>

using ectowatch::Op;
using ectowatch::ProtocolError;
using ectowatch::Resync;
using ectowatch::RowError;
using ectowatch::detail::Batch;
using ectowatch::detail::MessagePtr;

namespace {

Batch decode(std::string_view subject, std::string_view payload, std::string_view op = "") {
  Batch out;
  std::vector<RowError> bad_rows;
  ectowatch::detail::decode_nats_message("ew", subject, payload, op, out, bad_rows);
  BOOST_TEST(bad_rows.empty());
  return out;
}

MessagePtr only_message(const Batch &out) {
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  auto *message = std::get_if<MessagePtr>(&out.front());
  BOOST_REQUIRE(message);
  return *message;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_row_is_the_message_a_slot_would_give) {
  auto message = only_message(decode(
      "ew.orders_inserted.42",
      R"({"label":"orders_inserted","table":"public.orders","op":"inserted","row":{"id":42,"note":"a.b"},"lsn":"16/B374D848"})"));
  BOOST_TEST((message->op == Op::inserted));
  BOOST_TEST(message->table == "public.orders");
  BOOST_TEST(message->label == "orders_inserted");
  BOOST_TEST(message->key_columns == std::vector<std::string>{"id"});
  BOOST_TEST(message->lsn == 0x16B374D848u);
  BOOST_REQUIRE_EQUAL(message->rows.size(), 1u);
  BOOST_TEST(message->rows[0].json() == R"({"id":42,"note":"a.b"})");
  BOOST_TEST(!message->truncated);
}

BOOST_AUTO_TEST_CASE(a_composite_hostile_key_is_as_many_columns_as_tokens) {
  std::string subject = "ew.pairs_updated." + ectowatch::bridge::escape_token("us.west 日本") + ".7";
  auto message = only_message(decode(
      subject,
      R"({"label":"pairs_updated","table":"public.pairs","op":"updated","row":{"region":"us.west 日本","id":7,"qty":null},"truncated":true,"lsn":"0/10"})"));
  BOOST_TEST(message->key_columns == (std::vector<std::string>{"region", "id"}));
  BOOST_TEST(message->rows[0].get<std::string>("region") == "us.west 日本");
  BOOST_TEST(message->truncated);
}

// A long key value's token is hashed (subject.hpp): a row, not an event, and
// checked by hashing the row's value.
BOOST_AUTO_TEST_CASE(a_long_key_is_a_hashed_token) {
  std::string url = "https://example.com/" + std::string(400, 'p');
  std::string token = ectowatch::bridge::escape_token(url);
  BOOST_REQUIRE(ectowatch::bridge::is_hashed_token(token));
  std::string payload = R"({"label":"links_inserted","table":"public.links","op":"inserted","row":{"url":")" + url +
                        R"("},"lsn":"0/10"})";
  auto message = only_message(decode("ew.links_inserted." + token, payload));
  BOOST_TEST(message->rows[0].get<std::string>("url") == url);
  std::string other = ectowatch::bridge::escape_token(url + "x");
  BOOST_CHECK_THROW(decode("ew.links_inserted." + other, payload), ProtocolError);
}

BOOST_AUTO_TEST_CASE(a_row_under_another_keys_subject_is_refused) {
  BOOST_CHECK_THROW(
      decode("ew.orders_inserted.43",
             R"({"label":"orders_inserted","table":"public.orders","op":"inserted","row":{"id":42},"lsn":"0/1"})"),
      ProtocolError);
  // More key tokens than columns, another label, another prefix, no row.
  BOOST_CHECK_THROW(
      decode("ew.orders_inserted.42.1",
             R"({"label":"orders_inserted","table":"public.orders","op":"inserted","row":{"id":42},"lsn":"0/1"})"),
      ProtocolError);
  BOOST_CHECK_THROW(
      decode("ew.other.42",
             R"({"label":"orders_inserted","table":"public.orders","op":"inserted","row":{"id":42},"lsn":"0/1"})"),
      ProtocolError);
  BOOST_CHECK_THROW(
      decode("xx.orders_inserted.42",
             R"({"label":"orders_inserted","table":"public.orders","op":"inserted","row":{"id":42},"lsn":"0/1"})"),
      ProtocolError);
  BOOST_CHECK_THROW(decode("ew.orders_inserted.42", R"({"label":"orders_inserted","op":"inserted"})"), ProtocolError);
  BOOST_CHECK_THROW(decode("ew.orders_inserted.42", "not json"), ProtocolError);
}

BOOST_AUTO_TEST_CASE(markers_become_events_and_resyncs) {
  auto truncated =
      only_message(decode("ew.t_deleted.~truncated", R"({"event":"truncated","label":"t_deleted","lsn":"0/20"})"));
  BOOST_TEST((truncated->op == Op::truncated));
  BOOST_TEST(truncated->rows.empty());
  BOOST_TEST(truncated->lsn == 0x20u);
  auto dropped = only_message(decode("ew.t_inserted.~dropped",
                                     R"({"event":"dropped","label":"t_inserted","count":3,"lsn":"0/30"})", "inserted"));
  BOOST_TEST(dropped->dropped == 3u);
  BOOST_TEST((dropped->op == Op::inserted));
  BOOST_CHECK_THROW(decode("ew.t_inserted.~dropped", R"({"event":"dropped","label":"t_inserted","count":3})", ""),
                    ProtocolError);
  Batch resync = decode("ew.t_inserted.~resync", R"({"event":"resync","reason":"slot_lost","label":"t_inserted"})");
  BOOST_REQUIRE_EQUAL(resync.size(), 1u);
  auto *event = std::get_if<Resync>(&resync.front());
  BOOST_REQUIRE(event);
  BOOST_TEST((event->reason == Resync::Reason::slot_lost));
  BOOST_TEST(event->label == "t_inserted");
  BOOST_CHECK_THROW(decode("ew.t_inserted.~unknown", R"({"label":"t_inserted"})"), ProtocolError);
}
