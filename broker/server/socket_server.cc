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
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <set>
#include <thread>

#include "broker/core/replica_manager.h"
#include "broker/server/dispatcher.h"
#include "broker/server/sasl_authenticator.h"
#include "broker/server/tls.h"
#include "common/wakeup.h"
#include "security/audit_log.h"
#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

using Clock = std::chrono::steady_clock;
// Frames are read in chunks that grow with what actually arrived, so a lying size prefix costs at
// most about twice the bytes the peer really sent, never the size it claimed.
constexpr size_t kFirstChunk = 64 * 1024;
// Largest single write of a response (asio's own default for async_write).
constexpr size_t kWriteChunk = 64 * 1024;

}  // namespace

class Connection;

struct IoThread {
  asio::io_context ctx{1};
  std::thread thread;
  std::set<std::shared_ptr<Connection>> connections;  // touched only on this io_context's thread
};

// One client connection. A reader coroutine reads frames and starts one coroutine per request, so
// an acks=all produce waiting for its fsync does not stop the next request from being read and
// appended (the next fsync then covers both: group commit). A writer coroutine sends responses
// strictly in request order, as the Kafka protocol requires. Everything runs on the connection's
// single-threaded io_context, so requests start — and append — in arrival order.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, IoThread& io, const Listener& listener, Handlers& handlers,
             std::atomic<int>& live, std::shared_ptr<TlsListenerContext> tls_context, const SaslSettings* sasl)
      : socket_(std::move(socket)),
        tls_context_(std::move(tls_context)),
        io_(io),
        handlers_(handlers),
        live_(live),
        writer_wakeup_(io.ctx),
        reader_wakeup_(io.ctx) {
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
    if (tls_context_) {
      tls_ = std::make_unique<TlsStream>(socket_, tls_context_->ssl);
      // Output made while reading (an alert, a KeyUpdate) leaves with the writer's next flush.
      tls_->on_output([this] { wake(writer_wakeup_); });
    }
    if (sasl != nullptr)
      sasl_ = std::make_unique<SaslAuthenticator>(*sasl, handlers.services().metadata, peer_,
                                                  fmt::format("{}:{}", ctx_.local_address, listener.port));
    last_activity_ = Clock::now();
  }

  /// Starts the reader and writer coroutines.
  void start() {
    asio::co_spawn(io_.ctx, read_loop(), asio::detached);
    asio::co_spawn(io_.ctx, write_loop(), asio::detached);
  }

  /// Closes the socket now if nothing is in flight, else after the last response is written.
  void close_when_idle() {
    closing_ = true;
    if (idle()) close_socket();
    wake(writer_wakeup_);
  }

  /// Whether nothing arrived or was sent for longer than `d` while no request was being served,
  /// counting a request frame stalled half way and a response the peer stopped reading (Kafka's
  /// Selector expires a channel by its last read or write, partial ones included).
  bool idle_for(Clock::duration d) const {
    return (idle() || writing_ || (in_frame_ && pending_.empty())) && Clock::now() - last_activity_ > d;
  }
  void close_socket() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
  const std::string& peer() const { return peer_; }

 private:
  // A request's place in the response order.
  struct Slot {
    std::optional<protocol::Bytes> response;  // nullopt: no response (acks=0)
    bool done = false;
  };

  bool idle() const { return reading_ && pending_.empty(); }

  static void wake(Wakeup& w) { w.wake(); }
  static asio::awaitable<void> sleep_until_woken(Wakeup& w) { co_await w.sleep(); }

  asio::awaitable<void> read_loop() {
    auto self = shared_from_this();
    auto& services = handlers_.services();
    const int64_t max_request = services.config.values.get_int("socket.request.max.bytes");
    try {
      if (tls_ && !co_await tls_handshake()) {
        close_socket();
        closing_ = true;
      }
      while (!closing_ && !services.stopping) {
        while (pending_.size() >= kMaxInFlight && socket_.is_open()) co_await sleep_until_woken(reader_wakeup_);
        reading_ = true;
        uint8_t size_buf[4];
        co_await read_exact(asio::buffer(size_buf));
        reading_ = false;
        last_activity_ = Clock::now();
        int32_t size = static_cast<int32_t>((uint32_t(size_buf[0]) << 24) | (uint32_t(size_buf[1]) << 16) |
                                            (uint32_t(size_buf[2]) << 8) | uint32_t(size_buf[3]));
        // Before a login, frames are bounded by sasl.server.max.receive.size (Kafka's rule).
        const int64_t max_frame = sasl_ && !sasl_->authenticated()
                                      ? std::min<int64_t>(max_request, static_cast<int64_t>(sasl_->max_receive()))
                                      : max_request;
        if (size <= 0 || size > max_frame) {
          refuse("invalid request size", fmt::format("size {} is outside 1..{} ({})", size, max_frame,
                                                     max_frame == max_request ? "socket.request.max.bytes"
                                                                              : "sasl.server.max.receive.size"));
          if (sasl_ && !sasl_->authenticated())
            report_authentication(false, "", "", fmt::format("frame of {} bytes before authentication", size));
          close_socket();
          break;
        }
        protocol::Bytes frame;
        while (frame.size() < static_cast<size_t>(size)) {
          size_t have = frame.size();
          size_t chunk = std::min<size_t>(static_cast<size_t>(size) - have, std::max(kFirstChunk, have));
          frame.resize(have + chunk);
          // read_some takes whatever the kernel has buffered in one recv; async_read would split the
          // chunk into 64 KiB reads, each a trip through the scheduler.
          in_frame_ = true;
          for (size_t got = 0; got < chunk;) {
            got += co_await read_some(asio::buffer(frame.data() + have + got, chunk - got));
            last_activity_ = Clock::now();
          }
        }
        in_frame_ = false;
        if (sasl_) {
          // The SASL states: exchanges and everything before a login run inline, one at a time.
          switch (sasl_route(frame)) {
            case SaslRoute::exchange:
              co_await sasl_exchange(frame);
              continue;
            case SaslRoute::inline_request: {
              auto slot = std::make_shared<Slot>();
              pending_.push_back(slot);
              co_await process(std::move(frame), slot);
              continue;
            }
            case SaslRoute::refuse:
              closing_ = true;
              continue;
            case SaslRoute::serve:
              break;
          }
        }
        auto slot = std::make_shared<Slot>();
        pending_.push_back(slot);
        asio::co_spawn(io_.ctx, process(std::move(frame), slot), asio::detached);
      }
    } catch (const boost::system::system_error&) {
      // The peer went away, or the socket was closed for idleness, bad input or shutdown.
    }
    reading_ = false;
    reader_done_ = true;
    wake(writer_wakeup_);
  }

  asio::awaitable<void> process(protocol::Bytes frame, std::shared_ptr<Slot> slot) {
    auto self = shared_from_this();
    RequestContext ctx = ctx_;  // per request: dispatch fills in the header
    try {
      slot->response = co_await dispatch(frame, ctx, handlers_);
    } catch (const protocol::DecodeError& e) {
      refuse("malformed request", e.what());
      close_socket();
    } catch (const CloseConnection& e) {
      refuse("unanswerable request", e.what());
      close_socket();
    } catch (const std::exception& e) {
      spdlog::error("connection from {} failed while handling a request: {}", peer_, e.what());
      close_socket();
    }
    slot->done = true;
    wake(writer_wakeup_);
  }

  asio::awaitable<void> write_loop() {
    auto self = shared_from_this();
    try {
      for (;;) {
        while (!pending_.empty() && pending_.front()->done) {
          auto slot = std::move(pending_.front());
          pending_.pop_front();
          wake(reader_wakeup_);
          if (slot->response && socket_.is_open())
            co_await write_all(asio::buffer(*slot->response));
          last_activity_ = Clock::now();
        }
        // Over TLS the responses ready together leave in one socket write.
        if (tls_ready_ && tls_->pending_output() > 0 && socket_.is_open()) {
          writing_ = true;  // a peer that stops reading is idle (see write_all)
          co_await tls_->flush();
          writing_ = false;
          last_activity_ = Clock::now();
        }
        if (pending_.empty() && (reader_done_ || closing_)) break;
        co_await sleep_until_woken(writer_wakeup_);
      }
    } catch (const boost::system::system_error&) {
      // Peer gone; requests still in flight finish and are dropped.
    }
    close_socket();
    while (!pending_.empty() || !reader_done_) {
      // Wait for in-flight handlers and the reader so nothing touches a finished connection.
      while (!pending_.empty() && pending_.front()->done) pending_.pop_front();
      if (pending_.empty() && reader_done_) break;
      wake(reader_wakeup_);
      co_await sleep_until_woken(writer_wakeup_);
    }
    finish();
  }

  // The connection's byte stream: TLS on SSL and SASL_SSL listeners, the socket itself otherwise.
  asio::awaitable<void> read_exact(asio::mutable_buffer b) {
    if (!tls_) {
      co_await asio::async_read(socket_, b, asio::use_awaitable);
      co_return;
    }
    for (size_t got = 0; got < b.size();) got += co_await tls_->read_some(b + got);
  }
  asio::awaitable<size_t> read_some(asio::mutable_buffer b) {
    if (tls_) co_return co_await tls_->read_some(b);
    co_return co_await socket_.async_read_some(b, asio::use_awaitable);
  }
  // Every chunk the peer takes is activity; a peer that stops reading leaves writing_ set and the
  // clock still, so connections.max.idle.ms closes it (Kafka's Selector counts writes the same way).
  // Over TLS the tail of the response may wait in the TlsStream for write_loop's flush.
  asio::awaitable<void> write_all(asio::const_buffer b) {
    auto progress = [this](const boost::system::error_code& ec, size_t) -> size_t {
      last_activity_ = Clock::now();
      return ec ? 0 : kWriteChunk;
    };
    writing_ = true;
    if (tls_)
      co_await tls_->write(b);
    else
      co_await asio::async_write(socket_, b, progress, asio::use_awaitable);
    writing_ = false;
  }

  // The TLS handshake, and the principal a verified client certificate names on an SSL listener
  // (KIP-371 mapping; on SASL_SSL the SASL login names it). A handshake that never finishes counts
  // as idle time, so connections.max.idle.ms closes it. Returns false when the connection must
  // close (handshake failed, or no mapping rule matches the certificate).
  asio::awaitable<bool> tls_handshake() {
    reading_ = true;
    const boost::system::error_code ec = co_await tls_->handshake();
    reading_ = false;
    last_activity_ = Clock::now();
    if (ec) {
      // The peer hung up before the handshake ended (a TCP reachability probe, a client destroyed
      // while connecting): a disconnect, as Kafka's SslTransportLayer treats EOF or a reset during
      // the handshake (an IOException, not an SslAuthenticationException), so not a failed login.
      // A TLS error the peer caused (an alert, a bad certificate, bytes that are not TLS) is one.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset) {
        spdlog::debug("connection from {} closed during the TLS handshake: {}", peer_, ec.message());
        co_return false;
      }
      refuse("TLS handshake failed", ec.message());
      report_authentication(false, "SSL", "", fmt::format("TLS handshake failed: {}", ec.message()));
      co_return false;
    }
    if (ctx_.listener->security_protocol == "SSL" && tls_context_->client_auth) {
      if (auto subject = peer_certificate_subject(tls_->native_handle())) {
        auto name = tls_context_->principal_mapper.map(*subject);
        if (!name) {
          refuse("no ssl.principal.mapping.rules rule matches the client certificate", *subject);
          report_authentication(false, "SSL", "", fmt::format("no ssl.principal.mapping.rules rule matches {}", *subject));
          co_return false;
        }
        ctx_.identity.principal = security::Principal{"User", *name};
        report_authentication(true, "SSL", *name, "");
      }
    }
    tls_ready_ = true;
    co_return true;
  }

  enum class SaslRoute { exchange, inline_request, refuse, serve };

  // Where a frame goes on a SASL listener: the exchange (raw tokens, SaslHandshake,
  // SaslAuthenticate), inline (ApiVersions before a login), refused (anything else before a login,
  // or after the session expired: Kafka closes), or served as usual.
  SaslRoute sasl_route(const protocol::Bytes& frame) {
    if (sasl_->expects_raw_token()) return SaslRoute::exchange;
    if (frame.size() < 4) {
      refuse("malformed request", "frame shorter than a request header");
      return SaslRoute::refuse;
    }
    const int16_t api_key = static_cast<int16_t>((frame[0] << 8) | frame[1]);
    if (api_key == protocol::SaslHandshakeRequest::api_key || api_key == protocol::SaslAuthenticateRequest::api_key)
      return SaslRoute::exchange;
    if (!sasl_->authenticated()) {
      if (api_key == protocol::ApiVersionsRequest::api_key) return SaslRoute::inline_request;
      const auto api = protocol::find_api(api_key);
      report_authentication(false, "", "",
                            fmt::format("{} request before authentication", api ? api->name : "unknown"));
      refuse("request before SASL authentication", api ? api->name : fmt::format("API key {}", api_key));
      return SaslRoute::refuse;
    }
    if (sasl_->expired(Clock::now())) {
      refuse("SASL session expired", "no re-authentication within connections.max.reauth.ms");
      return SaslRoute::refuse;
    }
    return SaslRoute::serve;
  }

  // One SASL frame: answered in order with the requests before it; a failure's answer waits
  // connection.failed.authentication.delay.ms (slowing password guessing), then the connection closes.
  asio::awaitable<void> sasl_exchange(const protocol::Bytes& frame) {
    SaslAuthenticator::Outcome out;
    try {
      out = sasl_->expects_raw_token() ? sasl_->on_raw_token(frame) : sasl_->on_request(frame);
    } catch (const protocol::DecodeError& e) {
      out.failed = out.close = true;
      out.reason = fmt::format("malformed SASL request: {}", e.what());
    }
    auto slot = std::make_shared<Slot>();
    pending_.push_back(slot);
    if (out.failed) {
      report_authentication(false, out.mechanism, "", out.reason);
      const auto delay = std::chrono::milliseconds(
          handlers_.services().config.values.get_int("connection.failed.authentication.delay.ms"));
      if (delay.count() > 0) {
        asio::steady_timer timer(io_.ctx, delay);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    } else if (out.succeeded) {
      ctx_.identity.principal = security::Principal{"User", out.user};
      report_authentication(true, out.mechanism, out.user, "");
    }
    slot->response = std::move(out.response);
    slot->done = true;
    wake(writer_wakeup_);
    if (out.close) closing_ = true;
  }

  // Counts a login or a failed one, and sends it to the security audit log. Failures are also
  // logged, rate-limited like refusals.
  void report_authentication(bool ok, const std::string& mechanism, const std::string& user, const std::string& reason) {
    auto& services = handlers_.services();
    services.metrics
        .counter(ok ? "kafka_server_socketservermetrics_successful_authentication_total"
                    : "kafka_server_socketservermetrics_failed_authentication_total",
                 ok ? "Successful logins (SASL, or a verified client certificate on SSL)." : "Failed logins.",
                 {{"listener", ctx_.identity.listener}})
        .inc();
    if (services.audit != nullptr) {
      security::AuthenticationEvent e;
      e.success = ok;
      e.principal = ok ? security::Principal{"User", user} : ctx_.identity.principal;
      e.mechanism = mechanism;
      e.listener = ctx_.identity.listener;
      e.client_host = ctx_.identity.client_host;
      e.reason = reason;
      services.audit->authentication(e);
    }
  }

  /// Counts a connection closed for bad input and logs it, at most once a second per process so a
  /// flood of garbage cannot flood the log (the count of suppressed lines is reported).
  void refuse(const char* reason, const std::string& detail) {
    handlers_.services()
        .metrics.counter("ferry_network_refused_requests_total",
                         "Connections closed because of a request that could not be answered.", {{"reason", reason}})
        .inc();
    static std::atomic<int64_t> last_ms{0};
    static std::atomic<int64_t> suppressed{0};
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
    int64_t last = last_ms.load();
    if (now - last < 1000 || !last_ms.compare_exchange_strong(last, now)) {
      suppressed++;
      return;
    }
    spdlog::warn("closing connection from {}: {}: {} ({} similar closes not logged in the last second)", peer_, reason,
                 detail, suppressed.exchange(0));
  }

  void finish() {
    io_.connections.erase(shared_from_this());
    live_--;
    handlers_.services()
        .metrics
        .counter("kafka_server_socketservermetrics_connection_close_total", "Connections closed.",
                 {{"listener", ctx_.identity.listener}})
        .inc();
  }

  // Requests read ahead of their responses; beyond this the reader stops and TCP pushes back.
  static constexpr size_t kMaxInFlight = 32;

  tcp::socket socket_;
  std::shared_ptr<TlsListenerContext> tls_context_;  // kept alive while this connection uses it
  std::unique_ptr<TlsStream> tls_;                         // null on PLAINTEXT and SASL_PLAINTEXT
  std::unique_ptr<SaslAuthenticator> sasl_;                // null on PLAINTEXT and SSL
  IoThread& io_;
  Handlers& handlers_;
  std::atomic<int>& live_;
  RequestContext ctx_;
  std::string peer_;
  std::deque<std::shared_ptr<Slot>> pending_;
  Wakeup writer_wakeup_;
  Wakeup reader_wakeup_;
  bool reading_ = false;
  bool in_frame_ = false;  // between a frame's size and its last byte
  bool writing_ = false;   // a response is being written
  bool reader_done_ = false;
  bool closing_ = false;
  bool tls_ready_ = false;  // handshake done: from now on only the writer sends
  Clock::time_point last_activity_;
};

struct SocketServer::Impl {
  BrokerServices& services;
  Handlers& handlers;
  TlsContexts* tls;  // null when no listener uses TLS
  std::map<std::string, SaslSettings> sasl;  // by listener name, SASL listeners only
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // on threads[0]
  std::map<std::string, uint16_t> ports;
  std::atomic<int> live{0};
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
                                              sasl_settings);
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
