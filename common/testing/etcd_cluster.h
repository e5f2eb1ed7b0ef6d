// Test support (header-only, for tests only): real etcd members (Debian's etcd-server, the
// `etcd` binary on PATH or $FERRY_ETCD) on free loopback ports, started for one test and killed
// with it. No mock: the tests of Ferry's etcd client and etcd metadata store talk to these.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/etcd_client.h"
#include "common/testing/temp_dir.h"

namespace ferry::testing {

/// Client options for `endpoints` with the 3 s request timeout the tests use (a dead member is
/// passed over well within a test's bounds).
inline etcd::ClientOptions client_options(std::vector<std::string> endpoints) {
  etcd::ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.request_timeout = std::chrono::milliseconds(3000);
  return o;
}

/// Polls `done` every 20 ms for up to `limit`; true as soon as it holds.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

/// A loopback TCP port nothing listens on right now (bind to port 0, read it, close).
inline int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/getsockname on 127.0.0.1:0 failed");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

/// `members` etcd processes forming one fresh cluster (1 or 3 in Ferry's tests), each with its
/// own data directory under a TempDir. The constructor waits (up to 20 s) until every member
/// answers a linearizable read (so tests link
/// ferry_etcd), and throws std::runtime_error naming the member otherwise. The
/// destructor SIGKILLs whatever still runs.
class EtcdCluster {
 public:
  explicit EtcdCluster(int members = 1) : dir_("ferry-etcd") {
    const char* env = std::getenv("FERRY_ETCD");
    binary_ = env && *env ? env : "etcd";
    std::string initial;
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i + 1);
      m.client_port = free_tcp_port();
      m.peer_port = free_tcp_port();
      if (!initial.empty()) initial += ",";
      initial += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
      members_.push_back(m);
    }
    token_ = "ferry-test-" + std::to_string(::getpid()) + "-" + std::to_string(members_[0].client_port);
    initial_cluster_ = initial;
    for (int i = 0; i < members; ++i) start(i);
    for (int i = 0; i < members; ++i) wait_ready(i);
  }
  ~EtcdCluster() {
    for (auto& m : members_) kill(m);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  /// "127.0.0.1:port" of member i's client listener.
  std::string endpoint(int i) const { return "127.0.0.1:" + std::to_string(members_.at(i).client_port); }
  /// Every member's endpoint, in member order.
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(static_cast<int>(i)));
    return out;
  }
  /// SIGKILLs member i and reaps it (no clean shutdown).
  void kill_member(int i) { kill(members_.at(i)); }
  /// SIGSTOPs / SIGCONTs member i: alive to the kernel, silent to its peers and clients.
  void stop_member(int i) { ::kill(members_.at(i).pid, SIGSTOP); }
  void continue_member(int i) { ::kill(members_.at(i).pid, SIGCONT); }
  /// Starts member i again on its data directory and waits until it answers.
  void restart_member(int i) {
    kill(members_.at(i));
    start(i);
    wait_ready(i);
  }
  /// The directory holding each member's data and log (`<name>.log`).
  const std::filesystem::path& dir() const { return dir_.path; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  void start(int i) {
    Member& m = members_.at(i);
    const std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    const std::string data = (dir_.path / (m.name + ".etcd")).string();
    const std::string log = (dir_.path / (m.name + ".log")).string();
    std::vector<std::string> args = {binary_,
                                     "--name", m.name,
                                     "--data-dir", data,
                                     "--listen-client-urls", client,
                                     "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer,
                                     "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", initial_cluster_,
                                     "--initial-cluster-state", "new",
                                     "--initial-cluster-token", token_,
                                     "--logger=zap",
                                     "--log-outputs=stderr"};
    // Everything the child needs is made before fork(): a multithreaded process may only call
    // async-signal-safe functions between fork and exec (POSIX fork(2)), so no malloc there.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) throw std::runtime_error("cannot open " + log + " or /dev/null");
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Dies with the test process, even when that one is killed or aborts (no destructor runs).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(log_fd, 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    m.pid = pid;
  }

  void wait_ready(int i) {
    const Member& m = members_.at(i);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    etcd::ClientOptions options;
    options.endpoints = {endpoint(i)};
    options.request_timeout = std::chrono::milliseconds(1000);
    etcd::Client client(options);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(m.pid, &status, WNOHANG) == m.pid) {
        throw std::runtime_error("etcd member " + m.name + " exited at start; see " +
                                 (dir_.path / (m.name + ".log")).string() +
                                 " (is Debian's etcd-server installed? scripts/setup-deps.sh installs it)");
      }
      try {
        client.get("ferry-test-ready");  // linearizable: answers once the cluster has a leader
        return;
      } catch (const etcd::EtcdError&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("etcd member " + m.name + " did not answer within 20 s; see " +
                             (dir_.path / (m.name + ".log")).string());
  }

  static void kill(Member& m) {
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGCONT);
    ::kill(m.pid, SIGKILL);
    int status = 0;
    ::waitpid(m.pid, &status, 0);
    m.pid = -1;
  }

  TempDir dir_;
  std::string binary_;
  std::string token_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace ferry::testing
