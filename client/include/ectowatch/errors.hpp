// Exceptions thrown by the ectowatch client, and passed to on_error callbacks.
#pragma once

#include "ectowatch/cxx20_check.hpp"

#include "ectowatch/export.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ectowatch {

// Root of everything the client throws.
class ECTOWATCH_EXPORT Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// The server cannot be reached, or the connection was lost.
class ECTOWATCH_EXPORT ConnectionError : public Error {
public:
  using Error::Error;
};

// The server rejected a statement; sqlstate() says why (e.g. "42501"),
// detail() and hint() are the server's DETAIL and HINT (empty when it sent none).
class ECTOWATCH_EXPORT SqlError : public Error {
public:
  SqlError(const std::string &message, std::string sqlstate, std::string hint = {}, std::string detail = {})
      : Error(message), sqlstate_(std::move(sqlstate)), hint_(std::move(hint)), detail_(std::move(detail)) {}
  const std::string &sqlstate() const noexcept { return sqlstate_; }
  const std::string &hint() const noexcept { return hint_; }
  const std::string &detail() const noexcept { return detail_; }

private:
  std::string sqlstate_;
  std::string hint_;
  std::string detail_;
};

// The API was used wrongly (a missing column, a wrong type, a bad label).
class ECTOWATCH_EXPORT UsageError : public Error {
public:
  using Error::Error;
};

// A notification that is not a valid ectowatch message. It is skipped.
class ECTOWATCH_EXPORT ProtocolError : public Error {
public:
  ProtocolError(const std::string &message, std::string channel, std::string payload)
      : Error(message), channel_(std::move(channel)), payload_(std::move(payload)) {}
  const std::string &channel() const noexcept { return channel_; }
  const std::string &payload() const noexcept { return payload_; }

private:
  std::string channel_;
  std::string payload_;
};

// One row of a message could not be decoded (it lacks a key column, or is
// not an object); it is left out, and the message's other rows are delivered.
class ECTOWATCH_EXPORT RowError : public ProtocolError {
public:
  RowError(const std::string &message, std::string channel, std::string payload, std::string label,
           std::size_t row_index)
      : ProtocolError(message, std::move(channel), std::move(payload)), label_(std::move(label)),
        row_index_(row_index) {}
  const std::string &label() const noexcept { return label_; }
  // The row's position in the message's "rows" array, from 0.
  std::size_t row_index() const noexcept { return row_index_; }

private:
  std::string label_;
  std::size_t row_index_;
};

// A notification that looks like an ectowatch message but was not sent by
// ectowatch (any role that can connect can NOTIFY any channel): it carries a
// relayed message's WAL position, or is on a label with delivery 'relay',
// and was not sent by this database's relay worker. It is not delivered.
// Direct NOTIFY ('notify' delivery) cannot be told apart (docs/guarantees.md).
class ECTOWATCH_EXPORT ForgedMessage : public ProtocolError {
public:
  ForgedMessage(const std::string &message, std::string channel, std::string payload, int sender_pid)
      : ProtocolError(message, std::move(channel), std::move(payload)), sender_pid_(sender_pid) {}
  // The backend that sent it (pg_stat_activity.pid).
  int sender_pid() const noexcept { return sender_pid_; }

private:
  int sender_pid_;
};

// Messages were dropped because callbacks could not keep up (see
// ClientOptions::max_buffered_bytes); a resync follows.
class ECTOWATCH_EXPORT BufferOverflow : public Error {
public:
  BufferOverflow(const std::string &message, std::uint64_t messages, std::uint64_t rows)
      : Error(message), messages_(messages), rows_(rows) {}
  std::uint64_t messages() const noexcept { return messages_; }
  std::uint64_t rows() const noexcept { return rows_; }

private:
  std::uint64_t messages_;
  std::uint64_t rows_;
};

// A subscriber's callback threw; delivery to the others went on.
class ECTOWATCH_EXPORT CallbackError : public Error {
public:
  using Error::Error;
};

} // namespace ectowatch
