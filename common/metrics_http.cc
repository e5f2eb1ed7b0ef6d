#include "common/metrics_http.h"

#include "common/metrics.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace ferry::metrics {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr int kMaxConnections = 64;
constexpr auto kRequestTimeout = 10s;  // to receive the complete request head
constexpr auto kWriteTimeout = 10s;    // to send the response
constexpr auto kLingerTimeout = 1s;    // to let the client read before we close, see linger()
constexpr size_t kMaxLingerBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;
constexpr int kPostWorkers = 4;

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::error_code to_std(const boost::system::error_code& ec) {
  if (ec.category() == boost::system::system_category())
    return {ec.value(), std::system_category()};
  return ec;
}

[[noreturn]] void throw_system(const boost::system::error_code& ec, const std::string& what) {
  throw std::system_error(to_std(ec), what);
}

// Offset just past the blank line ending the request head, or npos. RFC 9112 §2.2 lets a
// recipient accept a bare LF as line terminator, which hand-typed requests (nc) rely on.
size_t find_head_end(std::string_view buf) {
  for (size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

struct Response {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string_view extra_headers;  // each line CRLF-terminated
};

Response error(int status, std::string_view reason, std::string_view extra = {}) {
  Response r;
  r.status = status;
  r.reason = reason;
  r.body = fmt::format("{} {}\n", status, reason);
  r.extra_headers = extra;
  return r;
}

struct RequestHead {
  std::string_view method;
  std::string_view path;   // without query string
  std::string_view query;  // after '?', may be empty
  size_t content_length = 0;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

std::string_view reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string json_escape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else out += c;
    }
  }
  return out;
}

// Parses the request line and checks the header block's syntax (RFC 9112 §3, §5). Returns an
// error response, or nothing if `out` is filled in.
std::optional<Response> parse_head(std::string_view head, RequestHead& out) {
  // §2.2: ignore at least one empty line before the request line.
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) head.remove_prefix(1);
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return error(400, "Bad Request");

  std::string_view rl = lines[0];
  size_t sp1 = rl.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos)
    return error(400, "Bad Request");
  out.method = rl.substr(0, sp1);
  std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = rl.substr(sp2 + 1);
  // §3.2.2: servers must accept the absolute-form ("http://host:port/metrics") too.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.starts_with(scheme)) {
      target.remove_prefix(scheme.size());
      size_t slash = target.find('/');
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (out.method.empty() || target.empty() || target.front() != '/')
    return error(400, "Bad Request");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/")) return error(505, "HTTP Version Not Supported");
    return error(400, "Bad Request");
  }
  const size_t q = target.find('?');
  out.path = target.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  bool has_host = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view h = lines[i];
    size_t colon = h.find(':');
    // §5.1: no whitespace between field name and colon; §5.2: obsolete line folding rejected.
    if (colon == 0 || colon == std::string_view::npos || h.front() == ' ' || h.front() == '\t' ||
        h[colon - 1] == ' ' || h[colon - 1] == '\t')
      return error(400, "Bad Request");
    std::string_view name = h.substr(0, colon);
    std::string_view value = trim(h.substr(colon + 1));
    if (iequals(name, "host")) has_host = true;
    // §6.1: a server that does not understand a transfer coding answers 501; this one reads
    // bodies by Content-Length only.
    if (iequals(name, "transfer-encoding")) return error(501, "Not Implemented");
    if (iequals(name, "content-length")) {
      // §8.6: one non-negative decimal; differing repeated values are an error.
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) return error(400, "Bad Request");
      if (out.content_length != 0 && out.content_length != n) return error(400, "Bad Request");
      out.content_length = n;
    }
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host must be answered with 400.
  if (version == "HTTP/1.1" && !has_host) return error(400, "Bad Request");
  return std::nullopt;
}

}  // namespace

struct MetricsServer::Impl {
  Impl(Registry& r, std::map<std::string, std::function<std::string()>> routes,
       std::map<std::string, PostHandler> posts)
      : registry(r), json_routes(std::move(routes)), post_routes(std::move(posts)) {}

  Registry& registry;
  std::map<std::string, std::function<std::string()>> json_routes;
  std::map<std::string, PostHandler> post_routes;
  int active = 0;  // connections being served; io thread only. Outlives ctx's coroutine frames.
  // Declared before ctx so it is destroyed after it; the destructor joins it before either goes,
  // so no POST handler still refers to a connection coroutine of ctx.
  asio::thread_pool workers{kPostWorkers};
  asio::io_context ctx{1};
  tcp::acceptor acceptor{ctx};
  uint16_t port = 0;
  std::thread thread;

