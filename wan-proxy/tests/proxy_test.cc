// ferry-wan-proxy's engine on real loopback sockets: delays, the bandwidth cap, half-close,
// both cuts, an unreachable upstream and the bounded window. Durations are only ever asserted
// as lower bounds the link model promises (a byte cannot arrive before its delay), never as
// speed.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "wan-proxy/proxy.h"

namespace ferry::wanproxy {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

/// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (fd >= 0) ::close(fd);
    fd = std::exchange(o.fd, -1);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Fd listen_on_loopback(uint16_t& port) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(s.fd, 16), 0);
  socklen_t len = sizeof a;
  ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return s;
}

Fd connect_to(uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  EXPECT_EQ(::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  int one = 1;
  ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}

/// Waits up to `timeout` for `fd` to become readable.
bool readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

Fd accept_within(int listener, std::chrono::milliseconds timeout) {
  if (!readable(listener, timeout)) return Fd();
  return Fd(::accept(listener, nullptr, nullptr));
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    off += static_cast<size_t>(n);
  }
}

/// Reads exactly `n` bytes within `timeout`; fewer if the peer closes or the time runs out.
std::string recv_exact(int fd, size_t n, std::chrono::milliseconds timeout = 10s) {
  std::string out;
  const auto deadline = SteadyClock::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left <= 0ms || !readable(fd, left)) break;
    const ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

/// What the next recv() says once data or an error is there: >0 bytes, 0 (EOF), or -errno.
long next_recv(int fd, std::chrono::milliseconds timeout = 10s) {
  if (!readable(fd, timeout)) return -ETIMEDOUT;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);
  return n < 0 ? -errno : n;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

/// A WanProxy serving on its own thread, with one route to `upstream_port`.
struct RunningProxy {
  RunningProxy(uint16_t upstream_port, LinkSettings link, uint64_t window = 6ull << 20)
      : proxy(WanProxy::Options{{Route{"127.0.0.1", 0, "127.0.0.1", upstream_port}}, link, window}),
        thread([this] { proxy.run(); }) {}
  ~RunningProxy() {
    proxy.stop();
    thread.join();
  }
  uint16_t port() const { return proxy.routes()[0].listen_port; }
  WanProxy proxy;
  std::thread thread;
};

/// A proxy in front of a listening upstream, one client connection through it, and that
/// connection's upstream side (fd -1 when the proxy never connected).
struct Linked {
  explicit Linked(LinkSettings link, uint64_t window = 6ull << 20)
      : listener(listen_on_loopback(up_port)),
        proxy(up_port, link, window),
        client(connect_to(proxy.port())),
        upstream(accept_within(listener.fd, 10s)) {}
  uint16_t up_port = 0;
  Fd listener;
  RunningProxy proxy;
  Fd client;
  Fd upstream;
};

/// Echoes every byte of one accepted connection until EOF, then closes.
std::thread echo_one(int listener) {
  return std::thread([listener] {
    Fd c = accept_within(listener, 10s);
    if (c.fd < 0) return;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(c.fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
    }
  });
}

LinkSettings delays(std::chrono::milliseconds up, std::chrono::milliseconds down) {
  LinkSettings l;
  l.up.delay = up;
  l.down.delay = down;
  return l;
}

TEST(WanProxy, ARoundTripCostsBothDelaysAndBytesArriveIntact) {
  uint16_t up_port = 0;
  Fd listener = listen_on_loopback(up_port);
  std::thread echo = echo_one(listener.fd);
  RunningProxy p(up_port, delays(30ms, 20ms));
  Fd c = connect_to(p.port());

  const auto t0 = SteadyClock::now();
  send_all(c.fd, "x");
  ASSERT_EQ(recv_exact(c.fd, 1), "x");
  EXPECT_GE(SteadyClock::now() - t0, 50ms);

  const std::string payload = random_bytes(4 << 20, 7);
  std::thread writer([&] { send_all(c.fd, payload); });
  EXPECT_EQ(recv_exact(c.fd, payload.size(), 30s), payload);
  writer.join();
  ::shutdown(c.fd, SHUT_WR);
  EXPECT_EQ(next_recv(c.fd), 0);  // the echo's close comes back as EOF
  echo.join();
  const nlohmann::json s = p.proxy.status();
  EXPECT_EQ(s["bytes_up"], payload.size() + 1);
  EXPECT_EQ(s["bytes_down"], payload.size() + 1);
  EXPECT_EQ(s["routes"][0]["connections_accepted"], 1);
}

