// The redirect step's hook (docs/dr.md "Failover", config `redirect.hook`): a /bin/sh -c command
// run after the bootstrap file is replaced. Spawned with posix_spawn and its own environment, so
// the multithreaded ferry-dr (watch serves HTTP and probes in parallel) never calls setenv.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace ferry::dr {

/// What the hook did.
struct HookResult {
  /// Its exit code; 128 + the signal number when a signal ended it; -1 when it could not be
  /// started (output then says why).
  int status = -1;
  std::string output;  ///< its stdout and stderr interleaved, the last 400 bytes ("..." + tail)
  bool timed_out = false;  ///< it ran past the timeout and was killed (status 128 + 9)
};

/// Runs `command` with /bin/sh -c in a process group of its own, environment = this process's
/// environment with `env` added (replacing variables of the same name), stdin inherited, stdout
/// and stderr into one pipe. Waits until the shell has exited and the pipe is closed, at most
/// `timeout`: then the whole group (the shell and whatever it started) gets SIGKILL, and the
/// result says `timed_out`. Never throws for the hook's own failures.
HookResult run_hook(const std::string& command, const std::map<std::string, std::string>& env,
                    std::chrono::milliseconds timeout);

}  // namespace ferry::dr
