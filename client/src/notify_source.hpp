// NOTIFY delivery: one connection that LISTENs on every subscribed label and
// on the relay worker's resync channel, decodes notifications, checks the
// authenticity of relayed ones, and checks an idle connection's health.
// At-most-once: after a reconnect a Resync{reconnected} is queued.
#pragma once

#include "event_source.hpp"
#include "relay_authenticity.hpp"
#include "source_context.hpp"

#include <memory>
#include <set>

namespace ectowatch::detail {

class NotifySource final : public EventSource {
public:
  explicit NotifySource(SourceContext context) : context_(context) {}

  void connect(Batch &out, bool reconnect) override;
  bool is_open() const override { return connection_ != nullptr; }
  void close() override;
  int socket() const override { return connection_ ? connection_->socket() : -1; }
  void poll(Batch &out) override;
  Clock::time_point next_deadline() const override;
  void label_changed(const std::string &label, Batch &out) override;
  void run_query(const char *what, const std::function<void(PgConnection &)> &query, Batch &out) override;

private:
  void accept(std::string_view channel, std::string_view payload, int sender_pid, Batch &out);
  void take_buffered(Batch &out);

  SourceContext context_;
  std::unique_ptr<PgConnection> connection_; // null while disconnected
  std::set<std::string> listening_;          // channels LISTENed on connection_
  Clock::time_point last_activity_ = Clock::now();
  RelayAuthenticity relay_;
  std::vector<RowError> bad_rows_; // reused
};

} // namespace ectowatch::detail