TEST(WanProxy, TheBandwidthCapBoundsHowFastBytesArrive) {
  LinkSettings link;
  link.up.rate_bytes_per_s = 1'000'000;  // 8 Mbit/s
  Linked l(link);
  ASSERT_GE(l.upstream.fd, 0);
  const std::string payload = random_bytes(500'000, 3);
  const auto t0 = SteadyClock::now();
  send_all(l.client.fd, payload);
  EXPECT_EQ(recv_exact(l.upstream.fd, payload.size(), 30s), payload);
  EXPECT_GE(SteadyClock::now() - t0, 450ms);  // 500 kB at 1 MB/s, less one read's worth
}

TEST(WanProxy, AConnectionMovesAtMostOneWindowPerRoundTrip) {
  Linked l(delays(20ms, 20ms), /*window=*/65536);
  ASSERT_GE(l.upstream.fd, 0);
  const std::string payload = random_bytes(10 * 65536, 5);
  const auto t0 = SteadyClock::now();
  std::thread writer([&] { send_all(l.client.fd, payload); });
  EXPECT_EQ(recv_exact(l.upstream.fd, payload.size(), 30s), payload);
  writer.join();
  // Ten windows: nine waits for acknowledgements (40 ms each) and the last one-way trip.
  EXPECT_GE(SteadyClock::now() - t0, 9 * 40ms + 20ms);
}

TEST(WanProxy, AHalfCloseIsForwardedAfterTheDataAndTheOtherSideMayStillAnswer) {
  Linked l(delays(10ms, 10ms));
  ASSERT_GE(l.upstream.fd, 0);
  send_all(l.client.fd, "hello");
  ::shutdown(l.client.fd, SHUT_WR);
  EXPECT_EQ(recv_exact(l.upstream.fd, 5), "hello");
  EXPECT_EQ(next_recv(l.upstream.fd), 0);  // EOF after the data
  send_all(l.upstream.fd, "bye");
  l.upstream = Fd();
  EXPECT_EQ(recv_exact(l.client.fd, 3), "bye");
  EXPECT_EQ(next_recv(l.client.fd), 0);
}

TEST(WanProxy, ABlackholeHoldsEverythingAndReleasesItInOrderWhenHealed) {
  uint16_t up_port = 0;
  Fd listener = listen_on_loopback(up_port);
  RunningProxy p(up_port, LinkSettings{});
  Fd open_before = connect_to(p.port());
  Fd u1 = accept_within(listener.fd, 10s);
  ASSERT_GE(u1.fd, 0);

  LinkSettings cut;
  cut.cut = Cut::blackhole;
  p.proxy.set_link(cut);
  std::this_thread::sleep_for(50ms);  // set_link is posted to the proxy's thread
  send_all(open_before.fd, "held-1");
  Fd opened_during = connect_to(p.port());  // the kernel completes the handshake; nothing more
  send_all(opened_during.fd, "held-2");
  EXPECT_FALSE(readable(u1.fd, 300ms));
  EXPECT_FALSE(readable(listener.fd, 100ms)) << "no upstream connection while cut";

  p.proxy.set_link(LinkSettings{});
  EXPECT_EQ(recv_exact(u1.fd, 6), "held-1");
  Fd u2 = accept_within(listener.fd, 10s);
  ASSERT_GE(u2.fd, 0);
  EXPECT_EQ(recv_exact(u2.fd, 6), "held-2");
  send_all(u2.fd, "answer");
  EXPECT_EQ(recv_exact(opened_during.fd, 6), "answer");
}

TEST(WanProxy, AResetCutResetsOpenConnectionsOnBothSidesAndNewOnesUntilHealed) {
  Linked l(LinkSettings{});
  ASSERT_GE(l.upstream.fd, 0);
  send_all(l.client.fd, "ok");
  ASSERT_EQ(recv_exact(l.upstream.fd, 2), "ok");

  LinkSettings cut;
  cut.cut = Cut::reset;
  l.proxy.proxy.set_link(cut);
  EXPECT_EQ(next_recv(l.client.fd), -ECONNRESET);
  EXPECT_EQ(next_recv(l.upstream.fd), -ECONNRESET);
  Fd during = connect_to(l.proxy.port());
  EXPECT_EQ(next_recv(during.fd), -ECONNRESET);
  EXPECT_EQ(l.proxy.proxy.status()["connections_reset"], 2);

  l.proxy.proxy.set_link(LinkSettings{});
  std::this_thread::sleep_for(50ms);
  Fd after = connect_to(l.proxy.port());
  Fd u_after = accept_within(l.listener.fd, 10s);
  ASSERT_GE(u_after.fd, 0);
  send_all(after.fd, "again");
  EXPECT_EQ(recv_exact(u_after.fd, 5), "again");
}

TEST(WanProxy, AnUnreachableUpstreamResetsTheClientAndIsCounted) {
  uint16_t dead_port = 0;
  { Fd gone = listen_on_loopback(dead_port); }  // bound once, now closed: connections are refused
  RunningProxy p(dead_port, LinkSettings{});
  Fd c = connect_to(p.port());
  EXPECT_EQ(next_recv(c.fd), -ECONNRESET);
  EXPECT_EQ(p.proxy.status()["upstream_connect_failures"], 1);
}

TEST(WanProxy, AnUpstreamThatStopsReadingStopsTheProxyReadingTheClient) {
  Linked l(LinkSettings{}, /*window=*/65536);  // the upstream side is accepted, never read
  ASSERT_GE(l.upstream.fd, 0);
  const int c = l.client.fd;
  ::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) | O_NONBLOCK);
  const std::string block(1 << 20, 'b');
  uint64_t written = 0;
  auto last_progress = SteadyClock::now();
  while (written < (256ull << 20) && SteadyClock::now() - last_progress < 500ms) {
    const ssize_t n = ::send(c, block.data(), block.size(), MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<uint64_t>(n);
      last_progress = SteadyClock::now();
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  // Socket buffers on both sides (a few MiB each) plus the proxy's window and one read: the
  // proxy must not have swallowed the rest.
  EXPECT_LT(written, 48ull << 20) << "the proxy kept reading although nothing was delivered";
}

}  // namespace
}  // namespace ferry::wanproxy
