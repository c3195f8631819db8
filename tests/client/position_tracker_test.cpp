// Durable positions without a server: what may be confirmed, transactions,
// and the status cadence.
#define BOOST_TEST_MODULE position_tracker
#include <boost/test/unit_test.hpp>

#include "message_decoder.hpp"
#include "position_tracker.hpp"

#include <ectowatch/ectowatch.hpp>

using namespace ectowatch;
using namespace ectowatch::detail;
using namespace std::chrono_literals;

namespace {

MessagePtr message_at(std::uint64_t lsn) {
  return decode_slot_message(
      lsn, R"({"v":1,"op":"inserted","table":"public.t","label":"t","key":["id"],"rows":[{"id":1}]})");
}

} // namespace

BOOST_AUTO_TEST_CASE(dispatched_follows_what_the_callbacks_finished) {
  PositionTracker positions;
  positions.received(0x300);
  BOOST_TEST(positions.received() == 0x300u);
  positions.received(0x200); // never goes back
  BOOST_TEST(positions.received() == 0x300u);
  BOOST_TEST(positions.dispatched() == 0u);
  positions.done(Work{message_at(0x100)});
  BOOST_TEST(positions.dispatched() == 0x100u);
  positions.done(Work{Position{0x80}}); // an older keepalive does not move it back
  BOOST_TEST(positions.dispatched() == 0x100u);
  positions.done(Work{Resync{Resync::Reason::slot_created, {}}}); // no position
  BOOST_TEST(positions.dispatched() == 0x100u);
}

BOOST_AUTO_TEST_CASE(inside_a_transaction_from_its_first_message_to_its_end) {
  PositionTracker positions;
  BOOST_TEST(!positions.inside_transaction());
  positions.done(Work{message_at(0x100)});
  BOOST_TEST(positions.inside_transaction());
  positions.done(Work{Position{0x110}}); // a position inside it (an unwanted label)
  BOOST_TEST(positions.inside_transaction());
  positions.done(Work{Position{0x120, true}}); // the plugin's end-of-transaction row
  BOOST_TEST(!positions.inside_transaction());
  BOOST_TEST(positions.dispatched() == 0x120u);
}

BOOST_AUTO_TEST_CASE(status_is_sent_soon_after_progress_and_every_interval) {
  PositionTracker positions;
  auto start = Clock::now();
  positions.status_sent(start, 0);
  BOOST_TEST(!positions.status_due(start + 1ms, false));
  BOOST_TEST(positions.status_due(start + 1ms, true)); // the server asked
  BOOST_TEST((positions.next_status() == start + PositionTracker::kStatusInterval));
  BOOST_TEST(positions.status_due(start + PositionTracker::kStatusInterval, false));

  positions.done(Work{Position{0x100}});
  BOOST_TEST((positions.next_status() == start + PositionTracker::kStatusBatch));
  BOOST_TEST(!positions.status_due(start + 1ms, false)); // a little batched
  BOOST_TEST(positions.status_due(start + PositionTracker::kStatusBatch, false));
  positions.status_sent(start + PositionTracker::kStatusBatch, positions.dispatched());
  BOOST_TEST(!positions.status_due(start + 2 * PositionTracker::kStatusBatch, false));
}
