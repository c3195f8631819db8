// Shared by `ectowatch bridge` and the client's NatsSource (both link it).
#pragma once

#include <string>

#include <nats/nats.h>

namespace ectowatch::bridge {

// One URL or a comma-separated list of them (libnats' SetURL takes one).
natsStatus set_nats_urls(natsOptions *options, const std::string &urls);

} // namespace ectowatch::bridge
