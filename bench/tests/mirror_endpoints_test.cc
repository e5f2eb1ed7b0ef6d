#include "bench/mirror_endpoints.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "bench/bench_error.h"
#include "bench/http_get.h"

namespace ferry::bench {
namespace {

// Answers exactly one HTTP request on a free loopback port with `response`, then closes. The
// accept waits at most 5 s so a test that never connects still ends.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// The request as received; waits for the one exchange to finish first.
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 5000) != 1) break;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  std::string response_;
  std::string request_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string http_200(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

TEST(PrometheusText, ParsesLabelsEscapesAndInfinity) {
  const auto samples = parse_prometheus_text(
      "# HELP x_ms Latency.\n"
      "# TYPE x_ms histogram\n"
      "x_ms_bucket{topic=\"a\\\"b\",le=\"+Inf\"} 7\n"
      "up 1\n"
      "this line is not a sample\n");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].name, "x_ms_bucket");
  ASSERT_NE(samples[0].label("topic"), nullptr);
  EXPECT_EQ(*samples[0].label("topic"), "a\"b");
  EXPECT_EQ(*samples[0].label("le"), "+Inf");
  EXPECT_EQ(samples[0].value, 7);
  EXPECT_EQ(samples[1].name, "up");
  EXPECT_TRUE(samples[1].labels.empty());
}

TEST(PrometheusText, HistogramAddsUpOnlyTheMatchingSeries) {
  const auto samples = parse_prometheus_text(
      "lat_bucket{topic=\"t\",partition=\"0\",le=\"1\"} 1\n"
      "lat_bucket{topic=\"t\",partition=\"0\",le=\"+Inf\"} 2\n"
      "lat_bucket{topic=\"t\",partition=\"1\",le=\"1\"} 3\n"
      "lat_bucket{topic=\"t\",partition=\"1\",le=\"+Inf\"} 5\n"
      "lat_bucket{topic=\"other\",partition=\"0\",le=\"1\"} 100\n"
      "lat_bucket{topic=\"other\",partition=\"0\",le=\"+Inf\"} 100\n"
      "lat_count{topic=\"t\",partition=\"0\"} 2\n");
  const auto buckets = histogram_buckets(samples, "lat", {{"topic", "t"}});
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].le, 1);
  EXPECT_EQ(buckets[0].cumulative, 4);
  EXPECT_TRUE(std::isinf(buckets[1].le));
  EXPECT_EQ(buckets[1].cumulative, 7);
}

TEST(HistogramQuantile, InterpolatesInsideTheBucketHoldingTheRank) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<HistogramBucket> buckets = {{1, 10}, {2, 30}, {4, 100}, {inf, 100}};
  const auto p50 = estimate_quantile(buckets, 0.5);
  ASSERT_TRUE(p50);
  EXPECT_EQ(p50->low, 2);
  EXPECT_EQ(p50->high, 4);
  EXPECT_NEAR(p50->value, 2 + 2 * (50.0 - 30) / 70, 1e-9);
  const auto p05 = estimate_quantile(buckets, 0.05);
  ASSERT_TRUE(p05);
  EXPECT_EQ(p05->low, 0);
  EXPECT_NEAR(p05->value, 0.5, 1e-9);
}

TEST(HistogramQuantile, RankInTheOpenBucketReportsTheHighestFiniteBound) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto q = estimate_quantile({{1, 10}, {2, 90}, {inf, 100}}, 0.99);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->value, 2);
  EXPECT_TRUE(std::isinf(q->high));
}

TEST(HistogramQuantile, EmptyHistogramHasNoQuantile) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(estimate_quantile({{1, 0}, {inf, 0}}, 0.5));
  EXPECT_FALSE(estimate_quantile({}, 0.5));
}

TEST(MirrorStatus, SumsFlowsAndKeepsTheNewestError) {
  const std::string body = R"({"flows":[
    {"records_replicated":10,"topics":[{"source":"a","remote":"east.a","partitions":4}],
     "partitions":[{"lag_records":3},{"lag_records":4}],"last_error":"old","last_error_ms":1},
    {"records_replicated":5,"topics":[{"source":"b","remote":"east.b","partitions":1}],
     "partitions":[],"last_error":"new","last_error_ms":2}]})";
  MirrorStatus s;
  {
    OneShotServer server(http_200(body));
    s = fetch_mirror_status(server.url());
  }
  EXPECT_EQ(s.flows, 2);
  EXPECT_EQ(s.records_replicated, 15);
  EXPECT_EQ(s.assigned_partitions, 2);
  EXPECT_EQ(s.lag_records, 7);
  ASSERT_TRUE(s.last_error);
  EXPECT_EQ(*s.last_error, "new");
  ASSERT_NE(s.route_of("a"), nullptr);
  EXPECT_EQ(s.route_of("a")->remote_topic, "east.a");
  EXPECT_EQ(s.route_of("c"), nullptr);
}

TEST(HttpGet, SendsAnHttp10RequestAndReturnsStatusAndBody) {
  OneShotServer server("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here!extra");
  const HttpResponse r = http_get(server.url(), "/missing", std::chrono::seconds(5));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "not here!");  // exactly Content-Length bytes
  const std::string& request = server.request();
  EXPECT_EQ(request.rfind("GET /missing HTTP/1.0\r\n", 0), 0u) << request;
}

TEST(HttpGet, NothingListeningIsAnError) {
  int port = 0;
  {
    // A port that was free a moment ago and is now closed again.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  EXPECT_THROW(http_get(url, "/status", std::chrono::seconds(2)), BenchError);
  EXPECT_FALSE(http_ok(url, "/healthz", std::chrono::seconds(2)));
}

}  // namespace
}  // namespace ferry::bench
