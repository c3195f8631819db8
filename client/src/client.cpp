// ectowatch::Client: a facade. The work is done by the runtime (runtime.hpp:
// a source, an inbox, a dispatcher and the loops that drive them) and by the
// admin session (admin_session.hpp: the SQL of watch() and friends).
#include "ectowatch/client.hpp"

#include "admin_session.hpp"
#include "replication_stream.hpp"
#include "nats_source.hpp"
#include "runtime.hpp"

namespace ectowatch {

struct Client::Impl {
  explicit Impl(std::shared_ptr<detail::Runtime> runtime_)
      : runtime(std::move(runtime_)),
        admin([runtime = runtime.get()](const char *what, const std::function<void(detail::PgConnection &)> &query) {
          runtime->run_query(what, query);
        }) {}
  std::shared_ptr<detail::Runtime> runtime;
  detail::AdminSession admin;
};

std::string_view client_version() { return ECTOWATCH_CLIENT_VERSION; }

// --- Subscription --------------------------------------------------------------

Subscription &Subscription::operator=(Subscription &&other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

Subscription::~Subscription() { reset(); }

void Subscription::reset() {
  if (auto state = state_.lock())
    state->unsubscribe(*state);
  state_.reset();
}

// --- Client ----------------------------------------------------------------------

Client::Client(const std::string &conninfo, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::make_shared<detail::Runtime>(conninfo, std::move(options), std::nullopt))) {
  impl_->runtime->connect_first();
}

Client::Client(const std::string &conninfo, Durable durable, ClientOptions options) {
  detail::check_slot_name(durable.slot);
  impl_ = std::make_shared<Impl>(std::make_shared<detail::Runtime>(conninfo, std::move(options), std::move(durable)));
  impl_->runtime->connect_first();
}

Client::Client(Nats nats, ClientOptions options) {
  detail::check_nats(nats);
  impl_ = std::make_shared<Impl>(
      std::make_shared<detail::Runtime>(std::string(), std::move(options), std::nullopt, std::move(nats)));
  impl_->runtime->connect_first();
}

// Also safe from inside a callback: the threads and loops hold the runtime,
// which outlives the Client until the callback has returned.
Client::~Client() {
  impl_->runtime->stop();
  impl_->runtime->finish();
}

std::string Client::watch(const std::string &table, Op op, const WatchOptions &options) {
  return impl_->admin.watch(table, op, options);
}
bool Client::unwatch(const std::string &label) { return impl_->admin.unwatch(label); }
std::vector<WatcherInfo> Client::watchers() { return impl_->admin.watchers(); }
std::vector<SlotInfo> Client::slots() { return impl_->admin.slots(); }
bool Client::drop_slot(const std::string &name) { return impl_->admin.drop_slot(name); }
std::optional<std::string> Client::extension_version() { return impl_->admin.extension_version(); }
std::string Client::source_id() { return impl_->admin.source_id(); }

namespace {

std::shared_ptr<Subscription::State> new_state(const std::string &label, Subscription::State::Kind kind,
                                               EventCallback callback, SubscribeOptions options) {
  auto state = std::make_shared<Subscription::State>();
  state->label = label;
  state->kind = kind;
  state->callback = std::move(callback);
  state->options = options;
  return state;
}

} // namespace

Subscription Client::subscribe(const std::string &label, EventCallback callback, SubscribeOptions options) {
  auto state = new_state(label, Subscription::State::Kind::all, std::move(callback), options);
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe_every_label(EventCallback callback, SubscribeOptions options) {
  auto state = new_state(std::string(), Subscription::State::Kind::every_label, std::move(callback), options);
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe(const std::string &label, const Key &key, EventCallback callback,
                               SubscribeOptions options) {
  if (key.parts().empty())
    throw UsageError("subscribe: a Key needs at least one value");
  auto state = new_state(label, Subscription::State::Kind::key, std::move(callback), options);
  std::vector<std::string> texts;
  for (const MatchValue &part : key.parts())
    texts.push_back(detail::match_text(part));
  state->key = detail::canonical_key(texts);
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe(const std::string &label, const ColumnFilter &filter, EventCallback callback,
                               SubscribeOptions options) {
  if (filter.conditions().empty())
    throw UsageError("subscribe: a ColumnFilter needs at least one condition");
  auto state = new_state(label, Subscription::State::Kind::columns, std::move(callback), options);
  for (const auto &[column, value] : filter.conditions())
    state->columns.emplace_back(column, detail::match_text(value));
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe_batch(const std::string &label, BatchCallback callback, SubscribeOptions options) {
  if (!callback)
    throw UsageError("subscribe_batch: the callback is empty");
  auto state = new_state(label, Subscription::State::Kind::all, nullptr, options);
  state->batch_callback = std::move(callback);
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe_batch(const std::string &label, const ColumnFilter &filter, BatchCallback callback,
                                     SubscribeOptions options) {
  if (filter.conditions().empty() || !callback)
    throw UsageError("subscribe_batch: a ColumnFilter needs at least one condition, and the callback a target");
  auto state = new_state(label, Subscription::State::Kind::columns, nullptr, options);
  state->batch_callback = std::move(callback);
  for (const auto &[column, value] : filter.conditions())
    state->columns.emplace_back(column, value.text());
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

Subscription Client::subscribe_loaded(const std::string &label, LoadedCallback callback, LoadOptions options) {
  if (!callback)
    throw UsageError("subscribe_loaded: the callback is empty");
  if (options.window.count() < 0 || options.max_batch == 0)
    throw UsageError("subscribe_loaded: the window must not be negative and max_batch at least 1");
  auto spec = std::make_shared<detail::LoadSpec>();
  // Subscriptions with equal options share windows and queries.
  spec->group_key = std::to_string(options.window.count()) + '\n' + std::to_string(options.max_batch) + '\n' +
                    (options.query ? "q" + *options.query : std::string("c"));
  for (const std::string &column : options.columns)
    spec->group_key += '\n' + column;
  spec->callback = std::move(callback);
  spec->options = std::move(options);
  auto state = new_state(label, Subscription::State::Kind::all, nullptr, {});
  state->load = std::move(spec);
  impl_->runtime->add_subscription(state);
  return Subscription(state);
}

// Every reason: a cache that reloads on resync must also reload after a
// single label's TRUNCATE or dropped rows (the Resync& form can be selective).
void Client::on_resync(std::function<void()> callback) {
  on_resync([callback = std::move(callback)](const Resync &) { callback(); });
}

void Client::on_resync(std::function<void(const Resync &)> callback) {
  impl_->runtime->dispatcher().add_resync_callback(std::move(callback));
}

void Client::on_error(ErrorCallback callback) { impl_->runtime->dispatcher().set_error_callback(std::move(callback)); }

void Client::on_connection(std::function<void(bool connected)> callback) {
  impl_->runtime->dispatcher().set_connection_callback(std::move(callback));
}

void Client::on_log(std::function<void(LogLevel level, std::string_view text)> callback) {
  impl_->runtime->dispatcher().set_log_callback(std::move(callback));
}

// run() and process() hold the runtime themselves: a callback may destroy
// the Client while they run.
void Client::start() { impl_->runtime->start(); }
void Client::run() { std::shared_ptr<detail::Runtime>(impl_->runtime)->run(); }
void Client::stop() { impl_->runtime->stop(); }
int Client::socket() const { return impl_->runtime->socket(); }
std::size_t Client::process() { return std::shared_ptr<detail::Runtime>(impl_->runtime)->process(); }
std::chrono::milliseconds Client::next_timeout() const { return impl_->runtime->next_timeout(); }

bool Client::connected() const { return impl_->runtime->connected(); }
bool Client::inside_transaction() const { return impl_->runtime->inside_transaction(); }
std::size_t Client::buffered_bytes() const { return impl_->runtime->buffered_bytes(); }
std::uint64_t Client::reconnects() const { return impl_->runtime->reconnects(); }
Stats Client::stats() const { return impl_->runtime->stats(); }

} // namespace ectowatch
