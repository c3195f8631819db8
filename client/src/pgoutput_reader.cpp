#include "pgoutput_reader.hpp"

#include "ectowatch/errors.hpp"
#include "ectowatch/protocol.hpp"

#include <cstring>
#include <string>

namespace ectowatch::detail {

namespace {

// Flags of a logical message: bit 0 set when it is transactional.
constexpr unsigned char kTransactional = 1;

[[noreturn]] void malformed(char kind, std::size_t size) {
  throw ConnectionError(std::string("pgoutput sent a '") + kind + "' message of " + std::to_string(size) +
                        " bytes, too short for its kind; reading the slot again from its confirmed position");
}

std::uint32_t read_u32(const char *bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

} // namespace

void PgoutputReader::read(std::uint64_t lsn, std::string_view data, const Row &row) {
  if (data.empty())
    malformed('?', 0);
  switch (data[0]) {
  case 'B':
    transaction_had_rows_ = false;
    return;
  case 'C':
    // The empty row the 'ectowatch' plugin writes at the end of the commit
    // (XLogData's start here is the commit record's end, as there).
    if (transaction_had_rows_)
      row(lsn, {});
    transaction_had_rows_ = false;
    return;
  case 'M': {
    // Flags (1 byte), its LSN (8), the prefix (a C string), the content's
    // length (4), the content. Protocol 1 has no xid here (only streamed
    // transactions, protocol 2 and later, carry one).
    constexpr std::size_t kHeader = 1 + 1 + 8;
    if (data.size() < kHeader + 1 + 4)
      malformed('M', data.size());
    auto flags = static_cast<unsigned char>(data[1]);
    std::string_view rest = data.substr(kHeader);
    std::size_t end = rest.find('\0');
    if (end == std::string_view::npos || rest.size() < end + 1 + 4)
      malformed('M', data.size());
    std::string_view prefix = rest.substr(0, end);
    std::uint32_t length = read_u32(rest.data() + end + 1);
    std::string_view content = rest.substr(end + 1 + 4);
    if (content.size() != length)
      malformed('M', data.size());
    // A non-transactional message is sent even when its transaction rolls
    // back: the portable edition writes none, and one is not ectowatch's.
    // Nor is an empty one (it would read as a commit's end).
    if (!(flags & kTransactional) || prefix != protocol::kMessagePrefix || content.empty())
      return;
    row(lsn, content);
    transaction_had_rows_ = true;
    return;
  }
  default:
    // Relation ('R'), type ('Y'), origin ('O'), row changes and anything a
    // later protocol adds: an empty publication sends no row changes, and
    // none of them carries a message.
    return;
  }
}

} // namespace ectowatch::detail
