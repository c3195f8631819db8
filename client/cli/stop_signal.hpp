// SIGINT and SIGTERM as a readable pipe, so a command's poll() loop sees a
// request to stop beside its sockets and can finish cleanly (confirm what
// was done, print stats) instead of dying mid-write.
#pragma once

namespace ectowatch::cli {

// Installs the handlers; throws std::runtime_error when no pipe can be made.
void install_stop_signal();
// The pipe's read end: readable once SIGINT or SIGTERM came.
int stop_signal_fd();

} // namespace ectowatch::cli
