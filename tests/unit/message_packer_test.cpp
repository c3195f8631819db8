// Unit tests of the message packer (extension/message_packer.hpp): every
// message fits one NOTIFY payload, rows keep their order, oversized rows are
// truncated to their key or counted as dropped, and a transaction's dropped
// rows are reported once, on its last message. MessagePacker packs with
// pack_row(), the function the trigger path packs with.
#define BOOST_TEST_MODULE message_packer
#include <boost/test/unit_test.hpp>

#include "message_packer.hpp"

#include <string>
#include <vector>

using ectowatch::kMaxPayloadBytes;
using ectowatch::MessagePacker;
using ectowatch::row_capacity;

namespace {

const std::string kPrefix = R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[)";

struct Collected {
  std::vector<std::string> messages;
};

std::string row(int id, std::size_t body_size = 0) {
  std::string text = R"({"id":)" + std::to_string(id);
  if (body_size > 0)
    text += R"(,"body":")" + std::string(body_size, 'x') + "\"";
  return text + "}";
}

std::size_t key_length(const std::string &text) {
  auto comma = text.find(",\"body\"");
  return comma == std::string::npos ? text.size() - 1 : comma;
}

} // namespace

BOOST_AUTO_TEST_CASE(nothing_added_sends_nothing) {
  MessagePacker packer(kPrefix);
  Collected out{packer.finish()};
  BOOST_TEST(out.messages.empty());
}

BOOST_AUTO_TEST_CASE(small_rows_share_one_message_in_order) {
  MessagePacker packer(kPrefix);
  for (int id = 1; id <= 3; ++id)
    packer.add_row(row(id), key_length(row(id)));
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":1},{"id":2},{"id":3}]})");
}

BOOST_AUTO_TEST_CASE(many_rows_split_into_messages_that_fit) {
  MessagePacker packer(kPrefix);
  const int rows = 5000;
  for (int id = 0; id < rows; ++id)
    packer.add_row(row(id), key_length(row(id)));
  Collected out{packer.finish()};
  BOOST_TEST(out.messages.size() > 1u);
  int next_id = 0;
  for (const auto &message : out.messages) {
    BOOST_TEST(message.size() <= kMaxPayloadBytes);
    BOOST_TEST(message.compare(0, kPrefix.size(), kPrefix) == 0);
    BOOST_TEST(message.substr(message.size() - 2) == "]}");
    // Rows continue where the previous message stopped.
    BOOST_TEST(message.find(R"({"id":)" + std::to_string(next_id) + "}") == kPrefix.size());
    std::size_t count = 0;
    for (std::size_t at = message.find("{\"id\":"); at != std::string::npos; at = message.find("{\"id\":", at + 1))
      ++count;
    next_id += static_cast<int>(count);
  }
  BOOST_TEST(next_id == rows);
  // Packed tightly: all but the last message are nearly full.
  BOOST_TEST(out.messages.front().size() > kMaxPayloadBytes - ectowatch::kTrailerReserve - 20);
}

BOOST_AUTO_TEST_CASE(row_of_exactly_the_capacity_fits_alone) {
  MessagePacker packer(kPrefix);
  std::string base = row(1, 1);
  std::string exact = row(1, 1 + row_capacity(kPrefix.size()) - base.size());
  BOOST_REQUIRE_EQUAL(exact.size(), row_capacity(kPrefix.size()));
  packer.add_row(exact, key_length(exact));
  packer.add_row(exact, key_length(exact));
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 2u);
  for (const auto &message : out.messages) {
    BOOST_TEST(message.size() <= kMaxPayloadBytes);
    BOOST_TEST(message.find("truncated") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(oversized_row_keeps_its_key_and_marks_the_message) {
  MessagePacker packer(kPrefix);
  std::string huge = row(7, kMaxPayloadBytes);
  packer.add_row(row(6), key_length(row(6)));
  packer.add_row(huge, key_length(huge));
  packer.add_row(row(8), key_length(row(8)));
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":6},{"id":7},{"id":8}],"truncated":true})");
}

BOOST_AUTO_TEST_CASE(key_too_big_is_dropped_and_counted) {
  MessagePacker packer(kPrefix);
  std::string huge_key = R"({"id":")" + std::string(kMaxPayloadBytes, 'k') + "\"}";
  packer.add_row(huge_key, huge_key.size() - 1);
  packer.add_row(huge_key, huge_key.size() - 1);
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"(],"dropped":2})");
}

BOOST_AUTO_TEST_CASE(a_whole_message_between_rows_starts_a_new_message) {
  MessagePacker packer(kPrefix);
  packer.add_row(row(1), key_length(row(1)));
  packer.close(); // a TRUNCATE message was queued here
  packer.add_row(row(2), key_length(row(2)));
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 2u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":1}]})");
  BOOST_TEST(out.messages[1] == kPrefix + R"({"id":2}]})");
}

// Identical notifications of one transaction arrive once (PostgreSQL): two
// messages alike that each said "dropped":1 would arrive as one 1.
BOOST_AUTO_TEST_CASE(dropped_rows_of_all_messages_are_counted_on_the_last) {
  MessagePacker packer(kPrefix);
  std::string filler = row(1, row_capacity(kPrefix.size()) / 2 - 20); // two fit a message
  std::string huge_key = R"({"id":")" + std::string(kMaxPayloadBytes, 'k') + "\"}";
  for (int round = 0; round < 2; ++round) {
    packer.add_row(filler, key_length(filler));
    packer.add_row(filler, key_length(filler));
    packer.add_row(huge_key, huge_key.size() - 1);
  }
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 2u);
  BOOST_TEST(out.messages[0].find("dropped") == std::string::npos);
  BOOST_TEST(out.messages[1].substr(out.messages[1].size() - 14) == R"(],"dropped":2})");
  BOOST_TEST(out.messages[0] != out.messages[1]);
}

BOOST_AUTO_TEST_CASE(a_message_of_only_dropped_rows_is_not_sent_when_not_last) {
  MessagePacker packer(kPrefix);
  std::string huge_key = R"({"id":")" + std::string(kMaxPayloadBytes, 'k') + "\"}";
  packer.add_row(huge_key, huge_key.size() - 1);
  packer.close();
  packer.add_row(row(2), key_length(row(2)));
  Collected out{packer.finish()};
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":2}],"dropped":1})");
}

BOOST_AUTO_TEST_CASE(largest_trailer_still_fits) {
  // A full body with both flags, the largest dropped count and the relay's "lsn".
  std::string body(row_capacity(kPrefix.size()), 'x');
  std::string message;
  ectowatch::finish_message(message, kPrefix, body, true, 18446744073709551615ull);
  BOOST_TEST(message.size() + std::string(R"(,"lsn":"FFFFFFFF/FFFFFFFF")").size() <= kMaxPayloadBytes);
}
