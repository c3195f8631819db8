// What `ectowatch bridge` publishes for each event (docs/protocol.md, "NATS
// subjects"): the subject, the Nats-Msg-Id and the payload, which is the JSON
// line `ectowatch listen` prints plus "lsn".
#pragma once

#include "publisher.hpp"

#include <ectowatch/ectowatch.hpp>

namespace ectowatch::bridge {

// Builds each event's Outgoing into buffers it keeps: after the first rows no
// string is allocated per row, and what a message's rows share (the LSN's
// text; the label, table and op at the head of the payload) is formatted
// once, not once per row (docs/performance.md, section 6: the bridge's own
// share of a row's CPU). Used by one thread at a time.
class OutgoingBuilder {
public:
  // `source`: Client::source_id() of the database the events come from.
  // With the prefix it makes each Nats-Msg-Id unique across clusters,
  // restores, failovers and bridges sharing a stream (docs/protocol.md).
  OutgoingBuilder(std::string prefix, const std::string &source)
      : prefix_(std::move(prefix)), msg_id_head_(source + "-" + prefix_ + "-") {}

  // A row, a TRUNCATE or dropped rows; valid until the next call. Throws
  // std::invalid_argument when a key column is missing from the row (cannot
  // happen with a well-formed message).
  const Outgoing &build(const Event &event);

private:
  void start(const Event &event, std::string_view op);

  const std::string prefix_;
  const std::string msg_id_head_; // <source>-<prefix>-
  Outgoing out_;
  // The head of a row's payload and its subject's <prefix>.<label>, for:
  std::string head_label_, head_table_, head_op_;
  std::string payload_head_;   // {"label":...,"table":...,"op":"..."
  std::string subject_head_;   // <prefix>.<label>
  std::uint64_t text_lsn_ = 0; // out_.lsn_text is this position's text (0: none yet)
};

// A resync (slot created or lost) for one label. `sequence` makes the
// Nats-Msg-Id unique (a resync has no WAL position of its own); `lsn` is the
// tracker's position for it.
Outgoing outgoing_for_resync(const std::string &prefix, const std::string &label, std::string_view reason,
                             std::uint64_t lsn, const std::string &sequence);

} // namespace ectowatch::bridge
