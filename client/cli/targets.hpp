// `ectowatch listen` targets: LABEL or LABEL:COLUMN=VALUE[,COLUMN=VALUE...].
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ectowatch::cli {

struct Target {
  std::string label;
  std::vector<std::pair<std::string, std::string>> conditions; // all must match
};

// Throws std::invalid_argument with a message for the user.
Target parse_target(const std::string &text);

} // namespace ectowatch::cli
