#include "common/daemon.h"

#include <pthread.h>

#include <iostream>

namespace ferry {

std::optional<DaemonArgs> parse_daemon_args(std::string_view program, int argc, char** argv) {
  DaemonArgs out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out.action = DaemonArgs::Action::help;
      return out;
    }
    if (a == "--config-reference") {
      out.action = DaemonArgs::Action::config_reference;
      return out;
    }
    if (a == "--config" && i + 1 < argc) {
      out.config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      out.config_path = a.substr(9);
    } else {
      std::cerr << program << ": unknown argument '" << a << "'; see " << program << " --help\n";
      return std::nullopt;
    }
  }
  if (out.config_path.empty()) {
    std::cerr << program << ": --config FILE is required; see " << program << " --help\n";
    return std::nullopt;
  }
  return out;
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

const char* wait_for_stop_signal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace ferry
