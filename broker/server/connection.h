// One client connection of the broker's network layer (internal to broker/server: SocketServer
// creates them; nothing else includes this header). connection.cc holds the frame reader, the
// request coroutines and the in-order writer; connection_auth.cc the TLS handshake and the SASL
// states (KIP-43 handshake, KIP-152 SaslAuthenticate, KIP-368 re-authentication) with their audit.
#pragma once

#include <atomic>
#include <utility>  // before Boost 1.74's awaitable.hpp, which uses std::exchange without it
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "broker/server/dispatcher.h"
#include "broker/server/request_metrics.h"
#include "broker/server/sasl_authenticator.h"
#include "broker/server/tls.h"
#include "common/wakeup.h"

namespace ferry::broker {

class Connection;

/// One network thread: an io_context run by one thread, and the connections it serves.
struct IoThread {
  boost::asio::io_context ctx{1};
  std::thread thread;
  std::set<std::shared_ptr<Connection>> connections;  // touched only on this io_context's thread
};

/// One client connection. A reader coroutine reads frames and starts one coroutine per request, so
/// an acks=all produce waiting for its fsync does not stop the next request from being read and
/// appended (the next fsync then covers both: group commit). A writer coroutine sends responses
/// strictly in request order, as the Kafka protocol requires. Everything runs on the connection's
/// single-threaded io_context, so requests start — and append — in arrival order.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;

  /// `tls_context` is null on PLAINTEXT and SASL_PLAINTEXT listeners, `sasl` null on PLAINTEXT and
  /// SSL; `live` counts open connections and is decremented when this one finishes;
  /// `request_metrics` receives each request's time split once its response is written.
  Connection(boost::asio::ip::tcp::socket socket, IoThread& io, const Listener& listener, Handlers& handlers,
             std::atomic<int>& live, std::shared_ptr<TlsListenerContext> tls_context, const SaslSettings* sasl,
             RequestMetrics& request_metrics);

  /// Starts the reader and writer coroutines.
  void start();
  /// Closes the socket now if nothing is in flight, else after the last response is written.
  void close_when_idle();
  /// Whether nothing arrived or was sent for longer than `d` while no request was being served,
  /// counting a request frame stalled half way and a response the peer stopped reading (Kafka's
  /// Selector expires a channel by its last read or write, partial ones included).
  bool idle_for(Clock::duration d) const {
    return (idle() || writing_ || (in_frame_ && pending_.empty())) && Clock::now() - last_activity_ > d;
  }
  /// Shuts the socket down both ways and closes it; the coroutines then end.
  void close_socket();
  /// "host:port" of the client, for logs.
  const std::string& peer() const { return peer_; }

 private:
  // A request's place in the response order.
  struct Slot {
    std::optional<protocol::Frame> response;  // nullopt: no response (acks=0)
    bool done = false;
    const char* request = nullptr;  // the API's name once dispatched; null: no times are reported
    RequestTimeline times;
  };
  enum class SaslRoute { exchange, inline_request, refuse, serve };

  bool idle() const { return reading_ && pending_.empty(); }

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> process(protocol::Bytes frame, std::shared_ptr<Slot> slot);
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> read_exact(boost::asio::mutable_buffer b);
  boost::asio::awaitable<size_t> read_some(boost::asio::mutable_buffer b);
  void finish();
  /// Returns once every request read before `slot` has its response made. Metadata-like requests
  /// wait so (answers_with_cluster_state): Kafka serves one request per connection at a time, so
  /// its Metadata answer is made after an acks=all Produce ahead of it returns; computed before
  /// and sent after, it would show a leader that already lost the partition (librdkafka 2.0.2
  /// applied such a stale answer after a fresh one and kept producing to the old leader).
  boost::asio::awaitable<void> wait_for_earlier_requests(const Slot* slot);
  void refuse(const char* reason, const std::string& detail);
  /// Hands `response` (nullopt: none) to the in-order writer: counts its bytes as unsent, marks
  /// the slot done and wakes the writer. The one place a slot completes.
  void complete(Slot& slot, std::optional<protocol::Frame> response);
  /// Writes one response: file slices by sendfile(2) on plaintext, read in under TLS.
  boost::asio::awaitable<void> write_response(const protocol::Frame& frame);

  // connection_auth.cc
  boost::asio::awaitable<bool> tls_handshake();
  SaslRoute sasl_route(const protocol::Bytes& frame);
  boost::asio::awaitable<void> sasl_exchange(const protocol::Bytes& frame);
  void report_authentication(bool ok, const std::string& mechanism, const std::string& user,
                             const std::string& reason);

  // Requests read ahead of their responses; beyond this the reader stops and TCP pushes back.
  static constexpr size_t kMaxInFlight = 32;
  // Bytes of responses made but not yet written at which the reader stops too, so a client that
  // pipelines large Fetches and never reads holds about this plus one response, not 32 responses
  // (Kafka reads one request per connection at a time; this keeps pipelining within a bound).
  static constexpr size_t kMaxUnsentResponseBytes = 64 << 20;

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<TlsListenerContext> tls_context_;  // kept alive while this connection uses it
  std::unique_ptr<TlsStream> tls_;                   // null on PLAINTEXT and SASL_PLAINTEXT
  std::unique_ptr<SaslAuthenticator> sasl_;          // null on PLAINTEXT and SSL
  IoThread& io_;
  Handlers& handlers_;
  std::atomic<int>& live_;
  RequestMetrics& request_metrics_;
  RequestContext ctx_;
  std::string peer_;
  std::deque<std::shared_ptr<Slot>> pending_;
  size_t unsent_response_bytes_ = 0;  // of responses in pending_ and the one being written
  Wakeup writer_wakeup_;
  Wakeup reader_wakeup_;
  // Cancelled whenever a request completes: wakes every wait_for_earlier_requests().
  boost::asio::steady_timer completions_;
  bool completions_armed_ = false;  // its expiry is set and no completion cancelled it since
  bool reading_ = false;
  bool in_frame_ = false;  // between a frame's size and its last byte
  bool writing_ = false;   // a response is being written
  bool reader_done_ = false;
  bool closing_ = false;
  bool tls_ready_ = false;  // handshake done: from now on only the writer sends
  Clock::time_point last_activity_;
};

}  // namespace ferry::broker
