#include "message_decoder.hpp"

#include "ectowatch/errors.hpp"
#include "fast_path_decoder.hpp"
#include "message_pool.hpp"
#include "simdjson_decoder.hpp"

#include <simdjson.h>

#include <vector>

namespace ectowatch::detail {

std::uint64_t parse_lsn(std::string_view text) { return protocol::parse_lsn(text); }

namespace {

// Everything decoding fills in from the payload (the fast path may have
// filled part of it before it gave up).
void clear_decoded(Message &message) {
  clear_body(message);
  message.version = 1;
  message.op = Op::inserted;
  message.table.clear();
  message.label.clear();
  message.key_columns.clear();
}

// What a decoding thread reuses from one message to the next.
struct DecoderState {
  MessagePool pool;
  CanonicalHeader last_header;
  std::vector<std::size_t> row_sizes;
  simdjson::ondemand::parser parser;
};
DecoderState &decoder_state() {
  thread_local DecoderState state;
  return state;
}

// `from_slot`: durable delivery, where no channel names the label; `channel`
// then only names the source in errors.
std::shared_ptr<Message> decode(std::string_view channel, std::string_view payload, bool from_slot, Parser parser,
                                std::vector<RowError> *bad_rows) {
  DecoderState &state = decoder_state();
  auto message = state.pool.take();
  // The message keeps its own copy of the payload (the rows view into it),
  // with the padding simdjson reads past the end.
  message->payload.reserve(payload.size() + simdjson::SIMDJSON_PADDING);
  message->payload.assign(payload);
  std::vector<std::size_t> &row_sizes = state.row_sizes;
  row_sizes.clear();
  if (parser == Parser::simdjson_only || !decode_canonical(*message, row_sizes, state.last_header)) {
    clear_decoded(*message);
    row_sizes.clear();
    decode_with_simdjson(channel, *message, row_sizes, state.parser);
  }
  if (message->key_columns.empty())
    not_a_message(channel, payload, "\"key\" is empty");
  if (!from_slot && message->label != channel)
    not_a_message(channel, payload, "its label \"" + message->label + "\" is not the channel it arrived on");
  // The columns are complete: the rows can point into them now. A row
  // without its key cannot be matched or told apart: it is left out and
  // reported, and the message's other rows are delivered.
  std::size_t start = 0;
  message->rows.reserve(row_sizes.size());
  for (std::size_t index = 0; index < row_sizes.size(); ++index) {
    Row row(message->columns.data() + start, row_sizes[index]);
    start += row_sizes[index];
    const std::string *missing = nullptr;
    for (const std::string &key : message->key_columns)
      if (!row.has(key)) {
        missing = &key;
        break;
      }
    if (!missing) {
      message->rows.push_back(row);
      continue;
    }
    std::string why = "row " + std::to_string(index) + " of a message of \"" + message->label + "\" (table " +
                      message->table + ") " +
                      (row_sizes[index] == 0 ? std::string("is not an object with columns")
                                             : "lacks key column \"" + *missing + "\"") +
                      "; the message's other rows were delivered";
    if (!bad_rows)
      not_a_message(channel, payload, why);
    bad_rows->push_back(
        RowError("not an ectowatch row: " + why, std::string(channel), std::string(payload), message->label, index));
  }
  assign_if_different(message->channel, from_slot ? std::string_view(message->label) : channel);
  return message;
}

} // namespace

std::shared_ptr<const Message> decode_message(std::string_view channel, std::string_view payload, Parser parser,
                                              std::vector<RowError> *bad_rows) {
  return decode(channel, payload, false, parser, bad_rows);
}

std::shared_ptr<const Message> decode_slot_message(std::uint64_t lsn, std::string_view payload,
                                                   std::vector<RowError> *bad_rows) {
  auto message = decode("(replication slot)", payload, true, Parser::fast_path_first, bad_rows);
  message->lsn = lsn;
  return message;
}

} // namespace ectowatch::detail
