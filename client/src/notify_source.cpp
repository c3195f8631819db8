#include "notify_source.hpp"

#include "ectowatch/protocol.hpp"

#include "message_decoder.hpp"

namespace ectowatch::detail {

namespace {

// The relay worker's channel for "your events may be lost" (its slot was
// invalidated): every client LISTENs on it.
constexpr const char *kResyncChannel = protocol::kResyncChannel;

} // namespace

void NotifySource::connect(Batch &out, bool reconnect) {
  const ClientOptions &options = context_.options;
  auto fresh =
      std::make_unique<PgConnection>(context_.conninfo, options.application_name, options.connect_timeout_seconds);
  relay_.reset();
  relay_.listen(*fresh, kResyncChannel);
  std::set<std::string> channels;
  for (const std::string &label : context_.registry.labels()) {
    fresh->listen(label);
    channels.insert(label);
  }
  connection_ = std::move(fresh);
  listening_ = std::move(channels);
  last_activity_ = Clock::now();
  take_buffered(out);
  if (reconnect)
    out.emplace_back(Resync{Resync::Reason::reconnected, {}});
}

void NotifySource::close() {
  connection_.reset();
  listening_.clear();
}

void NotifySource::take_buffered(Batch &out) {
  connection_->take_buffered(
      [&](std::string_view channel, std::string_view payload, int pid) { accept(channel, payload, pid, out); });
}

void NotifySource::poll(Batch &out) {
  auto visit = [&](std::string_view channel, std::string_view payload, int pid) { accept(channel, payload, pid, out); };
  std::size_t received = connection_->read_notifications(visit);
  auto now = Clock::now();
  if (received > 0) {
    last_activity_ = now;
  } else if (now - last_activity_ >= context_.options.health_check_interval) {
    connection_->check_alive();
    last_activity_ = now;
    connection_->take_buffered(visit);
  }
}

Clock::time_point NotifySource::next_deadline() const {
  return connection_ ? last_activity_ + context_.options.health_check_interval : Clock::time_point::max();
}

// LISTEN or UNLISTEN `label` so that the connection matches the registry
// (a reconnect LISTENs every wanted channel).
void NotifySource::label_changed(const std::string &label, Batch &out) {
  if (!connection_)
    return;
  bool wanted = context_.registry.wants(label);
  bool listened = listening_.count(label) > 0;
  if (wanted && !listened) {
    connection_->listen(label);
    listening_.insert(label);
  } else if (!wanted && listened) {
    connection_->unlisten(label);
    listening_.erase(label);
  }
  take_buffered(out);
}

// Statements run on the LISTEN connection; notifications libpq received
// during them are queued in order.
void NotifySource::run_query(const char *what, const std::function<void(PgConnection &)> &query, Batch &out) {
  if (!connection_)
    throw ConnectionError(std::string(what) + ": not connected (reconnecting)");
  try {
    query(*connection_);
    take_buffered(out);
  } catch (const ConnectionError &) {
    close(); // the runtime sees the source closed and reconnects
    throw;
  }
}

void NotifySource::accept(std::string_view channel, std::string_view payload, int sender_pid, Batch &out) {
  if (channel == kResyncChannel) {
    if (relay_.authentic(*connection_, channel, true, sender_pid))
      out.emplace_back(Resync{Resync::Reason::relay_lost, {}});
    else
      out.emplace_back(ErrorItem{
          RelayAuthenticity::forged(channel, payload, sender_pid, "a relay_lost resync comes from the relay worker")});
    return;
  }
  context_.stats.message_read(payload.size());
  // A label unsubscribed meanwhile (until its UNLISTEN) is decoded too and
  // then matches nothing: cheaper than a second registry lookup per message.
  try {
    auto message = decode_message(channel, payload, Parser::fast_path_first, &bad_rows_);
    if (!relay_.authentic(*connection_, channel, message->lsn != 0, sender_pid)) {
      bad_rows_.clear();
      out.emplace_back(ErrorItem{
          RelayAuthenticity::forged(channel, payload, sender_pid,
                                    message->lsn != 0 ? "it carries a WAL position, as only relayed messages do"
                                                      : "its label's watcher has delivery 'relay'")});
      return;
    }
    out.emplace_back(std::move(message));
    queue_bad_rows(bad_rows_, out);
  } catch (const ProtocolError &) {
    out.emplace_back(ErrorItem{std::current_exception()});
  }
}

} // namespace ectowatch::detail
