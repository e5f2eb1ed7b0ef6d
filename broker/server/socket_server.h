// The broker's network layer: one acceptor per listener, `num.network.threads` Asio io_contexts
// each run by one thread, and one coroutine per connection that reads size-prefixed frames and
// answers them in order (Kafka processes one request per connection at a time, so pipelined
// requests are answered in the order they were sent).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/server/handlers.h"

namespace ferry::broker {

class TlsContexts;

class SocketServer {
 public:
  /// `tls` holds the contexts of SSL and SASL_SSL listeners (null when there are none); it must
  /// outlive the server.
  SocketServer(BrokerServices& services, Handlers& handlers, TlsContexts* tls);
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  /// Binds every listener and starts the network threads. Throws std::system_error naming the
  /// listener when a bind fails (e.g. the port is taken).
  void start();
  /// Graceful stop: stop accepting, close idle connections, let requests in flight finish and send
  /// their responses (up to `grace`), then stop the threads. Idempotent.
  void stop(std::chrono::milliseconds grace);
  /// The bound port of a listener (a configured port 0 picks a free one). 0 if unknown.
  uint16_t port(const std::string& listener_name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::broker
