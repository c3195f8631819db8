// Repacking relayed messages (extension/relay_packer.cpp) without a server:
// adjacent messages of one watcher merge while they fit, nothing moves past
// another message, flags combine, and every notification gets its "lsn".
#define BOOST_TEST_MODULE relay_packer
#include <boost/test/unit_test.hpp>

#include "message_packer.hpp"
#include "relay_packer.hpp"

#include <string>

using ectowatch::kMaxPayloadBytes;
using ectowatch::Notification;
using ectowatch::RelayedMessage;
using ectowatch::repack_for_relay;

namespace {

const std::string kPrefixA = R"({"v":1,"op":"inserted","table":"public.a","label":"a_inserted","key":["id"],"rows":[)";
const std::string kPrefixB = R"({"v":1,"op":"inserted","table":"public.b","label":"b_inserted","key":["id"],"rows":[)";

std::string message(const std::string &prefix, const std::string &body, const std::string &flags = "") {
  return prefix + body + "]" + flags + "}";
}

} // namespace

BOOST_AUTO_TEST_CASE(adjacent_messages_of_one_watcher_merge_and_keep_the_last_position) {
  std::string m1 = message(kPrefixA, R"({"id":1},{"id":2})");
  std::string m2 = message(kPrefixA, R"({"id":3})");
  auto out = repack_for_relay({{m1, 0x10}, {m2, 0x1'0000'0020}});
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].channel == "a_inserted");
  BOOST_TEST(out[0].payload == kPrefixA + R"({"id":1},{"id":2},{"id":3}],"lsn":"1/20"})");
}

// After a crash the worker relays again from its slot's last persisted
// position, in rounds cut elsewhere: a transaction's notifications (rows and
// lsn) must not depend on what else its round held, or `lsn` no longer
// identifies a repeat (docs/protocol.md).
BOOST_AUTO_TEST_CASE(a_transaction_packs_the_same_whatever_its_round_holds) {
  std::string t1 = message(kPrefixA, R"({"id":1})");
  std::string t2a = message(kPrefixA, R"({"id":2})");
  std::string t2b = message(kPrefixA, R"({"id":3})");
  std::string t3 = message(kPrefixA, R"({"id":4})");
  auto together = repack_for_relay({{t1, 1, 700}, {t2a, 2, 701}, {t2b, 3, 701}, {t3, 4, 702}});
  auto alone = repack_for_relay({{t2a, 2, 701}, {t2b, 3, 701}});
  BOOST_REQUIRE_EQUAL(together.size(), 3u);
  BOOST_TEST(together[0].payload == kPrefixA + R"({"id":1}],"lsn":"0/1"})");
  BOOST_TEST(together[1].payload == kPrefixA + R"({"id":2},{"id":3}],"lsn":"0/3"})");
  BOOST_TEST(together[2].payload == kPrefixA + R"({"id":4}],"lsn":"0/4"})");
  BOOST_REQUIRE_EQUAL(alone.size(), 1u);
  BOOST_TEST(alone[0].payload == together[1].payload);
}

BOOST_AUTO_TEST_CASE(nothing_moves_past_another_watchers_message) {
  std::string a1 = message(kPrefixA, R"({"id":1})");
  std::string b1 = message(kPrefixB, R"({"id":9})");
  std::string a2 = message(kPrefixA, R"({"id":2})");
  auto out = repack_for_relay({{a1, 1}, {b1, 2}, {a2, 3}});
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_TEST(out[0].channel == "a_inserted");
  BOOST_TEST(out[1].channel == "b_inserted");
  BOOST_TEST(out[2].payload == kPrefixA + R"({"id":2}],"lsn":"0/3"})");
}

BOOST_AUTO_TEST_CASE(flags_combine_and_truncate_messages_stay_alone) {
  std::string m1 = message(kPrefixA, R"({"id":1})", R"(,"truncated":true)");
  std::string m2 = message(kPrefixA, R"({"id":2})", R"(,"dropped":3)");
  std::string m3 = message(kPrefixA, R"({"id":4})", R"(,"truncated":true,"dropped":12)");
  std::string truncate = R"({"v":1,"op":"truncated","table":"public.a","label":"a_deleted","key":["id"],"rows":[]})";
  auto out = repack_for_relay({{m1, 1}, {m2, 2}, {m3, 3}, {truncate, 4}});
  BOOST_REQUIRE_EQUAL(out.size(), 2u);
  BOOST_TEST(out[0].payload == kPrefixA + R"({"id":1},{"id":2},{"id":4}],"truncated":true,"dropped":15,"lsn":"0/3"})");
  BOOST_TEST(out[1].payload ==
             R"({"v":1,"op":"truncated","table":"public.a","label":"a_deleted","key":["id"],"rows":[],"lsn":"0/4"})");
}

BOOST_AUTO_TEST_CASE(merged_notifications_stay_under_the_payload_limit) {
  // Messages as full as the packer makes them, plus flags: never merged past the limit.
  std::string row = R"({"id":1,"pad":")" + std::string(900, 'x') + R"("})";
  std::string body;
  while (body.size() + row.size() + 1 <= ectowatch::row_capacity(kPrefixA.size()))
    body += (body.empty() ? "" : ",") + row;
  std::vector<std::string> messages;
  for (int i = 0; i < 5; ++i)
    messages.push_back(message(kPrefixA, body, R"(,"truncated":true,"dropped":99999999999)"));
  messages.push_back(message(kPrefixA, row));
  messages.push_back(message(kPrefixA, row));
  std::vector<RelayedMessage> in;
  for (std::size_t i = 0; i < messages.size(); ++i)
    in.push_back({messages[i], 0xFFFFFFFF'FFFFFFF0u + i});
  auto out = repack_for_relay(in);
  BOOST_TEST(out.size() == 6u); // the two small ones merged, the full ones not
  for (const Notification &notification : out)
    BOOST_TEST(notification.payload.size() <= kMaxPayloadBytes);
}

BOOST_AUTO_TEST_CASE(strings_that_look_like_fields_do_not_confuse_it) {
  // A table named with quotes and a key value containing "rows":[ and ]}.
  std::string prefix =
      R"({"v":1,"op":"inserted","table":"public.\"rows\":[x","label":"odd_inserted","key":["k"],"rows":[)";
  std::string m1 = message(prefix, R"({"k":"]}\"rows\":["})");
  std::string m2 = message(prefix, R"({"k":"b"})");
  auto out = repack_for_relay({{m1, 1}, {m2, 2}});
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].channel == "odd_inserted");
  BOOST_TEST(out[0].payload == prefix + R"({"k":"]}\"rows\":["},{"k":"b"}],"lsn":"0/2"})");
}

BOOST_AUTO_TEST_CASE(what_is_not_a_message_is_skipped) {
  std::vector<std::string_view> skipped;
  std::string good = message(kPrefixA, R"({"id":1})");
  auto out = repack_for_relay({{"not json", 1}, {good, 2}, {R"({"v":1})", 3}}, &skipped);
  BOOST_TEST(out.size() == 1u);
  BOOST_TEST(skipped.size() == 2u);
}
