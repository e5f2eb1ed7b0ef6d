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
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace ferry::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr int kMaxConnections = 64;
constexpr auto kRequestTimeout = 10s;  // to receive the complete request (head and body)
constexpr auto kWriteTimeout = 10s;    // to send the response
constexpr auto kLingerTimeout = 1s;    // to let the client read before we close, see respond()
constexpr size_t kMaxLingerBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;
constexpr int kPostWorkers = 4;

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::error_code to_std(const boost::system::error_code& ec) {
  if (ec.category() == boost::system::system_category())
    return {ec.value(), std::system_category()};
  return ec;
}

[[noreturn]] void throw_system(const boost::system::error_code& ec, const std::string& what) {
  throw std::system_error(to_std(ec), what);
}

Response reply(unsigned status, std::string_view content_type, std::string body) {
  Response r;
  r.result(status);
  // RFC 9110 §15.5.14 names 413 "Content Too Large"; Beast 1.74 still has RFC 7231's name.
  if (status == 413) r.reason("Content Too Large");
  else if (http::int_to_status(status) == http::status::unknown) r.reason("Error");
  r.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  r.body() = std::move(body);
  return r;
}

Response error(unsigned status, beast::string_view allow = {}) {
  Response r = reply(status, kTextContentType, "");
  r.body() = fmt::format("{} {}\n", status, sv(r.reason()));
  if (!allow.empty()) r.set(http::field::allow, allow);
  return r;
}

// Answers a failed read, or nothing when the client is gone (closed, reset, timed out).
std::optional<Response> read_failure(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return error(431);
  if (ec == http::error::body_limit) return error(413);
  if (ec == http::error::end_of_stream || ec.category() != http::make_error_code(http::error::need_more).category())
    return std::nullopt;
  return error(400);  // Beast's parser rejected the syntax; includes a request cut short by EOF
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

// What RFC 9112 asks of a server beyond the syntax Beast's parser checks. Fills in the path
// (origin-form, without the query) and query on success.
std::optional<Response> check_head(const Request& req, std::string_view& path, std::string_view& query) {
  if (req.version() != 10 && req.version() != 11) return error(505);
  if (req.version() == 11 && req.count(http::field::host) == 0) return error(400);  // §3.2
  // §6.1: a transfer coding the server does not understand gets 501. Beast decodes "chunked"
  // and rejects a duplicate after it; a coding before or instead of it stays encoded.
  if (auto te = req[http::field::transfer_encoding]; !te.empty() && !beast::iequals(te, "chunked"))
    return error(501);
  std::string_view target = sv(req.target());
  // §3.2.2: servers must accept the absolute-form ("http://host:port/metrics") too.
  if (size_t scheme = target.find("://"); !target.starts_with('/') && scheme != std::string_view::npos) {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (!target.starts_with('/')) return error(400);
  const size_t q = target.find('?');
  path = target.substr(0, q);
  query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
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

  Response route(http::verb method, std::string_view path) const;
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
  asio::awaitable<void> serve(tcp::socket sock);
  static asio::awaitable<void> respond(beast::tcp_stream& stream, Response resp, bool head_only);
};

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
  JsonReply out;
  try {
    out = handler(path, query, body);
    // An HTTP status code has three digits (RFC 9110 §15).
    if (out.status < 100 || out.status > 999)
      throw std::runtime_error(fmt::format("handler answered HTTP status {}", out.status));
  } catch (const std::exception& e) {
    spdlog::error("http: POST {} failed: {}", path, e.what());
    out = {500, fmt::format("{{\"error\": \"{}\"}}", json_escape(e.what()))};
  }
  return reply(static_cast<unsigned>(out.status), "application/json", std::move(out.body));
}

Response MetricsServer::Impl::route(http::verb method, std::string_view path) const {
  bool is_metrics = path == "/metrics";
  auto json = json_routes.find(std::string(path));
  if (!is_metrics && path != "/healthz" && json == json_routes.end())
    return find_post(path) ? error(405, "POST") : error(404);
  if (method != http::verb::get && method != http::verb::head) return error(405, "GET, HEAD");
  try {
    if (json != json_routes.end()) return reply(200, "application/json", json->second());
    if (!is_metrics) return reply(200, kTextContentType, "ok\n");
    return reply(200, kMetricsContentType, registry.serialize());
  } catch (const std::exception& e) {
    spdlog::error("http: GET {} failed: {}", path, e.what());
    return error(500);
  }
}

asio::awaitable<void> MetricsServer::Impl::respond(beast::tcp_stream& stream, Response resp, bool head_only) {
  resp.version(11);
  resp.keep_alive(false);  // "Connection: close"
  resp.prepare_payload();  // Content-Length, which a HEAD answer keeps while dropping the body
  if (head_only) resp.body().clear();
  boost::system::error_code ec;
  stream.expires_after(kWriteTimeout);
  co_await http::async_write(stream, resp, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  // Lingering close: closing with unread request bytes still queued (an oversized header, a body)
  // makes the kernel send RST, which can destroy our response before the client reads it. So
  // half-close, then discard input until the client closes, for a bounded time and volume.
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTimeout);
  char sink[4096];
  for (size_t drained = 0; drained < kMaxLingerBytes;) {
    size_t n = co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    drained += n;
  }
}

// g++ 12 reports asio's awaitable frame (unsized operator new, sized operator delete) as
// mismatched once it inlines them into this coroutine: a false positive, GCC PR 109224.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<void> MetricsServer::Impl::serve(tcp::socket sock) {
  struct Slot {
    int& n;
    ~Slot() { --n; }
  } slot{active};
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buf;
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxBodyBytes);  // a larger Content-Length fails as soon as the head is read
  boost::system::error_code ec;
  // One deadline for head and body; when it passes Beast closes the socket (error::timeout).
  stream.expires_after(kRequestTimeout);
  co_await http::async_read_header(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
  std::string_view path, query;
  std::optional<Response> bad = ec ? read_failure(ec) : check_head(parser.get(), path, query);
  if (ec || bad) {
    if (bad) co_await respond(stream, std::move(*bad), false);
    co_return;
  }
  const http::verb method = parser.get().method();
  const PostHandler* post = method == http::verb::post ? find_post(path) : nullptr;
  if (!post) {
    co_await respond(stream, route(method, path), method == http::verb::head);
    co_return;
  }
  const std::string path_copy(path), query_copy(query);  // the views point into the parser's head
  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" (curl streaming with -T) waits
  // for this interim answer, or a second, before sending the body.
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> go_on{http::status::continue_, 11};
    co_await http::async_write(stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
  co_await http::async_read(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (bad = read_failure(ec); bad) co_await respond(stream, std::move(*bad), false);
    co_return;
  }
  // The handler may legitimately take longer than the request deadline (a drain), so the
  // deadline stops here and respond() arms the write deadline afresh.
  stream.expires_never();
  Response resp = co_await asio::co_spawn(
      workers, post_on_worker(post, path_copy, query_copy, std::move(parser.get().body())), asio::use_awaitable);
  co_await respond(stream, std::move(resp), false);
}
#pragma GCC diagnostic pop

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
    asio::co_spawn(ctx, serve(std::move(s)), [](std::exception_ptr e) {
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
