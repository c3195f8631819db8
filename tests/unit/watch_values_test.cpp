// The values of ectowatch_watch's op and delivery are defined once on each
// side: sql/values for the SQL scripts (as @OPS@ and @DELIVERIES@), and
// ectowatch/protocol.hpp for the C++ that reads the triggers' arguments and
// writes the messages. This checks that the newest values of sql/values are
// exactly the C++ ones, in order: a value added on one side only fails here.
#define BOOST_TEST_MODULE watch_values
#include <boost/test/unit_test.hpp>

#include "ectowatch/protocol.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

// version "0.3.0" -> {0, 3, 0}, for ordering.
std::vector<int> version_parts(const std::string &version) {
  std::vector<int> parts;
  std::istringstream in(version);
  for (std::string part; std::getline(in, part, '.');)
    parts.push_back(std::stoi(part));
  return parts;
}

// The newest value of each name in sql/values, as a list of the quoted words.
std::map<std::string, std::vector<std::string>> newest_sql_values() {
  std::ifstream file(SQL_VALUES_PATH);
  BOOST_REQUIRE_MESSAGE(file, "cannot read " SQL_VALUES_PATH);
  std::map<std::string, std::pair<std::vector<int>, std::vector<std::string>>> newest;
  for (std::string line; std::getline(file, line);) {
    std::istringstream in(line);
    std::string name, since;
    if (!(in >> name >> since) || name[0] == '#')
      continue;
    std::vector<std::string> words;
    std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::size_t open = rest.find('\''); open != std::string::npos; open = rest.find('\'', open + 1)) {
      std::size_t close = rest.find('\'', open + 1);
      BOOST_REQUIRE(close != std::string::npos);
      words.push_back(rest.substr(open + 1, close - open - 1));
      open = close;
    }
    auto &entry = newest[name];
    if (entry.first.empty() || version_parts(since) >= entry.first)
      entry = {version_parts(since), words};
  }
  std::map<std::string, std::vector<std::string>> values;
  for (auto &[name, entry] : newest)
    values[name] = entry.second;
  return values;
}

template <std::size_t N> std::vector<std::string> cpp_values(const char *const (&names)[N]) {
  return std::vector<std::string>(std::begin(names), std::end(names));
}

} // namespace

BOOST_AUTO_TEST_CASE(ops_agree) {
  auto sql = newest_sql_values();
  BOOST_TEST(sql["OPS"] == cpp_values(ectowatch::protocol::kOps), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(deliveries_agree) {
  auto sql = newest_sql_values();
  BOOST_TEST(sql["DELIVERIES"] == cpp_values(ectowatch::protocol::kDeliveries), boost::test_tools::per_element());
}
