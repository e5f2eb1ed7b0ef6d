// The connection's frame reader, request coroutines and in-order response writer (see connection.h).
#include "broker/server/connection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "broker/server/frame_writer.h"
#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Frames are read in chunks that grow with what actually arrived, so a lying size prefix costs at
// most about twice the bytes the peer really sent, never the size it claimed.
constexpr size_t kFirstChunk = 64 * 1024;

/// Whether the request's answer describes the cluster's current state (Metadata 3, FindCoordinator
/// 10, DescribeCluster 60), read from the api_key that starts every request header.
bool answers_with_cluster_state(const protocol::Bytes& frame) {
  if (frame.size() < 2) return false;
  const int16_t key = static_cast<int16_t>((uint16_t(frame[0]) << 8) | uint16_t(frame[1]));
  return key == protocol::MetadataRequest::api_key || key == protocol::FindCoordinatorRequest::api_key ||
         key == protocol::DescribeClusterRequest::api_key;
}
}  // namespace

Connection::Connection(tcp::socket socket, IoThread& io, const Listener& listener, Handlers& handlers,
           std::atomic<int>& live, std::shared_ptr<TlsListenerContext> tls_context, const SaslSettings* sasl,
           RequestMetrics& request_metrics)
    : socket_(std::move(socket)),
      tls_context_(std::move(tls_context)),
      io_(io),
      handlers_(handlers),
      live_(live),
      request_metrics_(request_metrics),
      writer_wakeup_(io.ctx),
      reader_wakeup_(io.ctx),
      completions_(io.ctx) {
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
    tls_->on_output([this] { writer_wakeup_.wake(); });
  }
  if (sasl != nullptr)
    sasl_ = std::make_unique<SaslAuthenticator>(*sasl, handlers.services().metadata, peer_,
                                                fmt::format("{}:{}", ctx_.local_address, listener.port));
  last_activity_ = Clock::now();
}

void Connection::start() {
  asio::co_spawn(io_.ctx, read_loop(), asio::detached);
  asio::co_spawn(io_.ctx, write_loop(), asio::detached);
}

void Connection::close_when_idle() {
  closing_ = true;
  if (idle()) close_socket();
  writer_wakeup_.wake();
}

void Connection::close_socket() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

asio::awaitable<void> Connection::read_loop() {
  auto self = shared_from_this();
  auto& services = handlers_.services();
  const int64_t max_request = services.config.values.get_int("socket.request.max.bytes");
  try {
    if (tls_ && !co_await tls_handshake()) {
      close_socket();
      closing_ = true;
    }
    while (!closing_ && !services.stopping) {
      while ((pending_.size() >= kMaxInFlight || unsent_response_bytes_ >= kMaxUnsentResponseBytes) &&
             socket_.is_open())
        co_await reader_wakeup_.sleep();
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
            slot->times.received = Clock::now();
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
      slot->times.received = Clock::now();
      pending_.push_back(slot);
      asio::co_spawn(io_.ctx, process(std::move(frame), slot), asio::detached);
    }
  } catch (const boost::system::system_error&) {
    // The peer went away, or the socket was closed for idleness, bad input or shutdown.
  }
  reading_ = false;
  reader_done_ = true;
  writer_wakeup_.wake();
}

