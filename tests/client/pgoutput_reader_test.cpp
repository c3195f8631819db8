// pgoutput's binary protocol -> the output rows of the 'ectowatch' plugin,
// without a server (tests/pgoutput_test.sh reads a real pgoutput slot).
#define BOOST_TEST_MODULE pgoutput_reader
#include <boost/test/unit_test.hpp>

#include "pgoutput_reader.hpp"

#include <ectowatch/errors.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace ectowatch;
using namespace ectowatch::detail;

namespace {

std::string be(std::uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

std::string begin() { return "B" + be(0x500, 8) + be(0, 8) + be(742, 4); }
std::string commit() { return "C" + std::string(1, '\0') + be(0x500, 8) + be(0x520, 8) + be(0, 8); }
std::string message(bool transactional, const std::string &prefix, const std::string &content) {
  return "M" + std::string(1, transactional ? '\1' : '\0') + be(0x400, 8) + prefix + std::string(1, '\0') +
         be(content.size(), 4) + content;
}

using Rows = std::vector<std::pair<std::uint64_t, std::string>>;

// Feeds (lsn, pgoutput message) pairs to one reader; returns the rows.
Rows read_all(const std::vector<std::pair<std::uint64_t, std::string>> &stream) {
  PgoutputReader reader;
  Rows rows;
  for (const auto &[lsn, data] : stream)
    reader.read(lsn, data, [&](std::uint64_t at, std::string_view text) { rows.emplace_back(at, text); });
  return rows;
}

const std::string kText = R"({"v":1,"op":"inserted","table":"public.t","label":"t","key":["id"],"rows":[{"id":1}]})";

} // namespace

BOOST_AUTO_TEST_CASE(each_message_then_an_empty_row_at_the_commit) {
  Rows rows = read_all({{0x3f0, begin()},
                        {0x400, message(true, "ectowatch", kText)},
                        {0x410, message(true, "ectowatch", "{}")},
                        {0x520, commit()}});
  BOOST_TEST(rows.size() == 3u);
  BOOST_TEST((rows.at(0) == std::make_pair(std::uint64_t{0x400}, kText)));
  BOOST_TEST((rows.at(1) == std::make_pair(std::uint64_t{0x410}, std::string("{}"))));
  BOOST_TEST((rows.at(2) == std::make_pair(std::uint64_t{0x520}, std::string())));
}

BOOST_AUTO_TEST_CASE(other_prefixes_non_transactional_and_row_descriptions_are_skipped) {
  Rows rows = read_all({{0x100, message(false, "ectowatch", kText)}, // sent even for rolled-back work
                        {0x3f0, begin()},
                        {0x400, "R" + be(16384, 4) + "public" + std::string(1, '\0')},
                        {0x400, message(true, "ectowatch_relay", kText)},
                        {0x400, message(true, "ectowatc", kText)},
                        {0x400, message(true, "ectowatch", "")},
                        {0x520, commit()}});
  BOOST_TEST(rows.empty()); // not even the commit's row: the transaction had none of ours
}

BOOST_AUTO_TEST_CASE(a_transaction_without_ours_does_not_end_with_a_row) {
  Rows rows = read_all({{0x3f0, begin()},
                        {0x400, message(true, "ectowatch", kText)},
                        {0x520, commit()},
                        {0x530, begin()},
                        {0x540, message(true, "other", kText)},
                        {0x600, commit()}});
  BOOST_TEST(rows.size() == 2u);
  BOOST_TEST(rows.back().first == 0x520u);
}

BOOST_AUTO_TEST_CASE(a_truncated_message_is_a_connection_error) {
  std::string whole = message(true, "ectowatch", kText);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{12}, whole.size() - 1})
    BOOST_CHECK_THROW(read_all({{0x400, whole.substr(0, size)}}), ConnectionError);
  std::string no_nul = "M" + std::string(1, '\1') + be(0x400, 8) + "ectowatch";
  BOOST_CHECK_THROW(read_all({{0x400, no_nul}}), ConnectionError);
}
