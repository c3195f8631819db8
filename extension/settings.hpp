// Settings (GUCs) of the extension, defined in module.cpp.
#pragma once

namespace ectowatch {

// ectowatch.enabled: when off, changes that follow in the session (or, with
// SET LOCAL, in the transaction) send nothing. Any user may set it.
extern bool enabled;

} // namespace ectowatch
