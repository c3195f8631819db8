// Durable delivery: a logical replication slot of the 'ectowatch' plugin (or
// of 'pgoutput', read as the same rows: replication_stream.hpp).
// A slot resumes where it was confirmed, so a reconnect is not a resync;
// only a new or lost slot is. Streaming begins at the first poll. While the
// inbox is full, reading stops and the server waits (TCP back-pressure)
// instead of anything being dropped. Positions are confirmed as the
// dispatcher finishes them (PositionTracker). Administrative statements run
// on a second, ordinary connection, opened when first needed.
#pragma once

#include "event_source.hpp"
#include "position_tracker.hpp"
#include "replication_stream.hpp"
#include "source_context.hpp"

#include <memory>

namespace ectowatch::detail {

class SlotSource final : public EventSource {
public:
  SlotSource(SourceContext context, Durable durable, PositionTracker &positions)
      : context_(context), durable_(std::move(durable)), positions_(positions) {
    positions_.set_confirm_limit(durable_.confirm_up_to);
  }

  void connect(Batch &out, bool reconnect) override;
  bool is_open() const override { return stream_ != nullptr; }
  void close() override { stream_.reset(); }
  int socket() const override { return stream_ ? stream_->socket() : -1; }
  bool reading_paused() const override { return paused(0); }
  void poll(Batch &out) override;
  Clock::time_point next_deadline() const override;
  void label_changed(const std::string &, Batch &) override {} // a slot streams every label
  void run_query(const char *what, const std::function<void(PgConnection &)> &query, Batch &out) override;
  void finish() noexcept override;

private:
  bool paused(std::size_t pending_bytes) const;
  void accept(std::uint64_t lsn, std::string_view payload, Batch &out);
  void send_status(bool force, bool request_reply);

  SourceContext context_;
  const Durable durable_;
  PositionTracker &positions_;
  std::unique_ptr<ReplicationStream> stream_;
  std::unique_ptr<PgConnection> admin_; // watch(), watchers(), slots() while streaming
  Clock::time_point last_activity_ = Clock::now();
  std::vector<RowError> bad_rows_; // reused
};

} // namespace ectowatch::detail
