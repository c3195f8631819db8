// The ectowatch client library: #include <ectowatch/ectowatch.hpp>.
#pragma once

#include "ectowatch/client.hpp"
#include "ectowatch/errors.hpp"
#include "ectowatch/filters.hpp"
#include "ectowatch/loader.hpp"
#include "ectowatch/message.hpp"
