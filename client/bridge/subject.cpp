#include "subject.hpp"

#include <openssl/sha.h>

#include <stdexcept>

namespace ectowatch::bridge {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef"; // hashed tokens: `~h` and a lower-case letter, as no escape

bool plain(unsigned char byte) {
  return (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || byte == '_' ||
         byte == '-';
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1; // lower case is not made by escape_token: one spelling per value
}

// A token NATS accepts in a subject: not empty, no wildcard, no separator, no
// white space or control character.
bool valid_token(std::string_view token) {
  if (token.empty() || token == "*" || token == ">")
    return false;
  for (unsigned char byte : token)
    if (byte <= ' ' || byte == 0x7f || byte == '.' || byte == '*' || byte == '>')
      return false;
  return true;
}

} // namespace

void append_token(std::string &subject, std::string_view text, bool null) {
  if (null) {
    subject += "~~";
    return;
  }
  if (text.empty()) {
    subject += '~';
    return;
  }
  std::size_t escaped = 0;
  for (unsigned char byte : text)
    escaped += plain(byte) ? 1 : 3;
  if (escaped > kMaxTokenBytes) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(text.data()), text.size(), digest);
    subject += kHashedTokenStart;
    for (unsigned char byte : digest) {
      subject += kLowerHex[byte >> 4];
      subject += kLowerHex[byte & 15];
    }
    return;
  }
  for (unsigned char byte : text) {
    if (plain(byte)) {
      subject += static_cast<char>(byte);
    } else {
      subject += '~';
      subject += kHex[byte >> 4];
      subject += kHex[byte & 15];
    }
  }
}

std::string escape_token(std::string_view text, bool null) {
  std::string token;
  append_token(token, text, null);
  return token;
}

bool is_hashed_token(std::string_view token) {
  if (token.size() != kHashedTokenStart.size() + 2 * SHA256_DIGEST_LENGTH || token.substr(0, 2) != kHashedTokenStart)
    return false;
  for (char c : token.substr(2))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

std::optional<std::string> unescape_token(std::string_view token) {
  if (is_hashed_token(token))
    throw std::invalid_argument("subject token \"" + std::string(token) +
                                "\" is a hashed long key value: read the value from the message's row");
  if (token == "~~")
    return std::nullopt;
  if (token == "~")
    return std::string();
  auto refuse = [&](const char *why) {
    return std::invalid_argument("subject token \"" + std::string(token) + "\" is not an escaped key value (" + why +
                                 ")");
  };
  if (token.empty())
    throw refuse("empty");
  std::string text;
  for (std::size_t i = 0; i < token.size(); ++i) {
    unsigned char byte = token[i];
    if (plain(byte)) {
      text += static_cast<char>(byte);
      continue;
    }
    if (byte != '~')
      throw refuse("a byte that is never left unescaped");
    if (i + 2 >= token.size())
      throw refuse("~ not followed by two upper-case hex digits");
    int high = hex_digit(token[i + 1]);
    int low = hex_digit(token[i + 2]);
    if (high < 0 || low < 0)
      throw refuse("~ not followed by two upper-case hex digits");
    unsigned char value = static_cast<unsigned char>(high * 16 + low);
    if (plain(value))
      throw refuse("a plain byte escaped");
    text += static_cast<char>(value);
    i += 2;
  }
  return text;
}

void check_prefix(const std::string &prefix) {
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = prefix.find('.', start);
    std::string_view token = std::string_view(prefix).substr(start, dot == std::string::npos ? dot : dot - start);
    if (!valid_token(token) || token.front() == '$' || token.front() == '~')
      throw std::invalid_argument("--prefix \"" + prefix +
                                  "\" is not a NATS subject prefix: use tokens of letters, digits, _ or - separated "
                                  "by dots (no wildcards, spaces, empty tokens, or a leading $ or ~)");
    if (dot == std::string::npos)
      return;
    start = dot + 1;
  }
}

void check_label(const std::string &label) {
  if (!valid_token(label) || label.front() == '~' || label.front() == '$')
    throw std::invalid_argument("label \"" + label +
                                "\" cannot be a NATS subject token (it has a dot, a wildcard, white space or a "
                                "leading ~ or $): recreate the watcher with --label NAME");
}

} // namespace ectowatch::bridge
