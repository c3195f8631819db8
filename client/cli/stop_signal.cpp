#include "stop_signal.hpp"

#include <signal.h>
#include <unistd.h>

#include <stdexcept>

namespace ectowatch::cli {

namespace {

int signal_pipe[2] = {-1, -1};

// Only async-signal-safe work here: one write to the pipe.
extern "C" void on_stop_signal(int) {
  char byte = 1;
  [[maybe_unused]] auto written = ::write(signal_pipe[1], &byte, 1);
}

} // namespace

void install_stop_signal() {
  if (::pipe(signal_pipe) != 0)
    throw std::runtime_error("cannot create a pipe");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_signal_fd() { return signal_pipe[0]; }

} // namespace ectowatch::cli
