// What every Ferry daemon's main() shares: the command line (--help, --config-reference,
// --config FILE, parsed with CLI11) and the stop signals (SIGTERM/SIGINT end a graceful shutdown).
#pragma once

#include <csignal>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

/// A daemon's parsed command line.
struct DaemonArgs {
  enum class Action { run, help, config_reference };
  Action action = Action::run;
  std::string config_path;  ///< set when action is run
};

/// Parses `--help`/`-h`, `--config-reference`, `--config FILE` / `--config=FILE`. On anything else,
/// or a run without --config, prints "<program>: <problem>; see <program> --help" on stderr and
/// returns nullopt: the caller exits 2.
std::optional<DaemonArgs> parse_daemon_args(std::string_view program, int argc, char** argv);

/// Blocks SIGTERM and SIGINT in the calling thread, so every thread started afterwards inherits
/// the mask and only wait_for_stop_signal() receives them, and ignores SIGPIPE (a peer closing a
/// socket must not kill the process). Call first thing in main().
sigset_t block_stop_signals();

/// Waits for SIGTERM or SIGINT (blocked by block_stop_signals()) and returns its name.
const char* wait_for_stop_signal(const sigset_t& signals);

}  // namespace ferry
