#include "bench/mirror_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>
#include <vector>

#include "bench/bench_error.h"
#include "bench/payload.h"

namespace ferry::bench {

MirrorProcess::MirrorProcess(const std::string& bin, const std::string& config,
                             const std::string& log_path, const std::string& pid_file)
    : log_path_(log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    throw BenchError(fmt::format("cannot open mirror log {}: {}", log_path, std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork(): between fork() and exec() a
  // multithreaded parent's child may only make async-signal-safe calls (POSIX fork()).
  std::vector<std::string> args = {bin, "--config", config};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  started_ns_ = monotonic_ns();
  pid_ = ::fork();
  if (pid_ < 0) {
    const int err = errno;
    ::close(log_fd);
    throw BenchError(fmt::format("fork for {}: {}", bin, std::strerror(err)));
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);  // the bench died before prctl took effect
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // librdkafka's sockets and the bench's files must not leak into the mirror.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);

  if (!pid_file.empty()) {
    std::ofstream out(pid_file, std::ios::trunc);
    out << pid_ << "\n";
    out.flush();
    if (!out) {
      stop(std::chrono::seconds(10));
      throw BenchError(fmt::format("cannot write mirror pid file {}", pid_file));
    }
  }
}

MirrorProcess::~MirrorProcess() {
  if (pid_ > 0 && exit_text_.empty()) stop(std::chrono::seconds(40));
}

void MirrorProcess::note_exit(int status) {
  if (WIFEXITED(status)) {
    exit_text_ = fmt::format("exit {}", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    exit_text_ = fmt::format("killed by signal {} ({})", WTERMSIG(status),
                             strsignal(WTERMSIG(status)));
  } else {
    exit_text_ = fmt::format("ended with wait status {}", status);
  }
}

bool MirrorProcess::running() {
  if (!exit_text_.empty()) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    note_exit(status);
    return false;
  }
  return r == 0;
}

std::string MirrorProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return exit_text_ + " before it was stopped";
  const int64_t term_ns = monotonic_ns();
  ::kill(pid_, SIGTERM);
  const int64_t deadline_ns = term_ns + static_cast<int64_t>(grace.count()) * 1'000'000;
  while (monotonic_ns() < deadline_ns) {
    if (!running()) {
      return fmt::format("{} {:.1f} s after SIGTERM", exit_text_,
                         seconds_between(term_ns, monotonic_ns()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  note_exit(status);
  return fmt::format("{} (SIGKILL after SIGTERM was ignored for {:.0f} s)", exit_text_,
                     static_cast<double>(grace.count()) / 1000.0);
}

std::string MirrorProcess::log_tail(int lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

}  // namespace ferry::bench
