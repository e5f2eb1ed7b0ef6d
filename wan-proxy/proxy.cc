#include "wan-proxy/proxy.h"

#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <system_error>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/wakeup.h"

namespace ferry::wanproxy {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr size_t kReadSize = 256 * 1024;
/// Completion token of every awaited operation: the error lands in `ec` instead of throwing.
auto with_error(boost::system::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

/// Bytes read from one side and not yet written to the other; `fin` marks the source's end of
/// stream.
struct Chunk {
  Clock::time_point deliver_at;
  std::vector<char> data;
  bool fin = false;
};

struct RouteStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> open{0};
};

void abort_socket(tcp::socket& s) {
  boost::system::error_code ec;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ec);  // close() then sends RST
  s.close(ec);
}

}  // namespace

struct WanProxy::Impl {
  struct Connection;

  explicit Impl(Options o) : options(std::move(o)), route_stats(options.routes.size()), heal_timer(ctx) {
    link = options.link;
    shared_link = options.link;
    heal_timer.expires_at(asio::steady_timer::time_point::max());
    for (Route& route : options.routes) {
      boost::system::error_code ec;
      tcp::resolver resolver(ctx);
      auto found = resolver.resolve(route.listen_host, std::to_string(route.listen_port), ec);
      if (ec || found.empty())
        throw std::system_error(ec ? ec : std::make_error_code(std::errc::invalid_argument),
                                fmt::format("listen host \"{}\" does not resolve", route.listen_host));
      tcp::acceptor acceptor(ctx);
      const tcp::endpoint at = found.begin()->endpoint();
      acceptor.open(at.protocol(), ec);
      if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor.bind(at, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (ec)
        throw std::system_error(ec, fmt::format("cannot listen on {}:{}", route.listen_host, route.listen_port));
      route.listen_port = acceptor.local_endpoint().port();
      acceptors.push_back(std::move(acceptor));
    }
  }

  /// Waits until the cut is no longer blackhole (returns at once if it is not).
  asio::awaitable<void> wait_heal() {
    while (link.cut == Cut::blackhole) {
      boost::system::error_code ec;  // operation_aborted: the cut changed (or a connection aborted)
      co_await heal_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopping) co_return;
    }
  }

  asio::awaitable<void> accept_loop(size_t route_index);
  void apply_link(const LinkSettings& next);

  // Declared before ctx, so they outlive it: destroying the io_context destroys the coroutine
  // frames still pending, and with them Connections, whose destructors update these.
  Options options;
  std::unordered_set<Connection*> connections;  // io thread only
  std::vector<RouteStats> route_stats;
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
  std::atomic<uint64_t> connections_reset{0};
  std::atomic<uint64_t> upstream_connect_failures{0};
  mutable std::mutex link_mutex;
  LinkSettings shared_link;  // guarded by link_mutex: what link() answers on any thread

  asio::io_context ctx;
  std::vector<tcp::acceptor> acceptors;
  // io thread only:
  LinkSettings link;
  DirectionSchedule schedule_up;
  DirectionSchedule schedule_down;
  asio::steady_timer heal_timer;  // never expires; cancel() wakes every wait_heal()
  bool stopping = false;
};

/// One proxied connection: client ↔ upstream, two pipes, four coroutines (a reader and a writer
/// per direction), each holding a reference. Lives on the io thread only.
struct WanProxy::Impl::Connection {
  struct Pipe {
    Pipe(asio::io_context& ctx, bool up) : up(up), writer_wake(ctx), reader_wake(ctx) {}
    const bool up;  // client → upstream
    std::deque<Chunk> queue;
    // Bytes read from the source and not yet acknowledged: in `queue`, or delivered less than a
    // reverse one-way delay ago (their acknowledgement is still on its way back, as a TCP ACK
    // would be). The reader stops at window_bytes, so a connection moves at most one window per
    // round trip, as TCP with that receive window does.
    uint64_t in_flight = 0;
    std::deque<std::pair<Clock::time_point, uint64_t>> unacknowledged;  // (ack arrives, bytes)
    Wakeup writer_wake;
    Wakeup reader_wake;
    std::array<char, kReadSize> buffer;
  };

  Connection(Impl& proxy, size_t route_index, tcp::socket client)
      : proxy(proxy),
        route_index(route_index),
        client(std::move(client)),
        upstream(proxy.ctx),
        up(std::make_unique<Pipe>(proxy.ctx, true)),
        down(std::make_unique<Pipe>(proxy.ctx, false)) {
    proxy.connections.insert(this);
    ++proxy.route_stats[route_index].open;
  }

  ~Connection() {
    proxy.connections.erase(this);
    --proxy.route_stats[route_index].open;
    boost::system::error_code ec;
    client.close(ec);
    upstream.close(ec);
  }