  Response route(const RequestHead& req) const;
  const PostHandler* find_post(std::string_view path) const;
  static Response run_post(const PostHandler& handler, const std::string& path, const std::string& query,
                           const std::string& body);
  // A coroutine function rather than a capturing lambda: g++ 12 mishandles lambda coroutines'
  // captures, while parameters are copied into the frame.
  static asio::awaitable<Response> post_on_worker(const PostHandler* handler, std::string path, std::string query,
                                                  std::string body) {
    co_return run_post(*handler, path, query, body);
  }
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> sock);
  asio::awaitable<void> respond(std::shared_ptr<tcp::socket> sock, asio::steady_timer& deadline,
                                const Response& resp, bool head_only);
};

namespace {

// (Re)starts the connection's deadline: when it fires the socket is closed, which fails whatever
// read or write the coroutine is suspended in. The handler owns the socket so it is safe even if
// it runs after the coroutine has finished.
void arm(asio::steady_timer& deadline, const std::shared_ptr<tcp::socket>& sock,
         std::chrono::steady_clock::duration after) {
  deadline.expires_after(after);
  deadline.async_wait([sock](boost::system::error_code ec) {
    if (!ec) sock->close(ec);
  });
}

}  // namespace

const PostHandler* MetricsServer::Impl::find_post(std::string_view path) const {
  if (auto it = post_routes.find(std::string(path)); it != post_routes.end()) return &it->second;
  for (const auto& [key, handler] : post_routes) {
    if (!key.ends_with("/*")) continue;
    const std::string_view prefix = std::string_view(key).substr(0, key.size() - 1);  // keeps the '/'
    if (path.size() > prefix.size() && path.starts_with(prefix)) return &handler;
  }
  return nullptr;
}

Response MetricsServer::Impl::run_post(const PostHandler& handler, const std::string& path,
                                       const std::string& query, const std::string& body) {
  Response r;
  r.content_type = "application/json";
  try {
    JsonReply reply = handler(path, query, body);
    r.status = reply.status;
    r.body = std::move(reply.body);
  } catch (const std::exception& e) {
    spdlog::error("http: POST {} failed: {}", path, e.what());
    r.status = 500;
    r.body = fmt::format("{{\"error\": \"{}\"}}", json_escape(e.what()));
  }
  r.reason = reason_of(r.status);
  return r;
}

