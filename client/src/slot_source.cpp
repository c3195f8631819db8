#include "slot_source.hpp"

#include "message_decoder.hpp"

#include <algorithm>

namespace ectowatch::detail {

void SlotSource::connect(Batch &out, bool) {
  const ClientOptions &options = context_.options;
  auto fresh =
      std::make_unique<ReplicationStream>(context_.conninfo, options.application_name, options.connect_timeout_seconds);
  auto slot = fresh->prepare_slot(durable_.slot, durable_.create_slot);
  stream_ = std::move(fresh);
  last_activity_ = Clock::now();
  if (slot.created || slot.lost) {
    out.emplace_back(LogLine{slot.lost ? LogLevel::warning : LogLevel::info,
                             "replication slot \"" + durable_.slot + "\" " +
                                 (slot.lost ? "was lost (invalidated) and created again" : "created") +
                                 (slot.plugin == "pgoutput" ? " (plugin pgoutput)" : "")});
    out.emplace_back(Resync{slot.lost ? Resync::Reason::slot_lost : Resync::Reason::slot_created, {}});
  }
}

bool SlotSource::paused(std::size_t pending_bytes) const {
  return context_.inbox.bytes() + pending_bytes >= context_.options.max_buffered_bytes;
}

void SlotSource::poll(Batch &out) {
  if (!stream_->streaming())
    stream_->start(durable_.slot, positions_.received()); // 0: from the slot's confirmed position
  bool reply_requested = false;
  std::size_t seen = 0;
  if (!paused(0))
    seen = stream_->read({[&](std::uint64_t lsn, std::string_view payload) { accept(lsn, payload, out); },
                          [&](std::uint64_t lsn) {
                            positions_.received(lsn);
                            out.emplace_back(Position{lsn});
                          }},
                         reply_requested);
  std::size_t pending = 0;
  for (const Work &work : out)
    pending += size_of(work);
  auto now = Clock::now();
  const auto interval = context_.options.health_check_interval;
  // A status request goes after `interval` of silence; a walsender busy with
  // a long transaction answers it within half its wal_sender_timeout
  // (ReplicationStream::sender_timeout).
  const auto silence_limit = 2 * interval + stream_->sender_timeout() / 2;
  if (seen > 0 || paused(pending))
    last_activity_ = now;
  else if (now - last_activity_ >= silence_limit)
    throw ConnectionError(
        "the server did not answer a status request for " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_activity_ - interval).count()) +
        " ms");
  bool check = now - last_activity_ >= interval && now - positions_.last_status() >= interval;
  send_status(reply_requested || check, check);
}

// Confirms what the callbacks have finished (PositionTracker's cadence).
void SlotSource::send_status(bool force, bool request_reply) {
  auto now = Clock::now();
  if (!positions_.status_due(now, force))
    return;
  std::uint64_t confirmed = positions_.confirmable();
  stream_->send_status(std::max(positions_.received(), confirmed), confirmed, request_reply);
  positions_.status_sent(now, confirmed);
}

Clock::time_point SlotSource::next_deadline() const {
  if (!stream_)
    return Clock::time_point::max();
  if (!stream_->streaming())
    return Clock::now(); // the first poll starts streaming
  return std::min(last_activity_ + context_.options.health_check_interval, positions_.next_status());
}

// Decodes and queues one message read from the slot. Messages nobody
// subscribed to are consumed unseen: only their position is queued.
void SlotSource::accept(std::uint64_t lsn, std::string_view payload, Batch &out) {
  positions_.received(lsn);
  if (payload.empty()) {
    out.emplace_back(Position{lsn, true});
    return;
  }
  context_.stats.message_read(payload.size());
  try {
    auto message = decode_slot_message(lsn, payload, &bad_rows_);
    if (context_.registry.wants(message->label)) {
      out.emplace_back(std::move(message));
      queue_bad_rows(bad_rows_, out);
      return;
    }
    bad_rows_.clear();
  } catch (const ProtocolError &) {
    out.emplace_back(ErrorItem{std::current_exception()});
  }
  out.emplace_back(Position{lsn});
}

void SlotSource::run_query(const char *, const std::function<void(PgConnection &)> &query, Batch &) {
  try {
    if (!admin_)
      admin_ = std::make_unique<PgConnection>(context_.conninfo, context_.options.application_name,
                                              context_.options.connect_timeout_seconds);
    query(*admin_);
  } catch (const ConnectionError &) {
    admin_.reset(); // the stream is not affected
    throw;
  }
}

// What the callbacks finished is confirmed, and the server has taken it in
// before the next consumer of the slot starts (otherwise it is simply
// delivered again: at-least-once).
void SlotSource::finish() noexcept {
  if (stream_) {
    std::uint64_t confirmed = positions_.confirmable();
    stream_->finish(std::max(positions_.received(), confirmed), confirmed, std::chrono::seconds(2));
  }
  stream_.reset();
  admin_.reset();
}

} // namespace ectowatch::detail
