// Unit tests of the message packer (extension/message_packer.hpp): every
// message fits one NOTIFY payload, rows keep their order, oversized rows are
// truncated to their key or counted as dropped.
#define BOOST_TEST_MODULE message_packer
#include <boost/test/unit_test.hpp>

#include "message_packer.hpp"

#include <string>
#include <vector>

using ectowatch::kMaxPayloadBytes;
using ectowatch::MessagePacker;

namespace {

const std::string kPrefix = R"({"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[)";

struct Collected {
  std::vector<std::string> messages;
  MessagePacker::Sink sink() {
    return [this](const std::string &message) { messages.push_back(message); };
  }
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
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  packer.flush();
  BOOST_TEST(out.messages.empty());
}

BOOST_AUTO_TEST_CASE(small_rows_share_one_message_in_order) {
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  for (int id = 1; id <= 3; ++id)
    packer.add_row(row(id), key_length(row(id)));
  packer.flush();
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":1},{"id":2},{"id":3}]})");
}

BOOST_AUTO_TEST_CASE(many_rows_split_into_messages_that_fit) {
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  const int rows = 5000;
  for (int id = 0; id < rows; ++id)
    packer.add_row(row(id), key_length(row(id)));
  packer.flush();
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
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  std::string base = row(1, 1);
  std::string exact = row(1, 1 + packer.max_row_bytes() - base.size());
  BOOST_REQUIRE_EQUAL(exact.size(), packer.max_row_bytes());
  packer.add_row(exact, key_length(exact));
  packer.add_row(exact, key_length(exact));
  packer.flush();
  BOOST_REQUIRE_EQUAL(out.messages.size(), 2u);
  for (const auto &message : out.messages) {
    BOOST_TEST(message.size() <= kMaxPayloadBytes);
    BOOST_TEST(message.find("truncated") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(oversized_row_keeps_its_key_and_marks_the_message) {
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  std::string huge = row(7, kMaxPayloadBytes);
  packer.add_row(row(6), key_length(row(6)));
  packer.add_row(huge, key_length(huge));
  packer.add_row(row(8), key_length(row(8)));
  packer.flush();
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":6},{"id":7},{"id":8}],"truncated":true})");
}

BOOST_AUTO_TEST_CASE(key_too_big_is_dropped_and_counted) {
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  std::string huge_key = R"({"id":")" + std::string(kMaxPayloadBytes, 'k') + "\"}";
  packer.add_row(huge_key, huge_key.size() - 1);
  packer.add_row(huge_key, huge_key.size() - 1);
  packer.flush();
  BOOST_REQUIRE_EQUAL(out.messages.size(), 1u);
  BOOST_TEST(out.messages[0] == kPrefix + R"(],"dropped":2})");
}

BOOST_AUTO_TEST_CASE(already_truncated_rows_mark_their_message) {
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  packer.add_row(R"({"id":1})", 7, true);
  packer.flush();
  packer.add_row(R"({"id":2})", 7, false);
  packer.flush();
  BOOST_REQUIRE_EQUAL(out.messages.size(), 2u);
  BOOST_TEST(out.messages[0] == kPrefix + R"({"id":1}],"truncated":true})");
  BOOST_TEST(out.messages[1] == kPrefix + R"({"id":2}]})");
}

BOOST_AUTO_TEST_CASE(largest_trailer_still_fits) {
  // A full message that also carries both flags and a huge dropped count.
  Collected out;
  MessagePacker packer(kPrefix, out.sink());
  packer.add_dropped(18446744073709551615ull - 1);
  std::string huge = row(1, kMaxPayloadBytes);
  packer.add_row(huge, key_length(huge));
  for (int id = 0; id < 2000; ++id)
    packer.add_row(row(id), key_length(row(id)));
  packer.flush();
  for (const auto &message : out.messages)
    BOOST_TEST(message.size() <= kMaxPayloadBytes);
  BOOST_TEST(out.messages[0].find(R"("truncated":true,"dropped":18446744073709551614})") != std::string::npos);
}
