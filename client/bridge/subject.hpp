// NATS subjects of `ectowatch bridge` (docs/protocol.md, "NATS subjects",
// format 1): <prefix>.<label>.<key token>[.<key token>...] for rows, and
// <prefix>.<label>.~truncated / ~dropped / ~resync for the other events.
//
// A key value becomes one subject token by a reversible escaping: the bytes
// A-Z a-z 0-9 _ - stay as they are; every other byte (including `~`, `.`, `*`,
// `>`, spaces and each byte of a non-ASCII character) becomes `~` and two
// upper-case hex digits. The empty string is the token `~`, SQL NULL is `~~`.
// The value escaped is Value::text(): a string's content, the JSON literal of
// anything else (so 42 and "42" share a subject, as they share a Key filter).
// No escaped token starts with `~` followed by a lower-case letter, so the
// event tokens `~truncated`, `~dropped` and `~resync` never collide with a key.
//
// Format 2: a value whose escaped token would be longer than kMaxTokenBytes
// is the token `~h` and the lower-case hex SHA-256 of its text instead. A
// long key (a URL, 450 CJK characters) would otherwise make a subject beyond
// the server's control line (4096 bytes by default), which nats-server
// answers by closing the connection. The bridge and a Key filter both build
// tokens here, so they still meet; the row's payload carries the value.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ectowatch::bridge {

// The subject format's version, also sent as the Ectowatch-Format header.
constexpr int kSubjectFormat = 2;

// The longest escaped token kept as it is; longer ones are hashed (66 bytes).
constexpr std::size_t kMaxTokenBytes = 256;
// The longest subject the bridge publishes: the rest of nats-server's
// default 4096-byte control line is left for HPUB, the reply inbox and the
// sizes. A row whose subject is longer still (many long key columns, a long
// prefix) is published as a `~dropped` marker with the reason.
constexpr std::size_t kMaxSubjectBytes = 3072;
constexpr std::string_view kHashedTokenStart = "~h";

constexpr std::string_view kTruncatedToken = "~truncated";
constexpr std::string_view kDroppedToken = "~dropped";
constexpr std::string_view kResyncToken = "~resync";

// One key value as a subject token; `null`: SQL NULL (the text is ignored).
std::string escape_token(std::string_view text, bool null = false);
void append_token(std::string &subject, std::string_view text, bool null = false);

// Whether `token` is a hashed one (format 2): its value is in the payload only.
bool is_hashed_token(std::string_view token);

// The value a token stands for: nullopt for `~~` (NULL). Throws
// std::invalid_argument when `token` is not one escape_token makes, or is
// hashed (is_hashed_token: it cannot be reversed).
std::optional<std::string> unescape_token(std::string_view token);

// Prefixes and labels are used as they are: each must be one or more valid
// tokens (a prefix may have dots, a label may not). Throws
// std::invalid_argument saying what is wrong.
void check_prefix(const std::string &prefix);
void check_label(const std::string &label);

} // namespace ectowatch::bridge