  /// Resets both sides and ends every coroutine of this connection.
  void abort() {
    if (aborted) return;
    aborted = true;
    abort_socket(client);
    abort_socket(upstream);
    for (Pipe* p : {up.get(), down.get()}) {
      p->writer_wake.wake();
      p->reader_wake.wake();
    }
    if (proxy.link.cut == Cut::blackhole) proxy.heal_timer.cancel();  // the others wait again
  }

  // Every coroutine takes `self` as a parameter, so the frame holds the connection from its
  // creation (an awaitable starts later, when the io_context runs it).
  asio::awaitable<void> run(std::shared_ptr<Connection> self) {
    co_await proxy.wait_heal();
    if (aborted || proxy.stopping) co_return;
    const Route& route = proxy.options.routes[route_index];
    tcp::resolver resolver(proxy.ctx);
    boost::system::error_code ec;
    auto found = co_await resolver.async_resolve(route.upstream_host, std::to_string(route.upstream_port),
                                                 with_error(ec));
    if (!ec && !aborted) co_await asio::async_connect(upstream, found, with_error(ec));
    if (aborted) co_return;
    if (ec) {
      ++proxy.upstream_connect_failures;
      spdlog::warn("upstream {}:{}: {}; resetting the client", route.upstream_host, route.upstream_port,
                   ec.message());
      abort();
      co_return;
    }
    upstream.set_option(tcp::no_delay(true), ec);
    for (Pipe* p : {up.get(), down.get()}) {
      asio::co_spawn(proxy.ctx, read_loop(self, *p), asio::detached);
      asio::co_spawn(proxy.ctx, write_loop(self, *p), asio::detached);
    }
  }

  asio::awaitable<void> read_loop(std::shared_ptr<Connection> self, Pipe& p) {
    tcp::socket& src = p.up ? client : upstream;
    for (;;) {
      co_await proxy.wait_heal();
      for (;;) {
        const Clock::time_point now = Clock::now();
        while (!p.unacknowledged.empty() && p.unacknowledged.front().first <= now) {
          p.in_flight -= p.unacknowledged.front().second;
          p.unacknowledged.pop_front();
        }
        if (aborted || p.in_flight < proxy.options.window_bytes) break;
        if (p.unacknowledged.empty())
          co_await p.reader_wake.sleep();
        else
          co_await p.reader_wake.sleep_until(p.unacknowledged.front().first);
      }
      if (aborted || proxy.stopping) co_return;
      boost::system::error_code ec;
      const uint64_t room = std::min<uint64_t>(kReadSize, proxy.options.window_bytes - p.in_flight);
      const size_t n = co_await src.async_read_some(asio::buffer(p.buffer.data(), room), with_error(ec));
      if (aborted) co_return;
      const Clock::time_point now = Clock::now();
      DirectionSchedule& schedule = p.up ? proxy.schedule_up : proxy.schedule_down;
      const DirectionSettings& settings = p.up ? proxy.link.up : proxy.link.down;
      // The writer sleeps on an empty queue, or until the front chunk is due; a chunk queued
      // behind another is never due earlier (the schedule only moves forward), so only the first
      // one needs to wake it.
      const bool writer_idle = p.queue.empty();
      if (ec == asio::error::eof) {
        p.queue.push_back(Chunk{schedule.deliver_at(now, 0, settings), {}, true});
        if (writer_idle) p.writer_wake.wake();
        co_return;
      }
      if (ec) {
        abort();
        co_return;
      }
      p.queue.push_back(Chunk{schedule.deliver_at(now, n, settings),
                              std::vector<char>(p.buffer.data(), p.buffer.data() + n), false});
      p.in_flight += n;
      if (writer_idle) p.writer_wake.wake();
    }
  }

  asio::awaitable<void> write_loop(std::shared_ptr<Connection> self, Pipe& p) {
    tcp::socket& dst = p.up ? upstream : client;
    while (!aborted && !proxy.stopping) {
      if (p.queue.empty()) {
        co_await p.writer_wake.sleep();
        continue;
      }
      if (proxy.link.cut == Cut::blackhole) {
        co_await proxy.wait_heal();
        continue;
      }
      Chunk& chunk = p.queue.front();
      if (chunk.deliver_at > Clock::now()) {
        co_await p.writer_wake.sleep_until(chunk.deliver_at);
        continue;
      }
      if (chunk.fin) {
        boost::system::error_code ec;
        dst.shutdown(tcp::socket::shutdown_send, ec);
        p.queue.pop_front();
        co_return;  // the connection closes when both pipes are done and every coroutine ended
      }
      boost::system::error_code ec;
      const size_t n = co_await asio::async_write(dst, asio::buffer(chunk.data), with_error(ec));
      if (aborted) co_return;
      if (ec) {
        abort();
        co_return;
      }
      (p.up ? proxy.bytes_up : proxy.bytes_down) += n;
      const std::chrono::microseconds reverse = (p.up ? proxy.link.down : proxy.link.up).delay;
      p.unacknowledged.emplace_back(Clock::now() + reverse, chunk.data.size());
      p.queue.pop_front();
      p.reader_wake.wake();
    }
  }

