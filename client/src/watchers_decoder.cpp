// The JSON array of ectowatch_watchers (Client::watchers()).
#include "message_decoder.hpp"

#include <simdjson.h>

namespace ectowatch::detail {

using namespace simdjson;

namespace {

std::vector<std::string> string_list(ondemand::value value) {
  std::vector<std::string> result;
  if (value.is_null())
    return result;
  for (auto item : value.get_array())
    result.emplace_back(std::string_view(item.get_string()));
  return result;
}

} // namespace

std::vector<WatcherInfo> decode_watchers(std::string_view json) {
  std::vector<WatcherInfo> watchers;
  if (json.empty())
    return watchers;
  ondemand::parser parser;
  padded_string padded(json);
  ondemand::document document = parser.iterate(padded);
  for (auto item : document.get_array()) {
    WatcherInfo info;
    for (auto field : item.get_object()) {
      std::string_view name = field.unescaped_key();
      ondemand::value value = field.value();
      if (name == "label")
        info.label = std::string(std::string_view(value.get_string()));
      else if (name == "table_name")
        info.table = std::string(std::string_view(value.get_string()));
      else if (name == "op")
        info.op = parse_op(std::string_view(value.get_string()));
      else if (name == "channel")
        info.channel = std::string(std::string_view(value.get_string()));
      else if (name == "key_columns")
        info.key_columns = string_list(value);
      else if (name == "extra_columns")
        info.extra_columns = string_list(value);
      else if (name == "trigger_columns")
        info.trigger_columns = string_list(value);
      else if (name == "condition" && !value.is_null())
        info.condition = std::string(std::string_view(value.get_string()));
      else if (name == "replicated")
        info.replicated = value.get_bool();
      else if (name == "delivery")
        info.delivery = std::string(std::string_view(value.get_string()));
    }
    watchers.push_back(std::move(info));
  }
  return watchers;
}

} // namespace ectowatch::detail
