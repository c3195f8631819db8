// Coalescing windows without a server: the first event of a key at once,
// the latest of the window at its end, a quiet window forgets the key.
#define BOOST_TEST_MODULE coalescer
#include <boost/test/unit_test.hpp>

#include "coalescer.hpp"
#include "message_decoder.hpp"

#include <ectowatch/ectowatch.hpp>

using namespace ectowatch;
using namespace ectowatch::detail;
using namespace std::chrono_literals;

namespace {

Event row_event(int id, int version) {
  auto message =
      decode_message("t", R"({"v":1,"op":"updated","table":"public.t","label":"t","key":["id"],"rows":[{"id":)" +
                              std::to_string(id) + R"(,"n":)" + std::to_string(version) + "}]}");
  return Event(message, Event::Kind::row, 0);
}

SubscriptionPtr subscription(std::optional<std::chrono::milliseconds> window) {
  auto state = std::make_shared<Subscription::State>();
  state->label = "t";
  state->options.coalesce = window;
  return state;
}

int version_of(const Event &event) { return event.row().get<int>("n"); }

} // namespace

BOOST_AUTO_TEST_CASE(without_a_window_everything_passes) {
  Coalescer coalescer;
  auto plain = subscription(std::nullopt);
  auto now = Clock::now();
  BOOST_TEST(coalescer.admit(plain, row_event(1, 1), now));
  BOOST_TEST(coalescer.admit(plain, row_event(1, 2), now));
  BOOST_TEST((coalescer.next_deadline() == Clock::time_point::max()));
}

BOOST_AUTO_TEST_CASE(the_latest_event_of_a_window_is_delivered_at_its_end) {
  Coalescer coalescer;
  auto coalesced = subscription(100ms);
  auto now = Clock::now();
  BOOST_TEST(coalescer.admit(coalesced, row_event(1, 1), now)); // first: at once
  BOOST_TEST(!coalescer.admit(coalesced, row_event(1, 2), now + 10ms));
  BOOST_TEST(!coalescer.admit(coalesced, row_event(1, 3), now + 20ms));
  BOOST_TEST(coalescer.admit(coalesced, row_event(2, 1), now + 20ms)); // another key: its own window
  BOOST_TEST((coalescer.next_deadline() == now + 100ms));
  BOOST_TEST(!coalescer.take_due(now + 99ms));
  auto due = coalescer.take_due(now + 100ms);
  BOOST_REQUIRE(due);
  BOOST_TEST(due->subscription == coalesced);
  BOOST_TEST(version_of(due->event) == 3); // 2 collapsed into 3
  // Key 2 had nothing more: its window ends quietly and the key is forgotten.
  BOOST_TEST(!coalescer.take_due(now + 120ms));
  BOOST_TEST(coalesced->slots.count(detail::canonical_key({"2"})) == 0u);
  // Key 1's delivery opened a new window: an event in it waits again.
  BOOST_TEST(!coalescer.admit(coalesced, row_event(1, 4), now + 150ms));
  due = coalescer.take_due(now + 200ms);
  BOOST_REQUIRE(due);
  BOOST_TEST(version_of(due->event) == 4);
}

BOOST_AUTO_TEST_CASE(only_rows_are_coalesced) {
  Coalescer coalescer;
  auto coalesced = subscription(100ms);
  auto truncate =
      decode_message("t", R"({"v":1,"op":"truncated","table":"public.t","label":"t","key":["id"],"rows":[]})");
  auto now = Clock::now();
  BOOST_TEST(coalescer.admit(coalesced, Event(truncate, Event::Kind::truncated), now));
  BOOST_TEST(coalescer.admit(coalesced, Event(truncate, Event::Kind::truncated), now));
}

BOOST_AUTO_TEST_CASE(a_window_of_a_gone_subscription_is_skipped) {
  Coalescer coalescer;
  auto now = Clock::now();
  {
    auto coalesced = subscription(100ms);
    BOOST_TEST(coalescer.admit(coalesced, row_event(1, 1), now));
    BOOST_TEST(!coalescer.admit(coalesced, row_event(1, 2), now));
  }
  BOOST_TEST(!coalescer.take_due(now + 1s));
  BOOST_TEST((coalescer.next_deadline() == Clock::time_point::max()));
}
