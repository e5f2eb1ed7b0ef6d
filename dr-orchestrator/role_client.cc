#include "dr-orchestrator/role_client.h"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <sstream>

#include "broker/protocol/messages/configs.h"
#include "client/wire_client.h"

namespace ferry::dr {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace proto = ferry::protocol;

namespace {

constexpr int8_t kBrokerResource = 4;  // ConfigResource.Type.BROKER
constexpr const char* kClientId = "ferry-dr";

struct Transport : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A TCP connect bounded by the deadline (reachability only; requests go through client/wire_client).
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
    io_.run_until(deadline_);
    if (!done) {
      boost::system::error_code ignored;
      sock_.close(ignored);
      io_.restart();
      io_.run();
      throw Transport("connect timed out");
    }
    if (ec) throw Transport(fmt::format("connect failed: {}", ec.message()));
  }

 private:
  asio::io_context io_;
  tcp::socket sock_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

void incremental_alter_broker_configs(const std::map<std::string, std::string>& client_properties,
                                      const std::string& broker, const std::vector<ConfigOp>& ops,
                                      std::chrono::milliseconds timeout) {
  proto::IncrementalAlterConfigsRequest req;
  proto::IncrementalAlterConfigsRequest::AlterConfigsResource res;
  res.resource_type = kBrokerResource;
  res.resource_name = broker;
  for (const auto& op : ops)
    res.configs.push_back({op.name, static_cast<int8_t>(op.kind),
                           op.kind == ConfigOp::Kind::set ? op.value : std::optional<std::string>()});
  req.resources.push_back(std::move(res));
  try {
    client::with_cluster(client_properties, kClientId, timeout, [&](client::WireConnection& conn) {
      const std::string& server = conn.server();
      const int16_t version =
          conn.version_for(proto::IncrementalAlterConfigsRequest::api_key, proto::IncrementalAlterConfigsRequest::max_version);
      if (version < 0)
        throw KafkaRequestError("UNSUPPORTED_VERSION",
                                fmt::format("{}: the broker does not support IncrementalAlterConfigs (API key 44, "
                                            "KIP-339) in versions 0-1",
                                            server));
      auto resp = conn.call(req, version);
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
                                                  server, r.resource_name, code,
                                                  r.error_message.value_or("(no message)"), hint));
      }
    });
  } catch (const client::WireError& e) {
    if (e.code() == "NETWORK")
      throw KafkaRequestError("NETWORK", fmt::format("IncrementalAlterConfigs: {}", e.what()));
    throw KafkaRequestError(e.code(), e.what());
  }
}

}  // namespace ferry::dr

namespace ferry::dr {

std::string tcp_unreachable_reason(const std::string& bootstrap_servers, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> servers;
  try {
    servers = client::parse_bootstrap_servers(bootstrap_servers);
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
