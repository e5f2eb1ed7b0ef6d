#include "broker/server/socket_server.h"

#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <set>
#include <thread>

#include "broker/core/replica_manager.h"
#include "broker/server/dispatcher.h"
#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

using Clock = std::chrono::steady_clock;
// Frames are read in chunks that grow with what actually arrived, so a lying size prefix costs at
// most about twice the bytes the peer really sent, never the size it claimed.
constexpr size_t kFirstChunk = 64 * 1024;
// Buffers above this are released after the request instead of kept per idle connection.
constexpr size_t kKeepBuffer = 1 << 20;

}  // namespace

class Connection;

struct IoThread {
  asio::io_context ctx{1};
  std::thread thread;
  std::set<std::shared_ptr<Connection>> connections;  // touched only on this io_context's thread
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, IoThread& io, const Listener& listener, Handlers& handlers,
             std::atomic<int>& live)
      : socket_(std::move(socket)), io_(io), handlers_(handlers), live_(live) {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
    ctx_.identity.client_host = ec ? "" : remote.address().to_string();
    ctx_.identity.listener = listener.name;
    ctx_.listener = &listener;
    auto local = socket_.local_endpoint(ec);
    ctx_.local_address = ec ? "127.0.0.1" : local.address().to_string();
    ctx_.executor = io_.ctx.get_executor();
    socket_.set_option(tcp::no_delay(true), ec);
    last_activity_ = Clock::now();
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    auto& services = handlers_.services();
    const int64_t max_request = services.config.values.get_int("socket.request.max.bytes");
    try {
      while (!closing_) {
        idle_ = true;
        uint8_t size_buf[4];
        co_await asio::async_read(socket_, asio::buffer(size_buf), asio::use_awaitable);
        idle_ = false;
        last_activity_ = Clock::now();
        int32_t size = static_cast<int32_t>((uint32_t(size_buf[0]) << 24) | (uint32_t(size_buf[1]) << 16) |
                                            (uint32_t(size_buf[2]) << 8) | uint32_t(size_buf[3]));
        if (size <= 0 || size > max_request) {
          spdlog::warn("closing connection from {}: request size {} is outside 1..socket.request.max.bytes ({})",
                       peer_, size, max_request);
          break;
        }
        frame_.clear();
        while (frame_.size() < static_cast<size_t>(size)) {
          size_t have = frame_.size();
          size_t chunk = std::min<size_t>(static_cast<size_t>(size) - have, std::max(kFirstChunk, have));
          frame_.resize(have + chunk);
          co_await asio::async_read(socket_, asio::buffer(frame_.data() + have, chunk), asio::use_awaitable);
        }
        std::optional<protocol::Bytes> response;
        try {
          response = co_await dispatch(frame_, ctx_, handlers_);
        } catch (const protocol::DecodeError& e) {
          spdlog::info("closing connection from {}: malformed request: {}", peer_, e.what());
          break;
        } catch (const CloseConnection& e) {
          spdlog::info("closing connection from {}: {}", peer_, e.what());
          break;
        }
        if (response) co_await asio::async_write(socket_, asio::buffer(*response), asio::use_awaitable);
        last_activity_ = Clock::now();
        if (frame_.capacity() > kKeepBuffer) protocol::Bytes().swap(frame_);
        if (services.stopping) break;
      }
    } catch (const boost::system::system_error&) {
      // The peer went away or the socket was closed for idleness or shutdown.
    } catch (const std::exception& e) {
      spdlog::error("connection from {} failed while handling a request: {}", peer_, e.what());
    }
    close();
  }

  /// Closes the socket if the connection waits for a request, else closes after the response.
  void close_when_idle() {
    closing_ = true;
    if (idle_) close_socket();
  }

  bool idle_for(Clock::duration d) const { return idle_ && Clock::now() - last_activity_ > d; }
  void close_socket() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
  const std::string& peer() const { return peer_; }

 private:
  void close() {
    close_socket();
    io_.connections.erase(shared_from_this());
    live_--;
    auto& m = handlers_.services().metrics;
    m.counter("kafka_server_socketservermetrics_connection_close_total", "Connections closed.",
              {{"listener", ctx_.identity.listener}})
        .inc();
  }

  tcp::socket socket_;
  IoThread& io_;
  Handlers& handlers_;
  std::atomic<int>& live_;
  RequestContext ctx_;
  std::string peer_;
  protocol::Bytes frame_;
  bool idle_ = true;
  bool closing_ = false;
  Clock::time_point last_activity_;
};

struct SocketServer::Impl {
  BrokerServices& services;
  Handlers& handlers;
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // on threads[0]
  std::map<std::string, uint16_t> ports;
  std::atomic<int> live{0};
  size_t next = 0;
  bool started = false, stopped = false;

