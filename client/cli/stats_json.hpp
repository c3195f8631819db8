// `listen --stats`: the client's counts (Client::stats()) as one JSON line.
#pragma once

#include <ectowatch/ectowatch.hpp>

#include <string>

namespace ectowatch::cli {

// {"messages":M,"bytes":B,"events":E,"decode_errors":D,"callback_errors":C,
//  "resyncs":{"reconnected":R,...},"overflows":O,"reconnects":N}, plus
// "confirmed_lsn":"X/Y" for a durable client.
std::string stats_json(const Stats &stats, bool durable);

} // namespace ectowatch::cli
