#include "nats_urls.hpp"

#include <vector>

namespace ectowatch::bridge {

natsStatus set_nats_urls(natsOptions *options, const std::string &urls) {
  std::vector<std::string> list;
  for (std::size_t start = 0;;) {
    std::size_t comma = urls.find(',', start);
    list.push_back(urls.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (list.size() == 1)
    return natsOptions_SetURL(options, urls.c_str());
  std::vector<const char *> pointers;
  for (const std::string &url : list)
    pointers.push_back(url.c_str());
  return natsOptions_SetServers(options, pointers.data(), static_cast<int>(pointers.size()));
}

} // namespace ectowatch::bridge
