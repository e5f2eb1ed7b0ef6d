// Minimal HTTP/1.1 endpoint that Prometheus scrapes: GET /metrics and GET /healthz.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace ferry::metrics {

class Registry;

/// Serves a Registry over HTTP/1.1 (RFC 9112) on its own thread, using Boost.Asio C++20
/// coroutines:
///   GET|HEAD /metrics -> 200, Content-Type "text/plain; version=0.0.4; charset=utf-8" (the
///                        content type the exposition format spec names), body
///                        Registry::serialize()
///   GET|HEAD /healthz -> 200, "ok\n" (text/plain)
///   GET|HEAD <path> of `json_routes` -> 200, application/json, the route's function's result
///                        (e.g. a daemon's /status); a throwing function gives 500
///   other paths       -> 404; other methods on those two paths -> 405 with "Allow: GET, HEAD"
///   malformed request -> 400; request line + headers over 8 KiB -> 431
/// A query string ("/metrics?x=y") is ignored. Every response carries "Connection: close" and the
/// connection is closed after it; a connection that has not sent its headers within 10 seconds is
/// dropped, and at most 64 connections are served at once (more are closed on accept) so a slow
/// or hostile client cannot pin the scrape endpoint.
class MetricsServer {
 public:
  /// Binds `host`:`port` and starts serving. `host` is an IPv4/IPv6 literal (brackets allowed,
  /// e.g. "[::1]"), a resolvable name such as "localhost", or "" for every IPv4 interface.
  /// `port` 0 picks a free port; see port(). Throws std::system_error if the host does not resolve
  /// or the socket cannot be bound or listened on (e.g. EADDRINUSE). `registry` must outlive the
  /// server.
  MetricsServer(Registry& registry, const std::string& host, uint16_t port,
                std::map<std::string, std::function<std::string()>> json_routes = {});
  /// Stops accepting, abandons in-flight requests and joins the serving thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The port actually bound (useful when constructed with port 0).
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::metrics