  Impl(BrokerServices& s, Handlers& h) : services(s), handlers(h) {}

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const Listener& listener) {
    auto& m = services.metrics;
    auto& created = m.counter("kafka_server_socketservermetrics_connection_creation_total", "Connections accepted.",
                              {{"listener", listener.name}});
    for (;;) {
      IoThread& target = *threads[next++ % threads.size()];
      tcp::socket socket(target.ctx);
      try {
        co_await acceptor.async_accept(socket, asio::use_awaitable);
      } catch (const boost::system::system_error& e) {
        if (!acceptor.is_open()) co_return;
        spdlog::warn("accept on {} failed: {}", listener.name, e.what());
        continue;
      }
      created.inc();
      live++;
      asio::post(target.ctx, [this, &target, &listener, s = std::move(socket)]() mutable {
        auto c = std::make_shared<Connection>(std::move(s), target, listener, handlers, live);
        target.connections.insert(c);
        asio::co_spawn(target.ctx, c->run(), asio::detached);
      });
    }
  }

  // Closes connections idle for longer than connections.max.idle.ms; one sweep per second per thread.
  asio::awaitable<void> idle_sweeper(IoThread& io) {
    const auto max_idle = std::chrono::milliseconds(services.config.values.get_int("connections.max.idle.ms"));
    asio::steady_timer timer(io.ctx);
    for (;;) {
      timer.expires_after(std::min<std::chrono::milliseconds>(max_idle, std::chrono::milliseconds(1000)));
      boost::system::error_code ec;
      try {
        co_await timer.async_wait(asio::use_awaitable);
      } catch (const boost::system::system_error&) {
        co_return;
      }
      if (services.stopping) co_return;
      std::vector<std::shared_ptr<Connection>> expired;
      for (auto& c : io.connections)
        if (c->idle_for(max_idle)) expired.push_back(c);
      for (auto& c : expired) {
        spdlog::debug("closing connection from {}: idle for more than connections.max.idle.ms", c->peer());
        c->close_socket();
      }
    }
  }
};

SocketServer::SocketServer(BrokerServices& services, Handlers& handlers)
    : impl_(std::make_unique<Impl>(services, handlers)) {}

SocketServer::~SocketServer() { stop(std::chrono::milliseconds(0)); }

void SocketServer::start() {
  auto& cfg = impl_->services.config;
  int n = static_cast<int>(cfg.values.get_int("num.network.threads"));
  for (int i = 0; i < n; ++i) impl_->threads.push_back(std::make_unique<IoThread>());
  for (const auto& l : cfg.listeners) {
    auto& ctx = impl_->threads[0]->ctx;
    auto acceptor = std::make_unique<tcp::acceptor>(ctx);
    try {
      auto address = asio::ip::make_address(l.host.empty() ? "0.0.0.0" : l.host);
      tcp::endpoint ep(address, l.port);
      acceptor->open(ep.protocol());
      acceptor->set_option(tcp::acceptor::reuse_address(true));
      acceptor->bind(ep);
      acceptor->listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), fmt::format("cannot listen on {}://{}:{}", l.name, l.host, l.port));
    }
    impl_->ports[l.name] = acceptor->local_endpoint().port();
    spdlog::info("listening on {}://{}:{}", l.name, l.host, impl_->ports[l.name]);
    asio::co_spawn(ctx, impl_->accept_loop(*acceptor, l), asio::detached);
    impl_->acceptors.push_back(std::move(acceptor));
  }
  impl_->services.metrics.gauge_callback("kafka_server_socketservermetrics_connection_count", "Open connections.", {},
                                         [impl = impl_.get()] { return static_cast<double>(impl->live.load()); });
  for (auto& t : impl_->threads) {
    asio::co_spawn(t->ctx, impl_->idle_sweeper(*t), asio::detached);
    t->thread = std::thread([ctx = &t->ctx] {
      auto guard = asio::make_work_guard(*ctx);
      ctx->run();
    });
  }
  impl_->started = true;
}

void SocketServer::stop(std::chrono::milliseconds grace) {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  impl_->services.stopping = true;
  asio::post(impl_->threads[0]->ctx, [this] {
    for (auto& a : impl_->acceptors) {
      boost::system::error_code ec;
      a->close(ec);
    }
  });
  for (auto& t : impl_->threads)
    asio::post(t->ctx, [io = t.get()] {
      auto conns = io->connections;
      for (auto& c : conns) c->close_when_idle();
    });
  // Long polls and acks=all waits answer now with what they have.
  impl_->services.replicas.wake_all_waiters();
  auto deadline = Clock::now() + grace;
  while (impl_->live.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (impl_->live.load() > 0)
    spdlog::warn("{} connection(s) still busy after the shutdown grace period; closing them", impl_->live.load());
  for (auto& t : impl_->threads) t->ctx.stop();
  for (auto& t : impl_->threads)
    if (t->thread.joinable()) t->thread.join();
  for (auto& t : impl_->threads) t->connections.clear();
  impl_->acceptors.clear();
}

uint16_t SocketServer::port(const std::string& listener_name) const {
  auto it = impl_->ports.find(listener_name);
  return it == impl_->ports.end() ? 0 : it->second;
}

}  // namespace ferry::broker
