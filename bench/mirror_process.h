#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace ferry::bench {

/// A ferry-mirror process the bench starts and owns: `bin --config config`, with stdout and
/// stderr appended to a log file. It is stopped with SIGTERM (the mirror's clean shutdown,
/// ferry-mirror --help) when the object is destroyed, and also receives SIGTERM from the
/// kernel if the bench's main thread dies first (PR_SET_PDEATHSIG), so no mirror outlives a
/// crashed bench.
class MirrorProcess {
 public:
  /// Starts the process. `pid_file`, when not empty, receives its process id (decimal and a
  /// newline) before this returns. Throws BenchError when the log or pid file cannot be
  /// written or fork() fails; an exec failure shows up as an early exit (status 127) instead.
  /// Must be called on the thread that lives as long as the mirror should (the main thread).
  MirrorProcess(const std::string& bin, const std::string& config, const std::string& log_path,
                const std::string& pid_file);
  MirrorProcess(const MirrorProcess&) = delete;
  MirrorProcess& operator=(const MirrorProcess&) = delete;
  /// Stops the process as stop() does, if still running.
  ~MirrorProcess();

  pid_t pid() const { return pid_; }
  /// CLOCK_MONOTONIC ns right before fork(): time zero of the mirror phase.
  int64_t started_ns() const { return started_ns_; }
  const std::string& log_path() const { return log_path_; }

  /// True until the process has exited (reaps it when it has). After an exit, exit_text()
  /// says how it ended.
  bool running();

  /// Sends SIGTERM and waits up to `grace` for the exit, then sends SIGKILL. Returns how the
  /// process ended, e.g. "exit 0 1.2 s after SIGTERM" or "killed (SIGKILL after 40 s)".
  std::string stop(std::chrono::milliseconds grace);

  /// How the process ended ("exit 2", "killed by signal 9"), or empty while it runs.
  const std::string& exit_text() const { return exit_text_; }

  /// The last `lines` lines of the log file, for error messages.
  std::string log_tail(int lines) const;

 private:
  void note_exit(int status);

  pid_t pid_ = -1;
  int64_t started_ns_ = 0;
  std::string log_path_;
  std::string exit_text_;
};

}  // namespace ferry::bench
