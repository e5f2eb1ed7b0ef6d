#include "dr-orchestrator/role_client.h"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <sstream>

#include "broker/protocol/header.h"
#include "broker/protocol/messages/api_versions.h"
#include "broker/protocol/messages/configs.h"

namespace ferry::dr {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace proto = ferry::protocol;

namespace {

constexpr int8_t kBrokerResource = 4;  // ConfigResource.Type.BROKER
constexpr const char* kClientId = "ferry-dr";
constexpr int32_t kMaxResponse = 16 << 20;

struct Transport : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One blocking request/response connection; every operation is bounded by the deadline.
class Conn {
 public:
  Conn(const std::string& host, const std::string& port, std::chrono::steady_clock::time_point deadline)
      : sock_(io_), deadline_(deadline) {
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) throw Transport(fmt::format("cannot resolve: {}", ec.message()));
    bool done = false;
    asio::async_connect(sock_, endpoints, [&](const boost::system::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    wait(done, ec, "connect");
  }

  // Sends one request frame and returns the response frame body (after the size prefix).
  proto::Bytes exchange(const proto::Bytes& frame_without_size) {
    proto::Bytes out;
    proto::Writer w(out);
    w.i32(static_cast<int32_t>(frame_without_size.size()));
    out.insert(out.end(), frame_without_size.begin(), frame_without_size.end());
    boost::system::error_code ec;
    bool done = false;
    asio::async_write(sock_, asio::buffer(out), [&](const boost::system::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    wait(done, ec, "send");
    uint8_t size_buf[4];
    done = false;
    asio::async_read(sock_, asio::buffer(size_buf), [&](const boost::system::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    wait(done, ec, "read");
    proto::Reader r({size_buf, 4});
    const int32_t size = r.i32();
    if (size < 4 || size > kMaxResponse) throw Transport(fmt::format("response size {} out of range", size));
    proto::Bytes body(static_cast<size_t>(size));
    done = false;
    asio::async_read(sock_, asio::buffer(body), [&](const boost::system::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    wait(done, ec, "read");
    return body;
  }

 private:
  void wait(bool& done, boost::system::error_code& ec, const char* what) {
    io_.restart();
    io_.run_until(deadline_);
    if (!done) {
      boost::system::error_code ignored;
      sock_.close(ignored);
      io_.restart();
      io_.run();
      throw Transport(fmt::format("{} timed out", what));
    }
    if (ec) throw Transport(fmt::format("{} failed: {}", what, ec.message()));
  }

  asio::io_context io_;
  tcp::socket sock_;
  std::chrono::steady_clock::time_point deadline_;
};

// Reads a response header: correlation id, then (v1, flexible) a tagged-field section to skip.
void read_response_header(proto::Reader& r, int32_t want_correlation, bool flexible) {
  const int32_t correlation = r.i32();
  if (correlation != want_correlation)
    throw proto::DecodeError(fmt::format("correlation id {} does not match the request's {}", correlation, want_correlation));
  if (flexible) {
    const uint32_t n = r.uvarint();
    for (uint32_t i = 0; i < n; ++i) {
      r.uvarint();
      r.skip(r.uvarint());
    }
  }
}

template <class Req>
proto::Bytes request_frame(const Req& req, int16_t version, int32_t correlation) {
  proto::Bytes frame;
  proto::Writer w(frame);
  const bool flexible = proto::is_flexible<Req>(version);
  proto::write_request_header(w, proto::RequestHeader{Req::api_key, version, correlation, std::string(kClientId)}, flexible);
  proto::encode(req, version, flexible, w);
  return frame;
}

std::vector<std::pair<std::string, std::string>> parse_servers(const std::string& list) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    // librdkafka accepts a "PLAINTEXT://" style prefix; so do we.
    if (auto p = item.find("://"); p != std::string::npos) item = item.substr(p + 3);
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      throw std::invalid_argument(fmt::format("bootstrap server '{}' is not host:port", item));
    std::string host = item.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    out.emplace_back(host, item.substr(colon + 1));
  }
  if (out.empty()) throw std::invalid_argument(fmt::format("bootstrap.servers '{}' lists no server", list));
  return out;
}

// One attempt against one server. Broker-level error codes throw KafkaRequestError at once
// (another server of the same cluster would answer the same); transport problems throw Transport.
void alter_on(const std::string& host, const std::string& port, const proto::IncrementalAlterConfigsRequest& req,
              std::chrono::milliseconds timeout) {
  Conn conn(host, port, std::chrono::steady_clock::now() + timeout);
  const std::string server = host + ":" + port;

  proto::ApiVersionsRequest av;
  proto::Bytes body = conn.exchange(request_frame(av, 0, 1));
  int16_t max_version = -1;
  try {
    proto::Reader r(body);
    read_response_header(r, 1, false);
    auto resp = proto::decode<proto::ApiVersionsResponse>(r, 0, false);
    if (resp.error_code != proto::ErrorCode::NONE)
      throw KafkaRequestError(proto::error_name(resp.error_code),
                              fmt::format("{}: ApiVersions failed: {}", server, proto::error_name(resp.error_code)));
    for (const auto& k : resp.api_keys)
      if (k.api_key == proto::IncrementalAlterConfigsRequest::api_key && k.min_version <= 1) max_version = k.max_version;
  } catch (const proto::DecodeError& e) {
    throw KafkaRequestError("DECODE", fmt::format("{}: unparsable ApiVersions response: {}", server, e.what()));
  }
  if (max_version < 0)
    throw KafkaRequestError("UNSUPPORTED_VERSION",
                            fmt::format("{}: the broker does not support IncrementalAlterConfigs (API key 44, KIP-339) "
                                        "in versions 0-1",
                                        server));
  const int16_t version = std::min<int16_t>(max_version, proto::IncrementalAlterConfigsRequest::max_version);
  const bool flexible = proto::is_flexible<proto::IncrementalAlterConfigsRequest>(version);
  body = conn.exchange(request_frame(req, version, 2));
  proto::IncrementalAlterConfigsResponse resp;
  try {
    proto::Reader r(body);
    read_response_header(r, 2, flexible);
    resp = proto::decode<proto::IncrementalAlterConfigsResponse>(r, version, flexible);
  } catch (const proto::DecodeError& e) {
    throw KafkaRequestError("DECODE", fmt::format("{}: unparsable IncrementalAlterConfigs response: {}", server, e.what()));
  }
  if (resp.responses.empty())
    throw KafkaRequestError("DECODE", fmt::format("{}: IncrementalAlterConfigs answered with no resource result", server));
  for (const auto& r : resp.responses) {
    if (r.error_code == proto::ErrorCode::NONE) continue;
    const std::string code = proto::error_name(r.error_code);
    std::string hint;
    if (r.error_code == proto::ErrorCode::CLUSTER_AUTHORIZATION_FAILED)
      hint = "; ferry-dr's principal needs ALTER_CONFIGS on the cluster";
    else if (r.error_code == proto::ErrorCode::INVALID_CONFIG)
      hint = "; the broker rejected the key or value (does it support it as a dynamic config?)";
    else if (r.error_code == proto::ErrorCode::INVALID_REQUEST)
      hint = "; the broker refused the request shape";
    throw KafkaRequestError(code, fmt::format("{}: IncrementalAlterConfigs of broker resource '{}' failed: {}: {}{}",
                                              server, r.resource_name, code, r.error_message.value_or("(no message)"),
                                              hint));
  }
}

}  // namespace

void incremental_alter_broker_configs(const std::string& bootstrap_servers, const std::string& broker,
                                      const std::vector<ConfigOp>& ops, std::chrono::milliseconds timeout) {
  const auto servers = parse_servers(bootstrap_servers);
  proto::IncrementalAlterConfigsRequest req;
  proto::IncrementalAlterConfigsRequest::AlterConfigsResource res;
  res.resource_type = kBrokerResource;
  res.resource_name = broker;
  for (const auto& op : ops)
    res.configs.push_back({op.name, static_cast<int8_t>(op.kind),
                           op.kind == ConfigOp::Kind::set ? op.value : std::optional<std::string>()});
  req.resources.push_back(std::move(res));

  std::string failures;
  for (const auto& [host, port] : servers) {
    try {
      alter_on(host, port, req, timeout);
      return;
    } catch (const Transport& e) {
      failures += fmt::format("{}{}:{}: {}", failures.empty() ? "" : "; ", host, port, e.what());
    }
  }
  throw KafkaRequestError("NETWORK", fmt::format("IncrementalAlterConfigs: no bootstrap server answered ({})", failures));
}

}  // namespace ferry::dr

namespace ferry::dr {

std::string tcp_unreachable_reason(const std::string& bootstrap_servers, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> servers;
  try {
    servers = parse_servers(bootstrap_servers);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  std::string failures;
  for (const auto& [host, port] : servers) {
    try {
      Conn c(host, port, std::chrono::steady_clock::now() + timeout);
      return "";
    } catch (const Transport& e) {
      failures += fmt::format("{}{}:{}: {}", failures.empty() ? "" : "; ", host, port, e.what());
    }
  }
  return fmt::format("no bootstrap server accepts connections ({})", failures);
}

}  // namespace ferry::dr
