// The redirect step's hook (docs/dr.md "Failover", config `redirect.hook`): a /bin/sh -c command
// run after the bootstrap file is replaced. Spawned with posix_spawn and its own environment, so
// the multithreaded ferry-dr (watch serves HTTP and probes in parallel) never calls setenv.
#pragma once

#include <map>
#include <string>

namespace ferry::dr {

/// What the hook did.
struct HookResult {
  /// Its exit code; 128 + the signal number when a signal ended it; -1 when it could not be
  /// started (output then says why).
  int status = -1;
  std::string output;  ///< its stdout and stderr interleaved, the last 400 bytes ("..." + tail)
};

/// Runs `command` with /bin/sh -c, environment = this process's environment with `env` added
/// (replacing variables of the same name), stdin inherited, stdout and stderr into one pipe.
/// Waits for the shell to exit, however long it takes (there is no timeout, as before; a hook that
/// never exits holds the redirect step). Never throws for the hook's own failures.
HookResult run_hook(const std::string& command, const std::map<std::string, std::string>& env);

}  // namespace ferry::dr
