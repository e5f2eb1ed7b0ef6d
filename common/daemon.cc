#include "common/daemon.h"

#include <pthread.h>

#include <CLI/CLI.hpp>

#include <iostream>

namespace ferry {

std::optional<DaemonArgs> parse_daemon_args(std::string_view program, int argc, char** argv) {
  // CLI11 does the tokenising (--config V, --config=V, last one wins); Ferry keeps its own help
  // text (the daemons print it) and its own one-line error format, so both are switched off here.
  CLI::App app{std::string(program), std::string(program)};
  app.set_help_flag();
  app.allow_extras();
  bool help = false;
  bool reference = false;
  std::string config;
  app.add_flag("-h,--help", help);
  app.add_flag("--config-reference", reference);
  app.add_option("--config", config)
      ->expected(0, 1)  // "--config=" and a bare "--config" end as "--config FILE is required"
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  const auto fail = [&](const std::string& problem) {
    std::cerr << program << ": " << problem << "; see " << program << " --help\n";
    return std::nullopt;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return fail(e.what());
  }
  DaemonArgs out;
  if (help) {
    out.action = DaemonArgs::Action::help;
    return out;
  }
  if (reference) {
    out.action = DaemonArgs::Action::config_reference;
    return out;
  }
  if (const auto extra = app.remaining(); !extra.empty()) {
    return fail("unknown argument '" + extra.front() + "'");
  }
  if (config.empty()) return fail("--config FILE is required");
  out.config_path = config;
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
