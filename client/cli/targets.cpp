#include "targets.hpp"

#include <stdexcept>

namespace ectowatch::cli {

Target parse_target(const std::string &text) {
  Target target;
  auto colon = text.find(':');
  target.label = text.substr(0, colon);
  if (target.label.empty())
    throw std::invalid_argument("target \"" + text + "\" has no label (use LABEL or LABEL:COLUMN=VALUE)");
  if (colon == std::string::npos)
    return target;
  std::string rest = text.substr(colon + 1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    auto comma = rest.find(',', start);
    std::string condition = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto equals = condition.find('=');
    if (equals == std::string::npos || equals == 0)
      throw std::invalid_argument("target \"" + text + "\": \"" + condition +
                                  "\" is not COLUMN=VALUE (several are joined by \",\")");
    target.conditions.emplace_back(condition.substr(0, equals), condition.substr(equals + 1));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return target;
}

} // namespace ectowatch::cli