  Impl& proxy;
  const size_t route_index;
  tcp::socket client;
  tcp::socket upstream;
  std::unique_ptr<Pipe> up;
  std::unique_ptr<Pipe> down;
  bool aborted = false;
};

asio::awaitable<void> WanProxy::Impl::accept_loop(size_t route_index) {
  tcp::acceptor& acceptor = acceptors[route_index];
  while (!stopping) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(with_error(ec));
    if (stopping) co_return;
    if (ec) {
      spdlog::warn("accept on port {}: {}", options.routes[route_index].listen_port, ec.message());
      asio::steady_timer pause(ctx, std::chrono::milliseconds(50));  // EMFILE and the like
      co_await pause.async_wait(with_error(ec));
      continue;
    }
    ++route_stats[route_index].accepted;
    if (link.cut == Cut::reset) {
      ++connections_reset;
      abort_socket(socket);
      continue;
    }
    boost::system::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    auto connection = std::make_shared<Connection>(*this, route_index, std::move(socket));
    asio::co_spawn(ctx, connection->run(connection), asio::detached);
  }
}

void WanProxy::Impl::apply_link(const LinkSettings& next) {
  const Cut before = link.cut;
  link = next;
  if (before == Cut::blackhole && next.cut != Cut::blackhole) heal_timer.cancel();
  if (next.cut == Cut::reset && before != Cut::reset) {
    std::vector<Connection*> open(connections.begin(), connections.end());
    for (Connection* c : open) {
      if (!c->aborted) ++connections_reset;
      c->abort();
    }
  }
  // Writers sleeping until a chunk's old arrival time keep it: the new settings apply to bytes
  // read from now on, as a changed route does to packets not yet sent.
}

WanProxy::WanProxy(Options options) {
  if (options.routes.empty()) throw std::invalid_argument("at least one route is needed");
  impl_ = std::make_unique<Impl>(std::move(options));
}

WanProxy::~WanProxy() = default;

const std::vector<Route>& WanProxy::routes() const { return impl_->options.routes; }

void WanProxy::run() {
  for (size_t i = 0; i < impl_->acceptors.size(); ++i)
    asio::co_spawn(impl_->ctx, impl_->accept_loop(i), asio::detached);
  impl_->ctx.run();
}

void WanProxy::stop() {
  asio::post(impl_->ctx, [impl = impl_.get()] {
    impl->stopping = true;
    for (tcp::acceptor& a : impl->acceptors) {
      boost::system::error_code ec;
      a.close(ec);
    }
    impl->heal_timer.cancel();
    std::vector<Impl::Connection*> open(impl->connections.begin(), impl->connections.end());
    for (Impl::Connection* c : open) c->abort();
    // Nothing is left pending now: every coroutine ends and run() returns.
  });
}

LinkSettings WanProxy::link() const {
  std::lock_guard lock(impl_->link_mutex);
  return impl_->shared_link;
}

void WanProxy::set_link(const LinkSettings& link) {
  {
    std::lock_guard lock(impl_->link_mutex);
    impl_->shared_link = link;
  }
  asio::post(impl_->ctx, [impl = impl_.get(), link] { impl->apply_link(link); });
}

uint64_t WanProxy::bytes_delivered(bool up) const { return (up ? impl_->bytes_up : impl_->bytes_down).load(); }

nlohmann::json WanProxy::status() const {
  nlohmann::json routes = nlohmann::json::array();
  for (size_t i = 0; i < impl_->options.routes.size(); ++i) {
    const Route& r = impl_->options.routes[i];
    routes.push_back({{"listen", fmt::format("{}:{}", r.listen_host, r.listen_port)},
                      {"upstream", fmt::format("{}:{}", r.upstream_host, r.upstream_port)},
                      {"connections_accepted", impl_->route_stats[i].accepted.load()},
                      {"connections_open", impl_->route_stats[i].open.load()}});
  }
  return {{"link", link_json(link())},
          {"window_bytes", impl_->options.window_bytes},
          {"bytes_up", bytes_delivered(true)},
          {"bytes_down", bytes_delivered(false)},
          {"connections_reset", impl_->connections_reset.load()},
          {"upstream_connect_failures", impl_->upstream_connect_failures.load()},
          {"routes", std::move(routes)}};
}

}  // namespace ferry::wanproxy