Response MetricsServer::Impl::route(const RequestHead& req) const {
  bool is_metrics = req.path == "/metrics";
  auto json = json_routes.find(std::string(req.path));
  if (!is_metrics && req.path != "/healthz" && json == json_routes.end()) {
    if (find_post(req.path)) return error(405, "Method Not Allowed", "Allow: POST\r\n");
    return error(404, "Not Found");
  }
  if (req.method != "GET" && req.method != "HEAD")
    return error(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  Response r;
  if (json != json_routes.end()) {
    try {
      r.body = json->second();
    } catch (const std::exception& e) {
      spdlog::error("http: {} failed: {}", req.path, e.what());
      return error(500, "Internal Server Error");
    }
    r.content_type = "application/json";
    return r;
  }
  if (!is_metrics) {
    r.body = "ok\n";
    return r;
  }
  try {
    r.body = registry.serialize();
  } catch (const std::exception& e) {
    spdlog::error("metrics: serializing the registry failed: {}", e.what());
    return error(500, "Internal Server Error");
  }
  r.content_type = kMetricsContentType;
  return r;
}

asio::awaitable<void> MetricsServer::Impl::respond(std::shared_ptr<tcp::socket> sock,
                                                   asio::steady_timer& deadline,
                                                   const Response& resp, bool head_only) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
      resp.status, resp.reason, resp.content_type, resp.body.size(), resp.extra_headers);
  if (!head_only) out += resp.body;
  arm(deadline, sock, kWriteTimeout);
  boost::system::error_code ec;
  co_await asio::async_write(*sock, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  // Lingering close: closing with unread request bytes still queued (an oversized header, a body)
  // makes the kernel send RST, which can destroy our response before the client reads it. So
  // half-close, then discard input until the client closes, for a bounded time and volume.
  sock->shutdown(tcp::socket::shutdown_send, ec);
  arm(deadline, sock, kLingerTimeout);
  char sink[4096];
  for (size_t drained = 0; drained < kMaxLingerBytes;) {
    size_t n = co_await sock->async_read_some(asio::buffer(sink),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    drained += n;
  }
}

asio::awaitable<void> MetricsServer::Impl::serve(std::shared_ptr<tcp::socket> sock) {
  struct Slot {
    int& n;
    ~Slot() { --n; }
  } slot{active};
  asio::steady_timer deadline(ctx);
  arm(deadline, sock, kRequestTimeout);

  std::string buf;
  char chunk[2048];
  size_t head_end = std::string_view::npos;
  boost::system::error_code ec;
  while (head_end == std::string_view::npos) {
    // Never buffer more than one byte past the limit: that byte is what proves it was exceeded.
    size_t room = std::min(sizeof chunk, kMaxHeaderBytes + 1 - buf.size());
    size_t n = co_await sock->async_read_some(asio::buffer(chunk, room),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // client went away, or the deadline closed the socket
    buf.append(chunk, n);
    head_end = find_head_end(buf);
    if (head_end == std::string_view::npos && buf.size() > kMaxHeaderBytes) {
      co_await respond(sock, deadline, error(431, "Request Header Fields Too Large"), false);
      co_return;
    }
  }
  if (head_end > kMaxHeaderBytes) {
    co_await respond(sock, deadline, error(431, "Request Header Fields Too Large"), false);
    co_return;
  }
  RequestHead req;
  std::optional<Response> bad = parse_head(std::string_view(buf).substr(0, head_end), req);
  if (bad) {
    co_await respond(sock, deadline, *bad, false);
    co_return;
  }
  const PostHandler* post = req.method == "POST" ? find_post(req.path) : nullptr;
  if (!post) {
    co_await respond(sock, deadline, route(req), req.method == "HEAD");
    co_return;
  }
  if (req.content_length > kMaxBodyBytes) {
    co_await respond(sock, deadline, error(413, "Content Too Large"), false);
    co_return;
  }
  std::string body = buf.substr(head_end);
  while (body.size() < req.content_length) {
    size_t n = co_await sock->async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // client went away, or the request deadline closed the socket
    body.append(chunk, n);
  }
  body.resize(req.content_length);
  // The handler may legitimately take longer than the request deadline (a drain), so the
  // deadline stops here and respond() arms the write deadline afresh.
  deadline.cancel();
  const std::string path(req.path), query(req.query);
  Response resp = co_await asio::co_spawn(workers, post_on_worker(post, path, query, std::move(body)), asio::use_awaitable);
  co_await respond(sock, deadline, resp, false);
}

asio::awaitable<void> MetricsServer::Impl::accept_loop() {
  asio::steady_timer backoff(ctx);
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: retrying at once would spin at 100% CPU until an fd frees up.
      spdlog::warn("metrics: accept failed: {}", ec.message());
      backoff.expires_after(100ms);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (active >= kMaxConnections) continue;  // `s` closes as it goes out of scope
    ++active;
    asio::co_spawn(ctx, serve(std::make_shared<tcp::socket>(std::move(s))),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("metrics: connection handler failed: {}", ex.what());
                     }
                   });
  }
}

MetricsServer::MetricsServer(Registry& registry, const std::string& host, uint16_t port,
                             std::map<std::string, std::function<std::string()>> json_routes,
                             std::map<std::string, PostHandler> post_routes)
    : impl_(std::make_unique<Impl>(registry, std::move(json_routes), std::move(post_routes))) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";

  std::vector<tcp::endpoint> candidates;
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(h, ec);
  if (!ec) {
    candidates.emplace_back(addr, port);
  } else {
    tcp::resolver resolver(impl_->ctx);
    auto results = resolver.resolve(h, std::to_string(port), tcp::resolver::passive, ec);
    if (ec) throw_system(ec, "metrics server: cannot resolve '" + host + "'");
    for (const auto& r : results) candidates.push_back(r.endpoint());
    if (candidates.empty()) ec = asio::error::host_not_found;
  }

  // A name such as "localhost" may resolve to ::1 on a host without IPv6; take the first
  // address that binds.
  for (const auto& ep : candidates) {
    impl_->acceptor.close(ec);
    impl_->acceptor.open(ep.protocol(), ec);
    if (ec) continue;
    // Lets a restarted broker rebind while old scrape connections sit in TIME_WAIT.
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    impl_->acceptor.bind(ep, ec);
    if (ec) continue;
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) break;
  }
  if (ec || !impl_->acceptor.is_open())
    throw_system(ec, fmt::format("metrics server: cannot listen on {}:{}", host, port));
  impl_->port = impl_->acceptor.local_endpoint().port();

  asio::co_spawn(impl_->ctx, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] {
    try {
      impl->ctx.run();
    } catch (const std::exception& e) {
      spdlog::error("metrics: server thread stopped: {}", e.what());
    }
  });
  spdlog::info("metrics: serving /metrics and /healthz on {}:{}", h, impl_->port);
}

MetricsServer::~MetricsServer() {
  impl_->ctx.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->workers.join();
  // Members then go in reverse order: the acceptor closes, and destroying the io_context
  // destroys every suspended connection coroutine, closing its socket.
}

uint16_t MetricsServer::port() const { return impl_->port; }

}  // namespace ferry::metrics
