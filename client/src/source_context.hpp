// What every event source is given by the runtime that owns it.
#pragma once

#include "ectowatch/client.hpp"
#include "ectowatch/errors.hpp"
#include "inbox.hpp"
#include "stats_counters.hpp"
#include "subscription_registry.hpp"
#include "work.hpp"

#include <string>
#include <vector>

namespace ectowatch::detail {

struct SourceContext {
  const std::string &conninfo;
  const ClientOptions &options;
  const SubscriptionRegistry &registry; // which labels are wanted
  const Inbox &inbox;                   // how full the dispatcher's queue is
  StatsCounters &stats;                 // count each message read: stats.message_read(payload bytes)
};

// Rows left out of the message just decoded (a bad row never takes its
// neighbours down): each is reported after the message's other rows.
inline void queue_bad_rows(std::vector<RowError> &bad_rows, Batch &out) {
  for (RowError &error : bad_rows)
    out.emplace_back(ErrorItem{std::make_exception_ptr(std::move(error))});
  bad_rows.clear();
}

} // namespace ectowatch::detail
