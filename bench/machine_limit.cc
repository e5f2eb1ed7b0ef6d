#include "bench/machine_limit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/bench_error.h"

namespace ferry::bench {
namespace {

// Matches the order of a full Produce request from librdkafka (batch.size 1000000).
constexpr size_t kChunkBytes = size_t{1} << 20;

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Receives until EOF and appends everything to `file_fd`; returns an error or empty.
std::string serve(int listen_fd, int file_fd, int64_t& fdatasync_ns) {
  Fd conn(::accept(listen_fd, nullptr, nullptr));
  if (conn.get() < 0) return errno_text("accept");
  std::vector<char> buf(kChunkBytes);
  while (true) {
    ssize_t n = ::recv(conn.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_text("recv");
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(file_fd, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_text("write");
      }
      done += w;
    }
  }
  const int64_t sync_start = monotonic_ns();
  if (::fdatasync(file_fd) != 0) return errno_text("fdatasync");
  fdatasync_ns = monotonic_ns() - sync_start;
  return {};
}

std::string send_all(uint16_t port, int64_t bytes, const PayloadPool& pool) {
  Fd sock(::socket(AF_INET, SOCK_STREAM, 0));
  if (sock.get() < 0) return errno_text("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return errno_text("connect");
  }
  size_t pos = 0;
  for (int64_t left = bytes; left > 0;) {
    size_t n = std::min({kChunkBytes, static_cast<size_t>(left), pool.size() - pos});
    ssize_t s = ::send(sock.get(), pool.data() + pos, n, MSG_NOSIGNAL);
    if (s < 0) {
      if (errno == EINTR) continue;
      return errno_text("send");
    }
    left -= s;
    pos = (pos + static_cast<size_t>(s)) % pool.size();
  }
  if (::shutdown(sock.get(), SHUT_WR) != 0) return errno_text("shutdown");
  return {};
}

}  // namespace

MachineLimitResult measure_machine_limit(const std::string& directory, int64_t bytes,
                                         const PayloadPool& pool) {
  MachineLimitResult result;
  result.bytes = bytes;
  result.directory = directory;

  std::string path = directory + "/ferry-bench-limit-XXXXXX";
  Fd file(::mkstemp(path.data()));
  if (file.get() < 0) throw BenchError(errno_text(fmt::format("create {}", path).c_str()));
  // Unlinked right away so an aborted run leaves nothing behind; the open fd keeps it alive.
  ::unlink(path.c_str());

  Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
  if (listener.get() < 0) throw BenchError(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw BenchError(errno_text("loopback listener"));
  }

  ::sync();

  std::string server_error;
  std::string client_error;
  int64_t fdatasync_ns = 0;
  const int64_t start_ns = monotonic_ns();
  {
    std::jthread server([&] { server_error = serve(listener.get(), file.get(), fdatasync_ns); });
    std::jthread client([&] { client_error = send_all(ntohs(addr.sin_port), bytes, pool); });
    client.join();
    if (!client_error.empty()) {
      // Unblocks a server still waiting in accept() when connect() failed.
      ::shutdown(listener.get(), SHUT_RDWR);
    }
  }
  const int64_t end_ns = monotonic_ns();
  if (!client_error.empty()) throw BenchError("machine limit sender: " + client_error);
  if (!server_error.empty()) throw BenchError("machine limit receiver: " + server_error);

  result.seconds = seconds_between(start_ns, end_ns);
  result.fdatasync_seconds = static_cast<double>(fdatasync_ns) / 1e9;
  return result;
}

namespace {

// A new temporary file (already unlinked) for append + fdatasync() rounds. The file is new, so
// its first fdatasync() also commits the file's creation to the journal, which a long-lived log
// segment does not pay per append: the constructor runs one untimed round.
class FsyncFile {
 public:
  FsyncFile(const std::string& directory, int64_t write_bytes)
      : bytes_(static_cast<size_t>(write_bytes), 'f'), file_(open_unlinked(directory)) {
    round();
  }

  // Appends the bytes and fdatasyncs; returns when both are done.
  void round() {
    for (size_t done = 0; done < bytes_.size();) {
      ssize_t w = ::write(file_.get(), bytes_.data() + done, bytes_.size() - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw BenchError(errno_text("fsync probe write"));
      }
      done += static_cast<size_t>(w);
    }
    if (::fdatasync(file_.get()) != 0) throw BenchError(errno_text("fsync probe fdatasync"));
  }

 private:
  static int open_unlinked(const std::string& directory) {
    std::string path = directory + "/ferry-bench-fsync-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) throw BenchError(errno_text(fmt::format("create {}", path).c_str()));
    ::unlink(path.c_str());
    return fd;
  }

  std::vector<char> bytes_;
  Fd file_;
};

}  // namespace

FsyncRateResult measure_fsync_rate(const std::string& directory, int64_t write_bytes,
                                   int64_t max_count, double max_seconds) {
  FsyncRateResult result;
  result.write_bytes = write_bytes;
  result.directory = directory;
  ::sync();
  FsyncFile file(directory, write_bytes);
  const int64_t start_ns = monotonic_ns();
  const int64_t deadline_ns = start_ns + static_cast<int64_t>(max_seconds * 1e9);
  int64_t end_ns = start_ns;
  result.round_ns.reserve(static_cast<size_t>(std::min<int64_t>(max_count, 100'000)));
  while (result.count < max_count && end_ns < deadline_ns) {
    const int64_t round_start = end_ns;
    file.round();
    end_ns = monotonic_ns();
    result.round_ns.push_back(end_ns - round_start);
    ++result.count;
  }
  result.seconds = seconds_between(start_ns, end_ns);
  return result;
}

FsyncRateResult probe_fsync_latency(const std::string& directory, int64_t write_bytes,
                                    int64_t interval_ms, std::stop_token stop) {
  FsyncRateResult result;
  result.write_bytes = write_bytes;
  result.directory = directory;
  FsyncFile file(directory, write_bytes);
  const int64_t start_ns = monotonic_ns();
  int64_t end_ns = start_ns;
  while (!stop.stop_requested()) {
    const int64_t round_start = monotonic_ns();
    file.round();
    end_ns = monotonic_ns();
    result.round_ns.push_back(end_ns - round_start);
    ++result.count;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  result.seconds = seconds_between(start_ns, end_ns);
  return result;
}

}  // namespace ferry::bench
