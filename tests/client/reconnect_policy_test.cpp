// The reconnect backoff without a server.
#define BOOST_TEST_MODULE reconnect_policy
#include <boost/test/unit_test.hpp>

#include "reconnect_policy.hpp"

using ectowatch::detail::ReconnectPolicy;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

BOOST_AUTO_TEST_CASE(the_first_attempt_and_the_first_retry_after_a_loss_are_immediate) {
  ReconnectPolicy policy(100ms, 10s);
  auto now = Clock::now();
  BOOST_TEST(policy.due(now));
  policy.lost(now);
  BOOST_TEST(policy.due(now));
}

BOOST_AUTO_TEST_CASE(failures_double_the_wait_up_to_the_cap) {
  ReconnectPolicy policy(100ms, 1s);
  auto now = Clock::now();
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 6; ++i) {
    policy.failed(now);
    waits.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(policy.next_attempt() - now));
    BOOST_TEST(!policy.due(now));
    BOOST_TEST(policy.due(policy.next_attempt()));
  }
  BOOST_TEST((waits == std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1s, 1s}));
}

BOOST_AUTO_TEST_CASE(a_success_resets_the_backoff_a_loss_does_not) {
  ReconnectPolicy policy(100ms, 10s);
  auto now = Clock::now();
  policy.failed(now);
  policy.failed(now);
  policy.lost(now); // retry at once, but a failure still continues the backoff
  BOOST_TEST(policy.due(now));
  policy.failed(now);
  BOOST_TEST(policy.backoff() == 400ms);
  policy.succeeded();
  BOOST_TEST(policy.backoff() == 0ms);
  policy.failed(now);
  BOOST_TEST(policy.backoff() == 100ms);
}
