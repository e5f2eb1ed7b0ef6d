#include "bench/http_get.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

#include "bench/bench_error.h"
#include "bench/payload.h"

namespace ferry::bench {
namespace {

// Closes the socket on every exit path, including a thrown BenchError.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in parse_address(const std::string& base_url) {
  constexpr std::string_view scheme = "http://";
  std::string_view rest(base_url);
  if (rest.substr(0, scheme.size()) != scheme) {
    throw BenchError(fmt::format("{}: not an http:// URL", base_url));
  }
  rest.remove_prefix(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) throw BenchError(fmt::format("{}: no port", base_url));
  std::string host(rest.substr(0, colon));
  if (host == "localhost") host = "127.0.0.1";
  int port = 0;
  const std::string_view port_text = rest.substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    throw BenchError(fmt::format("{}: bad port", base_url));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    throw BenchError(fmt::format("{}: host must be a numeric IPv4 address or localhost", base_url));
  }
  return addr;
}

// Waits for `events` on `fd` until `deadline_ns` (monotonic); false on timeout.
bool wait_for(int fd, short events, int64_t deadline_ns) {
  while (true) {
    const int64_t left_ms = (deadline_ns - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left_ms));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

HttpResponse http_get(const std::string& base_url, const std::string& path,
                      std::chrono::milliseconds timeout) {
  const sockaddr_in addr = parse_address(base_url);
  const int64_t deadline_ns = monotonic_ns() + static_cast<int64_t>(timeout.count()) * 1'000'000;
  const std::string url = base_url + path;

  Socket sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (sock.fd() < 0) throw BenchError(fmt::format("GET {}: socket: {}", url, std::strerror(errno)));
  if (::connect(sock.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      throw BenchError(fmt::format("GET {}: connect: {}", url, std::strerror(errno)));
    }
    if (!wait_for(sock.fd(), POLLOUT, deadline_ns)) {
      throw BenchError(fmt::format("GET {}: no connection within {} ms", url, timeout.count()));
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) throw BenchError(fmt::format("GET {}: connect: {}", url, std::strerror(err)));
  }

  const std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: {}\r\n\r\n", path,
                                          base_url.substr(std::string_view("http://").size()));
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(sock.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(sock.fd(), POLLOUT, deadline_ns)) {
        throw BenchError(fmt::format("GET {}: request not sent within {} ms", url, timeout.count()));
      }
    } else {
      throw BenchError(fmt::format("GET {}: send: {}", url, std::strerror(errno)));
    }
  }

  std::string answer;
  size_t header_end = std::string::npos;
  std::optional<size_t> content_length;
  char buf[16384];
  while (true) {
    if (header_end != std::string::npos && content_length &&
        answer.size() >= header_end + 4 + *content_length) {
      break;
    }
    const ssize_t n = ::recv(sock.fd(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        throw BenchError(fmt::format("GET {}: recv: {}", url, std::strerror(errno)));
      }
      if (!wait_for(sock.fd(), POLLIN, deadline_ns)) {
        throw BenchError(fmt::format("GET {}: no complete answer within {} ms", url,
                                     timeout.count()));
      }
      continue;
    }
    answer.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = answer.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        // Header names are case-insensitive (RFC 9110 §5.1).
        std::string head = answer.substr(0, header_end);
        for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (size_t at = head.find("\r\ncontent-length:"); at != std::string::npos) {
          size_t pos = at + std::string_view("\r\ncontent-length:").size();
          while (pos < head.size() && head[pos] == ' ') ++pos;
          size_t value = 0;
          auto [end, ec] = std::from_chars(head.data() + pos, head.data() + head.size(), value);
          if (ec == std::errc()) content_length = value;
          (void)end;
        }
      }
    }
  }

  if (answer.compare(0, 5, "HTTP/") != 0 || header_end == std::string::npos) {
    throw BenchError(fmt::format("GET {}: the answer is not HTTP", url));
  }
  HttpResponse response;
  const size_t space = answer.find(' ');
  if (space == std::string::npos || space > header_end ||
      std::from_chars(answer.data() + space + 1, answer.data() + header_end, response.status).ec !=
          std::errc()) {
    throw BenchError(fmt::format("GET {}: no status code in the answer", url));
  }
  response.body = answer.substr(header_end + 4);
  if (content_length && response.body.size() > *content_length) {
    response.body.resize(*content_length);
  } else if (content_length && response.body.size() < *content_length) {
    throw BenchError(fmt::format("GET {}: connection closed after {} of {} body bytes", url,
                                 response.body.size(), *content_length));
  }
  return response;
}

bool http_ok(const std::string& base_url, const std::string& path,
             std::chrono::milliseconds timeout) {
  try {
    return http_get(base_url, path, timeout).status == 200;
  } catch (const BenchError&) {
    return false;
  }
}

}  // namespace ferry::bench
