#include "broker/server/socket_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>
#include <utility>

#include "broker/core/replica_manager.h"
#include "broker/server/connection.h"
#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using asio::ip::tcp;

using Clock = std::chrono::steady_clock;

struct SocketServer::Impl {
  BrokerServices& services;
  Handlers& handlers;
  TlsContexts* tls;  // null when no listener uses TLS
  std::map<std::string, SaslSettings> sasl;  // by listener name, SASL listeners only
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // on threads[0]
  std::map<std::string, uint16_t> ports;
  std::atomic<int> live{0};
  RequestMetrics request_metrics{services.metrics};
  size_t next = 0;
  bool started = false, stopped = false;

  Impl(BrokerServices& s, Handlers& h, TlsContexts* t) : services(s), handlers(h), tls(t) {}

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
      auto tls_context = listener.tls() && tls ? tls->get(listener.name) : nullptr;
      auto sasl_it = sasl.find(listener.name);
      const SaslSettings* sasl_settings = sasl_it == sasl.end() ? nullptr : &sasl_it->second;
      asio::post(target.ctx, [this, &target, &listener, s = std::move(socket), tls_context, sasl_settings]() mutable {
        auto c = std::make_shared<Connection>(std::move(s), target, listener, handlers, live, std::move(tls_context),
                                              sasl_settings, request_metrics);
        target.connections.insert(c);
        c->start();
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

SocketServer::SocketServer(BrokerServices& services, Handlers& handlers, TlsContexts* tls)
    : impl_(std::make_unique<Impl>(services, handlers, tls)) {}

SocketServer::~SocketServer() { stop(std::chrono::milliseconds(0)); }

void SocketServer::start() {
  auto& cfg = impl_->services.config;
  int n = static_cast<int>(cfg.values.get_int("num.network.threads"));
  for (int i = 0; i < n; ++i) impl_->threads.push_back(std::make_unique<IoThread>());
  for (const auto& l : cfg.listeners)
    if (l.sasl()) impl_->sasl.emplace(l.name, SaslSettings::of(cfg.values, l));  // throws ConfigError
  // Every listener is bound before any listens: a port taken by another process fails the start
  // before a client could connect to one listener of a broker about to exit.
  for (const auto& l : cfg.listeners) {
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->threads[0]->ctx);
    try {
      auto address = asio::ip::make_address(l.host.empty() ? "0.0.0.0" : l.host);
      tcp::endpoint ep(address, l.port);
      acceptor->open(ep.protocol());
      acceptor->set_option(tcp::acceptor::reuse_address(true));
      acceptor->bind(ep);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), fmt::format("cannot listen on {}://{}:{}", l.name, l.host, l.port));
    }
    impl_->acceptors.push_back(std::move(acceptor));
  }
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    auto& acceptor = *impl_->acceptors[i];
    try {
      acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), fmt::format("cannot listen on {}://{}:{}", l.name, l.host, l.port));
    }
    impl_->ports[l.name] = acceptor.local_endpoint().port();
    spdlog::info("listening on {}://{}:{}", l.name, l.host, impl_->ports[l.name]);
    asio::co_spawn(impl_->threads[0]->ctx, impl_->accept_loop(acceptor, l), asio::detached);
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