asio::awaitable<void> Connection::process(protocol::Bytes frame, std::shared_ptr<Slot> slot) {
  auto self = shared_from_this();
  RequestContext ctx = ctx_;  // per request: dispatch fills in the header
  std::optional<protocol::Frame> response;
  if (answers_with_cluster_state(frame)) co_await wait_for_earlier_requests(slot.get());
  slot->times.started = Clock::now();
  try {
    response = co_await dispatch(frame, ctx, handlers_);
    slot->request = ctx.api;
    slot->times.remote = ctx.remote_time;
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
  complete(*slot, std::move(response));
}

void Connection::complete(Slot& slot, std::optional<protocol::Frame> response) {
  slot.times.handled = Clock::now();
  slot.response = std::move(response);
  if (slot.response) unsent_response_bytes_ += slot.response->size();
  slot.done = true;
  writer_wakeup_.wake();
  completions_.cancel();
  completions_armed_ = false;
}

asio::awaitable<void> Connection::wait_for_earlier_requests(const Slot* slot) {
  auto self = shared_from_this();
  for (;;) {
    bool earlier_open = false;
    for (const auto& s : pending_) {
      if (s.get() == slot) break;
      if (!s->done) {
        earlier_open = true;
        break;
      }
    }
    if (!earlier_open || !socket_.is_open()) co_return;
    // Checked and armed in one step of this single-threaded io_context: no completion slips in
    // between. Every completion cancels the waits; the loop checks again. Only a disarmed timer
    // is armed: setting the expiry cancels the waits already pending, so two waiters re-arming
    // it in turn would wake each other for ever.
    if (!completions_armed_) {
      completions_.expires_at(asio::steady_timer::time_point::max());
      completions_armed_ = true;
    }
    boost::system::error_code ec;
    co_await completions_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  try {
    for (;;) {
      while (!pending_.empty() && pending_.front()->done) {
        auto slot = std::move(pending_.front());
        pending_.pop_front();
        reader_wakeup_.wake();
        if (slot->response) {
          slot->times.send_started = Clock::now();
          if (socket_.is_open()) co_await write_response(*slot->response);
          slot->times.sent = Clock::now();
          unsent_response_bytes_ -= slot->response->size();
          reader_wakeup_.wake();
        } else {
          slot->times.send_started = slot->times.sent = slot->times.handled;  // nothing to send (acks=0)
        }
        if (slot->request) request_metrics_.observe(slot->request, slot->times);
        last_activity_ = Clock::now();
      }
      // Over TLS the responses ready together leave in one socket write.
      if (tls_ready_ && tls_->pending_output() > 0 && socket_.is_open()) {
        writing_ = true;  // a peer that stops reading is idle (see write_response)
        co_await tls_->flush();
        writing_ = false;
        last_activity_ = Clock::now();
      }
      if (pending_.empty() && (reader_done_ || closing_)) break;
      co_await writer_wakeup_.sleep();
    }
  } catch (const boost::system::system_error&) {
    // Peer gone; requests still in flight finish and are dropped.
  }
  close_socket();
  while (!pending_.empty() || !reader_done_) {
    // Wait for in-flight handlers and the reader so nothing touches a finished connection.
    while (!pending_.empty() && pending_.front()->done) pending_.pop_front();
    if (pending_.empty() && reader_done_) break;
    reader_wakeup_.wake();
    co_await writer_wakeup_.sleep();
  }
  finish();
}

// The connection's byte stream: TLS on SSL and SASL_SSL listeners, the socket itself otherwise.
asio::awaitable<void> Connection::read_exact(asio::mutable_buffer b) {
  if (!tls_) {
    co_await asio::async_read(socket_, b, asio::use_awaitable);
    co_return;
  }
  for (size_t got = 0; got < b.size();) got += co_await tls_->read_some(b + got);
}
asio::awaitable<size_t> Connection::read_some(asio::mutable_buffer b) {
  if (tls_) co_return co_await tls_->read_some(b);
  co_return co_await socket_.async_read_some(b, asio::use_awaitable);
}
// A peer that stops reading leaves writing_ set and last_activity_ still, so
// connections.max.idle.ms closes it (Kafka's Selector counts writes the same way). A file slice
// that cannot be read whole (EIO) breaks the size the frame promised: the connection is closed
// and the reason logged; a socket error is the peer's and closes it quietly.
asio::awaitable<void> Connection::write_response(const protocol::Frame& frame) {
  writing_ = true;
  try {
    if (!tls_) {
      co_await write_frame(socket_, frame, [this] { last_activity_ = Clock::now(); });
    } else if (frame.splices.empty()) {
      // The tail of the response may wait in the TlsStream for write_loop's flush.
      co_await tls_->write(asio::buffer(frame.bytes));
    } else {
      // TLS encrypts in user space, so the file bytes are read in (Kafka has no zero copy over SSL either).
      protocol::Bytes whole;
      try {
        whole = frame.materialize();
      } catch (const std::system_error& e) {
        throw boost::system::system_error(EIO, boost::system::system_category(), e.what());
      }
      co_await tls_->write(asio::buffer(whole));
    }
  } catch (const boost::system::system_error& e) {
    if (e.code().value() == EIO)
      spdlog::error("closing the connection from {} in the middle of a response: {}", peer_, e.what());
    throw;
  }
  writing_ = false;
}

/// Counts a connection closed for bad input and logs it, at most once a second per process so a
/// flood of garbage cannot flood the log (the count of suppressed lines is reported).
void Connection::refuse(const char* reason, const std::string& detail) {
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

void Connection::finish() {
  io_.connections.erase(shared_from_this());
  live_--;
  handlers_.services()
      .metrics
      .counter("kafka_server_socketservermetrics_connection_close_total", "Connections closed.",
               {{"listener", ctx_.identity.listener}})
      .inc();
}

}  // namespace ferry::broker
