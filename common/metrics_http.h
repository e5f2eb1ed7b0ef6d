// Minimal HTTP/1.1 endpoint that Prometheus scrapes (GET /metrics, GET /healthz), plus a daemon's
// own JSON routes: read-only GET routes such as /status and POST control routes (ferry-mirror's
// pause/resume/checkpoint).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace ferry::metrics {

class Registry;

/// What a POST route answers: an HTTP status code (200, 404, 500, 504, ...) and a JSON body sent
/// with Content-Type application/json. The reason phrase is Boost.Beast's for the code (RFC 9110
/// §15; 413 as "Content Too Large"), "Error" for a code Beast does not know; a status outside
/// 100..999 is answered 500 {"error": ...} instead.
struct JsonReply {
  int status = 200;
  std::string body;
};

/// A POST route: (path, query string without the '?', request body) -> reply. It runs on one of
/// the server's worker threads, never on the thread serving other requests, so it may block (a
/// drain of several seconds) while GET /metrics and /status keep answering. A throwing handler
/// gives 500 {"error": what()}.
using PostHandler =
    std::function<JsonReply(const std::string& path, const std::string& query, const std::string& body)>;

/// Serves a Registry over HTTP/1.1 (RFC 9112) on its own thread: Boost.Beast parses requests and
/// writes responses, on Boost.Asio C++20 coroutines:
///   GET|HEAD /metrics -> 200, Content-Type "text/plain; version=0.0.4; charset=utf-8" (the
///                        content type the exposition format spec names), body
///                        Registry::serialize()
///   GET|HEAD /healthz -> 200, "ok\n" (text/plain)
///   GET|HEAD <path> of `json_routes` -> 200, application/json, the route's function's result
///                        (e.g. a daemon's /status); a throwing function gives 500
///   POST <path> of `post_routes` -> the handler's JsonReply. A route key ending in "/*" (e.g.
///                        "/flows/*") matches every path under that prefix; other keys match
///                        exactly. The body is read by Content-Length or as chunked transfer
///                        coding (RFC 9112 §6.3, §7.1; neither means empty), at most 64 KiB after
///                        decoding (413 above); any other transfer coding is refused (501).
///                        "Expect: 100-continue" is answered "100 Continue" before the body.
///   other paths       -> 404; a method a path does not serve -> 405 with "Allow: GET, HEAD" on
///                        GET paths, "Allow: POST" on POST paths
///   malformed request -> 400. Lines must end in CRLF: a head with bare-LF line ends never
///                        completes, so it gets 400 when the client shuts down its side (nc -N)
///                        and is dropped by the 10 s deadline otherwise. An HTTP version other
///                        than 1.0/1.1 -> 505; request line + headers over 8 KiB -> 431; any
///                        request whose Content-Length exceeds 64 KiB -> 413
/// GET routes ignore a query string ("/metrics?x=y"). Every response carries "Connection: close"
/// and the connection is closed after it; a connection that has not sent its request (head and
/// body) within 10 seconds is dropped, and at most 64 connections are served at once (more are
/// closed on accept) so a slow or hostile client cannot pin the scrape endpoint.
class MetricsServer {
 public:
  /// Binds `host`:`port` and starts serving. `host` is an IPv4/IPv6 literal (brackets allowed,
  /// e.g. "[::1]"), a resolvable name such as "localhost", or "" for every IPv4 interface.
  /// `port` 0 picks a free port; see port(). Throws std::system_error if the host does not resolve
  /// or the socket cannot be bound or listened on (e.g. EADDRINUSE). `registry` must outlive the
  /// server.
  /// `post_routes` run on a pool of 4 worker threads: at most 4 POSTs execute at once, more wait.
  MetricsServer(Registry& registry, const std::string& host, uint16_t port,
                std::map<std::string, std::function<std::string()>> json_routes = {},
                std::map<std::string, PostHandler> post_routes = {});
  /// Stops accepting, abandons in-flight requests and joins the serving thread; waits for POST
  /// handlers already running to return (their replies are not sent).
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
