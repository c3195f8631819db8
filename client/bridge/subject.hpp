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
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ectowatch::bridge {

// The subject format's version, also sent as the Ectowatch-Format header.
constexpr int kSubjectFormat = 1;

constexpr std::string_view kTruncatedToken = "~truncated";
constexpr std::string_view kDroppedToken = "~dropped";
constexpr std::string_view kResyncToken = "~resync";

// One key value as a subject token; `null`: SQL NULL (the text is ignored).
std::string escape_token(std::string_view text, bool null = false);
void append_token(std::string &subject, std::string_view text, bool null = false);

// The value a token stands for: nullopt for `~~` (NULL). Throws
// std::invalid_argument when `token` is not one escape_token makes.
std::optional<std::string> unescape_token(std::string_view token);

// Prefixes and labels are used as they are: each must be one or more valid
// tokens (a prefix may have dots, a label may not). Throws
// std::invalid_argument saying what is wrong.
void check_prefix(const std::string &prefix);
void check_label(const std::string &label);

} // namespace ectowatch::bridge
