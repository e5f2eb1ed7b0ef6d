#include "common/metrics.h"
#include "common/metrics_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <future>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace ferry::metrics {
namespace {

// Asserts that `fn` throws std::invalid_argument whose message names `culprit`.
template <typename Fn>
void expect_rejects(Fn fn, const std::string& culprit) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument naming '" << culprit << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(culprit), std::string::npos) << e.what();
  }
}

TEST(MetricsFormat, CounterWithEscapedHelpAndLabels) {
  Registry r;
  Counter& c = r.counter("ferry_bytes_in_total", "Bytes \"in\" \\ per\ntopic",
                         {{"topic", "a\"b\\c\nd"}, {"client", "x"}});
  c.inc(3);
  c.inc(0.5);
  c.inc(-10);  // a counter never decreases
  c.inc(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(c.value(), 3.5);
  EXPECT_EQ(r.serialize(),
            "# HELP ferry_bytes_in_total Bytes \"in\" \\\\ per\\ntopic\n"
            "# TYPE ferry_bytes_in_total counter\n"
            "ferry_bytes_in_total{topic=\"a\\\"b\\\\c\\nd\",client=\"x\"} 3.5\n");
}

TEST(MetricsFormat, GaugeValuesIncludingSpecialFloats) {
  Registry r;
  r.gauge("g", "plain").set(42);
  Gauge& moving = r.gauge("g", "plain", {{"k", "moving"}});
  moving.inc(5);
  moving.dec(7.25);
  r.gauge("g", "plain", {{"k", "nan"}}).set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("g", "plain", {{"k", "pinf"}}).set(std::numeric_limits<double>::infinity());
  r.gauge("g", "plain", {{"k", "ninf"}}).set(-std::numeric_limits<double>::infinity());
  r.gauge("g", "plain", {{"k", "tiny"}}).set(1e-7);
  r.gauge("no_help", "").set(1);
  EXPECT_EQ(r.serialize(),
            "# HELP g plain\n"
            "# TYPE g gauge\n"
            "g 42\n"
            "g{k=\"moving\"} -2.25\n"
            "g{k=\"nan\"} Nan\n"  // prometheus-cpp's spelling; Prometheus parses it
            "g{k=\"ninf\"} -Inf\n"
            "g{k=\"pinf\"} +Inf\n"
            "g{k=\"tiny\"} 1e-07\n"
            "# TYPE no_help gauge\n"
            "no_help 1\n");
}

TEST(MetricsFormat, HistogramCumulativeBuckets) {
  Registry r;
  Histogram& h = r.histogram("lat_ms", "Latency", {1, 2.5, 5}, {{"api", "produce"}, {"b", "1"}});
  for (double v : {0.5, 1.0, 3.0, 100.0}) h.observe(v);  // 1.0 lands in le="1": bounds inclusive
  h.observe(std::numeric_limits<double>::quiet_NaN());   // ignored
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(r.serialize(),
            "# HELP lat_ms Latency\n"
            "# TYPE lat_ms histogram\n"
            // prometheus-cpp writes _count and _sum before the buckets
            "lat_ms_count{api=\"produce\",b=\"1\"} 4\n"
            "lat_ms_sum{api=\"produce\",b=\"1\"} 104.5\n"
            "lat_ms_bucket{api=\"produce\",b=\"1\",le=\"1\"} 2\n"
            "lat_ms_bucket{api=\"produce\",b=\"1\",le=\"2.5\"} 2\n"
            "lat_ms_bucket{api=\"produce\",b=\"1\",le=\"5\"} 3\n"
            "lat_ms_bucket{api=\"produce\",b=\"1\",le=\"+Inf\"} 4\n"
            );
}

TEST(MetricsFormat, UnlabelledHistogramAndTrailingInfBound) {
  Registry r;
  r.histogram("h", "x", {0.25, std::numeric_limits<double>::infinity()}).observe(0.1);
  EXPECT_EQ(r.serialize(),
            "# HELP h x\n# TYPE h histogram\n"
            "h_count 1\nh_sum 0.1\nh_bucket{le=\"0.25\"} 1\nh_bucket{le=\"+Inf\"} 1\n");
}

// The Registry is a prometheus::Collectable: prometheus-cpp's own code (a prometheus::Registry's
// Collect, an Exposer) sees every series, callback gauges evaluated at collection time.
TEST(MetricsCollectable, CollectGivesPrometheusCppEveryFamily) {
  Registry r;
  r.counter("requests_total", "Requests.", {{"api", "Fetch"}}).inc(3);
  double leo = 10;
  r.gauge_callback("log_end_offset", "LEO.", {{"partition", "0"}}, [&] { return leo; });
  const prometheus::Collectable& c = r;
  leo = 42;
  std::vector<prometheus::MetricFamily> fams = c.Collect();
  ASSERT_EQ(fams.size(), 2u);
  EXPECT_EQ(fams[0].name, "log_end_offset");
  EXPECT_EQ(fams[0].type, prometheus::MetricType::Gauge);
  ASSERT_EQ(fams[0].metric.size(), 1u);
  EXPECT_EQ(fams[0].metric[0].gauge.value, 42);
  EXPECT_EQ(fams[0].metric[0].label.at(0).name, "partition");
  EXPECT_EQ(fams[1].name, "requests_total");
  EXPECT_EQ(fams[1].metric[0].counter.value, 3);
}

TEST(MetricsFormat, InvalidUtf8InLabelValueIsReplaced) {
  Registry r;
  r.gauge("g", "", {{"client", std::string("ok\xc3\xa9-\xff", 6)}}).set(1);
  EXPECT_EQ(r.serialize(), "# TYPE g gauge\ng{client=\"ok\xc3\xa9-\xef\xbf\xbd\"} 1\n");
}

TEST(MetricsRegistry, SameSeriesReturnsSameObject) {
  Registry r;
  Counter& a = r.counter("c", "h", {{"x", "1"}, {"y", "2"}});
  EXPECT_EQ(&a, &r.counter("c", "h", {{"x", "1"}, {"y", "2"}}));
  EXPECT_EQ(&a, &r.counter("c", "h", {{"y", "2"}, {"x", "1"}}));  // identity ignores order
  EXPECT_NE(&a, &r.counter("c", "h", {{"x", "1"}, {"y", "3"}}));
  EXPECT_NE(&a, &r.counter("c", "h"));
  Histogram& h = r.histogram("h", "h", {1, 2});
  EXPECT_EQ(&h, &r.histogram("h", "h", {1, 2}));
  EXPECT_EQ(&r.gauge("g", "h"), &r.gauge("g", "h"));
}

TEST(MetricsRegistry, InvalidNamesRejected) {
  Registry r;
  expect_rejects([&] { r.counter("1starts_with_digit", "h"); }, "1starts_with_digit");
  expect_rejects([&] { r.counter("has-dash", "h"); }, "has-dash");
  expect_rejects([&] { r.gauge("", "h"); }, "''");
  expect_rejects([&] { r.counter("ok", "h", {{"bad:label", "v"}}); }, "bad:label");
  expect_rejects([&] { r.counter("ok", "h", {{"__reserved", "v"}}); }, "__reserved");
  expect_rejects([&] { r.counter("ok", "h", {{"dup", "1"}, {"dup", "2"}}); }, "dup");
  expect_rejects([&] { r.histogram("hist", "h", {1}, {{"le", "1"}}); }, "le");
  expect_rejects([&] { r.histogram("hist", "h", {2, 1}); }, "increasing");
  expect_rejects([&] { r.histogram("hist", "h", {std::nan("")}); }, "NaN");
  // Colons are legal in metric names, digits after the first character in both.
  EXPECT_NO_THROW(r.counter("ns:sub_total2", "h", {{"l2", "v"}}));
  // Failed calls must not leave half-created families behind.
  EXPECT_EQ(r.serialize().find("hist"), std::string::npos);
}

TEST(MetricsRegistry, ConflictingReRegistrationRejected) {
  Registry r;
  r.counter("m", "help");
  expect_rejects([&] { r.gauge("m", "help"); }, "counter");
  expect_rejects([&] { r.histogram("m", "help", {1}); }, "m");
  expect_rejects([&] { r.counter("m", "other help"); }, "m");
  r.histogram("lat", "h", {1, 2});
  expect_rejects([&] { r.histogram("lat", "h", {1, 3}, {{"a", "b"}}); }, "lat");
  expect_rejects([&] { r.counter("lat_count", "h"); }, "lat_count");
  r.gauge("q_sum", "h");
  expect_rejects([&] { r.histogram("q", "h", {1}); }, "q_sum");
  r.gauge_callback("cb", "h", {}, [] { return 1.0; });
  expect_rejects([&] { r.gauge("cb", "h"); }, "cb");
  r.gauge("plain", "h");
  expect_rejects([&] { r.gauge_callback("plain", "h", {}, [] { return 1.0; }); }, "plain");
}

TEST(MetricsRegistry, ConcurrentUpdatesSumExactly) {
  Registry r;
  constexpr int kThreads = 4, kPerThread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r] {
      // Each thread registers for itself, so creation races with updates too.
      Counter& c = r.counter("ops_total", "h", {{"kind", "shared"}});
      Histogram& h = r.histogram("sizes", "h", {10, 100});
      Gauge& g = r.gauge("inflight", "h");
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        h.observe(i % 2 == 0 ? 5 : 50);
        g.inc(2);
        g.dec();
        if (i % 1000 == 0) (void)r.serialize();  // scrapes interleave with updates
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(r.counter("ops_total", "h", {{"kind", "shared"}}).value(), kThreads * kPerThread);
  Histogram& h = r.histogram("sizes", "h", {10, 100});
  EXPECT_EQ(h.count(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(h.cumulative_counts()[0], static_cast<uint64_t>(kThreads * kPerThread / 2));
  EXPECT_EQ(h.sum(), kThreads * kPerThread / 2 * 55.0);
  EXPECT_EQ(r.gauge("inflight", "h").value(), kThreads * kPerThread);
}

TEST(MetricsRegistry, GaugeCallbackEvaluatedAtScrape) {
  Registry r;
  std::atomic<int> end_offset{7};
  int calls = 0;
  r.gauge_callback("log_end_offset", "LEO", {{"partition", "0"}}, [&] {
    ++calls;
    return static_cast<double>(end_offset.load());
  });
  EXPECT_EQ(calls, 0);  // nothing evaluated before a scrape
  EXPECT_NE(r.serialize().find("log_end_offset{partition=\"0\"} 7\n"), std::string::npos);
  end_offset = 1234;
  EXPECT_NE(r.serialize().find("log_end_offset{partition=\"0\"} 1234\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
  r.gauge_callback("log_end_offset", "LEO", {{"partition", "0"}}, [] { return -1.0; });
  EXPECT_NE(r.serialize().find("log_end_offset{partition=\"0\"} -1\n"), std::string::npos);
}

TEST(MetricsRegistry, FailingOrReentrantCallbackOnlyLosesItsSample) {
  Registry r;
  r.gauge("kept", "h").set(1);
  r.gauge_callback("throws", "h", {}, []() -> double { throw std::runtime_error("log closed"); });
  // Calling back into the registry would self-deadlock; it must throw and be skipped instead.
  r.gauge_callback("reenters", "h", {}, [&r] { return r.counter("x", "h").value(); });
  std::string out = r.serialize();
  EXPECT_NE(out.find("kept 1\n"), std::string::npos);
  EXPECT_EQ(out.find("\nthrows "), std::string::npos) << out;
  EXPECT_EQ(out.find("\nreenters "), std::string::npos);
  EXPECT_NO_THROW(r.counter("x", "h"));  // the guard is lifted after the scrape
}

TEST(MetricsRegistry, RemoveStopsExportingAndKeepsReferencesValid) {
  Registry r;
  Counter& t1 = r.counter("msgs_total", "h", {{"topic", "t1"}});
  r.counter("msgs_total", "h", {{"topic", "t2"}}).inc(2);
  t1.inc(5);
  bool callback_ran = false;
  r.gauge_callback("leo", "h", {{"topic", "t1"}}, [&] {
    callback_ran = true;
    return 1.0;
  });
  r.remove("msgs_total", {{"topic", "t1"}});
  r.remove("leo", {{"topic", "t1"}});
  r.remove("never_registered", {});
  std::string out = r.serialize();
  EXPECT_EQ(out.find("t1"), std::string::npos) << out;
  EXPECT_NE(out.find("msgs_total{topic=\"t2\"} 2\n"), std::string::npos);
  EXPECT_EQ(out.find("leo"), std::string::npos);  // empty family dropped entirely
  EXPECT_FALSE(callback_ran);
  t1.inc();  // a stale reference must stay safe to use
  EXPECT_EQ(t1.value(), 6);
  Counter& fresh = r.counter("msgs_total", "h", {{"topic", "t1"}});
  EXPECT_NE(&fresh, &t1);
  EXPECT_EQ(fresh.value(), 0);
  r.remove("leo", {});
  EXPECT_NO_THROW(r.counter("leo", "now a counter"));  // name free again
}

TEST(MetricsBuckets, Exponential) {
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(exponential_buckets(0.5, 10, 3), (std::vector<double>{0.5, 5, 50}));
  EXPECT_THROW(exponential_buckets(0, 2, 4), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 4), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 2, 0), std::invalid_argument);
}

struct HttpReply {
  std::string status_line, headers, body;
};

// Sends `request` to 127.0.0.1:port and reads until the server closes. Socket timeouts bound the
// test if the server misbehaves.
int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

// `half_close` shuts down the sending side after the request, as `nc -N` does at end of input.
HttpReply http_exchange(uint16_t port, const std::string& request, bool half_close = false) {
  int fd = connect_loopback(port);
  // The server may answer 431 and stop reading before all of an oversized request is sent.
  for (size_t off = 0; off < request.size();) {
    ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  HttpReply reply;
  size_t eol = raw.find("\r\n");
  size_t head_end = raw.find("\r\n\r\n");
  if (eol == std::string::npos || head_end == std::string::npos) {
    ADD_FAILURE() << "incomplete HTTP response: " << raw;
    return reply;
  }
  reply.status_line = raw.substr(0, eol);
  reply.headers = raw.substr(eol + 2, head_end - eol);
  reply.body = raw.substr(head_end + 4);
  return reply;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n";
}

TEST(MetricsServer, ServesMetricsAndHealthOverLoopback) {
  Registry r;
  r.counter("ferry_requests_total", "Requests", {{"api", "fetch"}}).inc(9);
  r.histogram("ferry_lat_ms", "Latency", exponential_buckets(1, 2, 3)).observe(3);
  MetricsServer server(r, "127.0.0.1", 0);
  ASSERT_NE(server.port(), 0);

  HttpReply m = http_exchange(server.port(), get("/metrics?debug=1"));
  EXPECT_EQ(m.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(m.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(m.headers.find("Content-Length: " + std::to_string(m.body.size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(m.body, r.serialize());
  EXPECT_NE(m.body.find("ferry_requests_total{api=\"fetch\"} 9\n"), std::string::npos);
  EXPECT_NE(m.body.find("ferry_lat_ms_bucket{le=\"4\"} 1\n"), std::string::npos);

  HttpReply abs = http_exchange(server.port(), get("http://127.0.0.1/metrics"));
  EXPECT_EQ(abs.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(abs.body, m.body);

  HttpReply h = http_exchange(server.port(), get("/healthz"));
  EXPECT_EQ(h.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(h.body, "ok\n");

  HttpReply head = http_exchange(server.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(head.body, "");
}

TEST(MetricsServer, RejectsWhatItDoesNotServe) {
  Registry r;
  MetricsServer server(r, "127.0.0.1", 0);
  EXPECT_EQ(http_exchange(server.port(), get("/nope")).status_line, "HTTP/1.1 404 Not Found");
  HttpReply post = http_exchange(server.port(),
                                 "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(post.status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.headers.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(http_exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").status_line,
            "HTTP/1.1 400 Bad Request");  // HTTP/1.1 requires Host
  EXPECT_EQ(http_exchange(server.port(), "garbage\r\n\r\n").status_line,
            "HTTP/1.1 400 Bad Request");

  std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(9000, 'a') +
                     "\r\n\r\n";
  HttpReply big = http_exchange(server.port(), huge);
  EXPECT_EQ(big.status_line, "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_NE(big.headers.find("Connection: close\r\n"), std::string::npos);

  // The server keeps serving after all of the above.
  EXPECT_EQ(http_exchange(server.port(), get("/healthz")).body, "ok\n");
}

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(MetricsServer, PostRoutesGetPathQueryAndBodyAndChooseTheStatus) {
  Registry r;
  std::vector<std::string> seen;
  std::mutex mu;
  auto echo = [&](const std::string& path, const std::string& query, const std::string& body) {
    std::lock_guard lk(mu);
    seen.push_back(path + "|" + query + "|" + body);
    if (path.ends_with("/missing")) return JsonReply{404, R"({"error": "unknown flow"})"};
    if (path.ends_with("/slow")) return JsonReply{504, R"({"error": "drain", "partitions": []})"};
    return JsonReply{200, R"({"ok": true})"};
  };
  MetricsServer server(r, "127.0.0.1", 0, {{"/status", [] { return std::string(R"({"flows": []})"); }}},
                       {{"/flows/*", echo}, {"/exact", echo}});

  HttpReply ok = http_exchange(server.port(), post("/flows/east/west/pause?timeout_ms=250", R"({"a": 1})"));
  EXPECT_EQ(ok.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(ok.headers.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(ok.body, R"({"ok": true})");
  EXPECT_EQ(http_exchange(server.port(), post("/flows/a/b/missing", "")).status_line, "HTTP/1.1 404 Not Found");
  HttpReply slow = http_exchange(server.port(), post("/flows/a/b/slow", ""));
  EXPECT_EQ(slow.status_line, "HTTP/1.1 504 Gateway Timeout");
  EXPECT_EQ(slow.body, R"({"error": "drain", "partitions": []})");
  EXPECT_EQ(http_exchange(server.port(), "POST /exact HTTP/1.1\r\nHost: x\r\n\r\n").status_line, "HTTP/1.1 200 OK");

  // A body sent after the head, in a separate segment, is still read whole.
  int fd = connect_loopback(server.port());
  const std::string head = "POST /exact?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  ASSERT_EQ(::send(fd, "hello world", 11, MSG_NOSIGNAL), 11);
  std::string raw;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200 OK\r\n")) << raw;

  std::lock_guard lk(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"/flows/east/west/pause|timeout_ms=250|{\"a\": 1}", "/flows/a/b/missing||",
                                            "/flows/a/b/slow||", "/exact||", "/exact|x=1|hello world"}));
}

TEST(MetricsServer, MethodsAreCheckedPerPath) {
  Registry r;
  int calls = 0;
  auto count = [&](const std::string&, const std::string&, const std::string&) {
    ++calls;
    return JsonReply{200, "{}"};
  };
  MetricsServer server(r, "127.0.0.1", 0, {{"/status", [] { return std::string("{}"); }}},
                       {{"/flows/*", count}, {"/exact", count}});
  HttpReply get_post_path = http_exchange(server.port(), get("/flows/east/west/pause"));
  EXPECT_EQ(get_post_path.status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(get_post_path.headers.find("Allow: POST\r\n"), std::string::npos);
  EXPECT_EQ(http_exchange(server.port(), get("/exact")).status_line, "HTTP/1.1 405 Method Not Allowed");
  HttpReply post_get_path = http_exchange(server.port(), post("/status", "{}"));
  EXPECT_EQ(post_get_path.status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post_get_path.headers.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(http_exchange(server.port(), post("/metrics", "")).status_line, "HTTP/1.1 405 Method Not Allowed");
  // The prefix route needs something under the prefix; "/exact" is not a prefix of "/exactly".
  EXPECT_EQ(http_exchange(server.port(), post("/flows/", "")).status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(http_exchange(server.port(), post("/exactly", "")).status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(http_exchange(server.port(), get("/status")).status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(calls, 0);
}

TEST(MetricsServer, PostBodiesThatCannotBeServed) {
  Registry r;
  int calls = 0;
  MetricsServer server(r, "127.0.0.1", 0, {},
                       {{"/do", [&](const std::string&, const std::string&, const std::string&) -> JsonReply {
                          ++calls;
                          throw std::runtime_error("broken \"handler\"");
                        }}});
  HttpReply thrown = http_exchange(server.port(), post("/do", ""));
  EXPECT_EQ(thrown.status_line, "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(thrown.body, R"({"error": "broken \"handler\""})");
  EXPECT_EQ(http_exchange(server.port(), "POST /do HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n").status_line,
            "HTTP/1.1 413 Content Too Large");
  // A transfer coding other than chunked (RFC 9112 §6.1); chunked itself: ChunkedPostBodiesAreDecoded.
  EXPECT_EQ(http_exchange(server.port(), "POST /do HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
                .status_line,
            "HTTP/1.1 501 Not Implemented");
  EXPECT_EQ(http_exchange(server.port(), "POST /do HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n").status_line,
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(calls, 1);
}

// `curl -T -` streams a body with "Transfer-Encoding: chunked": the handler gets it decoded, and
// the 64 KiB limit applies to the decoded body.
TEST(MetricsServer, ChunkedPostBodiesAreDecoded) {
  Registry r;
  MetricsServer server(r, "127.0.0.1", 0, {},
                       {{"/echo", [](const std::string&, const std::string&, const std::string& body) {
                          return JsonReply{200, body};
                        }}});
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  HttpReply ok = http_exchange(server.port(), head + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(ok.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(ok.body, "hello world");
  const std::string chunk = "9c40\r\n" + std::string(40000, 'a') + "\r\n";  // 0x9c40 = 40000
  EXPECT_EQ(http_exchange(server.port(), head + chunk + chunk + "0\r\n\r\n").status_line,
            "HTTP/1.1 413 Content Too Large");
}

// curl -T sends "Expect: 100-continue" and holds the body back until "100 Continue" (or a second).
TEST(MetricsServer, ExpectContinueIsAnswered) {
  Registry r;
  MetricsServer server(r, "127.0.0.1", 0, {},
                       {{"/echo", [](const std::string&, const std::string&, const std::string& body) {
                          return JsonReply{200, body};
                        }}});
  int fd = connect_loopback(server.port());
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buf[1024];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // the socket's 5 s timeout fails this if nothing comes
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(::send(fd, "{}", 2, MSG_NOSIGNAL), 2);
  std::string raw;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200 OK\r\n")) << raw;
  EXPECT_TRUE(raw.ends_with("\r\n\r\n{}")) << raw;
}

// Status lines: Beast's reason table (RFC 9110 §15), "Content Too Large" for 413, "Error" for a
// code the table lacks; a handler's status that is not three digits gives 500.
TEST(MetricsServer, ReasonPhrases) {
  Registry r;
  MetricsServer server(r, "127.0.0.1", 0, {},
                       {{"/status", [](const std::string&, const std::string& query, const std::string&) {
                          return JsonReply{std::stoi(query), "{}"};
                        }}});
  EXPECT_EQ(http_exchange(server.port(), post("/status?429", "")).status_line, "HTTP/1.1 429 Too Many Requests");
  EXPECT_EQ(http_exchange(server.port(), post("/status?470", "")).status_line, "HTTP/1.1 470 Error");
  HttpReply bad = http_exchange(server.port(), post("/status?42", ""));
  EXPECT_EQ(bad.status_line, "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(bad.body, R"({"error": "handler answered HTTP status 42"})");
}

// Beast requires CRLF line ends (RFC 9112 §2.2 allows, does not oblige, accepting a bare LF):
// `printf 'GET /metrics HTTP/1.0\n\n' | nc -N` gets 400; the request must say "\r\n".
TEST(MetricsServer, BareLineFeedsAreRejected) {
  Registry r;
  MetricsServer server(r, "127.0.0.1", 0);
  EXPECT_EQ(http_exchange(server.port(), "GET /healthz HTTP/1.0\n\n", true).status_line, "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(http_exchange(server.port(), "GET /healthz HTTP/1.0\r\n\r\n", true).body, "ok\n");
}

TEST(MetricsServer, ABlockedPostHandlerDoesNotHoldUpScrapes) {
  Registry r;
  r.counter("ferry_up_total", "Up").inc();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  MetricsServer server(r, "127.0.0.1", 0, {},
                       {{"/block", [released](const std::string&, const std::string&, const std::string&) {
                          released.wait();
                          return JsonReply{200, R"({"state": "paused"})"};
                        }}});
  auto blocked = std::async(std::launch::async, [&] { return http_exchange(server.port(), post("/block", "")); });
  // Answered while the handler is still blocked (the socket's 5 s timeout would fail it otherwise).
  HttpReply m = http_exchange(server.port(), get("/metrics"));
  EXPECT_EQ(m.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(m.body.find("ferry_up_total 1\n"), std::string::npos);
  release.set_value();
  HttpReply b = blocked.get();
  EXPECT_EQ(b.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(b.body, R"({"state": "paused"})");
}

TEST(MetricsServer, DestructionClosesOpenConnections) {
  Registry r;
  int idle;
  {
    MetricsServer server(r, "127.0.0.1", 0);
    idle = connect_loopback(server.port());
    // One complete exchange proves the idle connection above has been accepted by now.
    EXPECT_EQ(http_exchange(server.port(), get("/healthz")).body, "ok\n");
  }
  char c;
  errno = 0;
  ssize_t n = ::recv(idle, &c, 1, 0);  // EOF (or reset), not the 5 s receive timeout
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << "recv=" << n << " errno=" << errno;
  ::close(idle);
}

TEST(MetricsServer, BindConflictThrowsSystemError) {
  Registry r;
  MetricsServer first(r, "127.0.0.1", 0);
  try {
    MetricsServer second(r, "127.0.0.1", first.port());
    ADD_FAILURE() << "second bind to port " << first.port() << " succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
  }
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is never a local address: EADDRNOTAVAIL, no DNS involved.
  EXPECT_THROW(MetricsServer(r, "192.0.2.1", 0), std::system_error);
}

}  // namespace
}  // namespace ferry::metrics
