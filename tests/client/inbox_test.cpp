// The inbox without a server: the bound, and overflow counted per episode
// (drop_all), or no drop at all (pause).
#define BOOST_TEST_MODULE inbox
#include <boost/test/unit_test.hpp>

#include "inbox.hpp"
#include "message_decoder.hpp"

#include <ectowatch/ectowatch.hpp>

#include <string>

using namespace ectowatch;
using namespace ectowatch::detail;

namespace {

// A one-row message whose payload is `bytes` long.
MessagePtr message_of(std::size_t bytes, int id) {
  std::string payload = R"({"v":1,"op":"inserted","table":"public.t","label":"t","key":["id"],"rows":[{"id":)" +
                        std::to_string(id) + "}]}";
  auto message = std::const_pointer_cast<Message>(decode_message("t", payload));
  message->payload.resize(bytes, ' ');
  return message;
}

struct Counts {
  std::size_t messages = 0, overflows = 0, resyncs = 0;
  std::vector<std::uint64_t> dropped_per_overflow;
};

Counts drain(Inbox &inbox) {
  Counts counts;
  Batch batch;
  while (inbox.take(batch)) {
    for (Work &work : batch) {
      if (std::holds_alternative<MessagePtr>(work))
        ++counts.messages;
      else if (auto *resync = std::get_if<Resync>(&work))
        counts.resyncs += resync->reason == Resync::Reason::overflow;
      else if (auto *item = std::get_if<ErrorItem>(&work)) {
        try {
          std::rethrow_exception(item->error);
        } catch (const BufferOverflow &overflow) {
          ++counts.overflows;
          counts.dropped_per_overflow.push_back(overflow.messages());
        }
      }
      inbox.done(work);
    }
    batch.clear();
  }
  return counts;
}

} // namespace

BOOST_AUTO_TEST_CASE(one_overflow_per_full_buffer_and_nothing_unaccounted) {
  Inbox inbox(100, Inbox::Policy::drop_all);
  // 25 messages of 10 bytes into 100: the 11th and the 21st do not fit.
  for (int i = 0; i < 25; ++i) {
    inbox.put(Work{message_of(10, i)});
    BOOST_TEST(inbox.bytes() <= 100u); // the bound holds after every put
  }
  BOOST_TEST(inbox.overflows() == 2u);
  Counts counts = drain(inbox);
  BOOST_TEST(counts.overflows == 2u);
  BOOST_TEST(counts.resyncs == 2u);
  BOOST_TEST((counts.dropped_per_overflow == std::vector<std::uint64_t>{10, 10}));
  BOOST_TEST(counts.messages == 5u);
  BOOST_TEST(counts.messages + 10 + 10 == 25u); // delivered + dropped = sent
  BOOST_TEST(inbox.bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(a_batch_that_fits_is_queued_whole) {
  Inbox inbox(100, Inbox::Policy::drop_all);
  Batch batch;
  for (int i = 0; i < 10; ++i)
    batch.emplace_back(message_of(10, i));
  inbox.put(batch);
  BOOST_TEST(batch.empty());
  BOOST_TEST(inbox.bytes() == 100u);
  BOOST_TEST(inbox.overflows() == 0u);
  BOOST_TEST(drain(inbox).messages == 10u);
}

BOOST_AUTO_TEST_CASE(bytes_being_dispatched_count_against_the_bound) {
  Inbox inbox(100, Inbox::Policy::drop_all);
  for (int i = 0; i < 10; ++i)
    inbox.put(Work{message_of(10, i)});
  Batch taken;
  BOOST_REQUIRE(inbox.take(taken)); // the dispatcher holds them, not yet done
  inbox.put(Work{message_of(10, 99)});
  // Nothing queued to drop, yet the bound counts the taken bytes: an overflow
  // episode with zero messages dropped, and the new message kept.
  BOOST_TEST(inbox.overflows() == 1u);
  for (Work &work : taken)
    inbox.done(work);
  Counts counts = drain(inbox);
  BOOST_TEST(counts.messages == 1u);
  BOOST_TEST((counts.dropped_per_overflow == std::vector<std::uint64_t>{0}));
}

BOOST_AUTO_TEST_CASE(resyncs_and_errors_survive_an_overflow) {
  Inbox inbox(20, Inbox::Policy::drop_all);
  inbox.put(Work{message_of(10, 1)});
  inbox.put(Work{Resync{Resync::Reason::reconnected, {}}});
  inbox.put(Work{message_of(10, 2)});
  inbox.put(Work{message_of(10, 3)}); // overflow: both messages go, the resync stays
  Batch batch;
  BOOST_REQUIRE(inbox.take(batch));
  BOOST_REQUIRE_EQUAL(batch.size(), 4u);
  BOOST_TEST((std::get<Resync>(batch[0]).reason == Resync::Reason::reconnected));
  BOOST_TEST(std::holds_alternative<ErrorItem>(batch[1]));
  BOOST_TEST((std::get<Resync>(batch[2]).reason == Resync::Reason::overflow));
  BOOST_TEST(std::holds_alternative<MessagePtr>(batch[3]));
}

BOOST_AUTO_TEST_CASE(pause_never_drops_and_reports_full) {
  Inbox inbox(100, Inbox::Policy::pause);
  for (int i = 0; i < 9; ++i)
    inbox.put(Work{message_of(10, i)});
  BOOST_TEST(!inbox.full());
  for (int i = 9; i < 25; ++i)
    inbox.put(Work{message_of(10, i)});
  BOOST_TEST(inbox.full()); // the reader stops reading; nothing is dropped
  BOOST_TEST(inbox.overflows() == 0u);
  BOOST_TEST(drain(inbox).messages == 25u);
  BOOST_TEST(!inbox.full());
}

BOOST_AUTO_TEST_CASE(put_back_keeps_arrival_order) {
  Inbox inbox(1000, Inbox::Policy::drop_all);
  for (int i = 0; i < 3; ++i)
    inbox.put(Work{message_of(10, i)});
  Batch batch;
  BOOST_REQUIRE(inbox.take(batch));
  inbox.done(batch.front());
  batch.pop_front(); // message 0 dispatched, then the dispatcher halted
  inbox.put(Work{message_of(10, 3)});
  inbox.put_back(batch);
  BOOST_REQUIRE(inbox.take(batch));
  std::vector<std::int64_t> ids;
  for (Work &work : batch)
    ids.push_back(std::get<MessagePtr>(work)->rows[0].get<std::int64_t>("id"));
  BOOST_TEST((ids == std::vector<std::int64_t>{1, 2, 3}));
}
