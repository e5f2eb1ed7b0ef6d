// A small blocking Kafka client for the one request librdkafka 2.0.2 lacks:
// IncrementalAlterConfigs (API key 44, KIP-339). AlterConfigs would replace every other dynamic
// config of the entity, so ferry-dr writes the cluster role with this instead.
//
// It runs on client/wire_client, so it speaks the region's security.protocol (PLAINTEXT, SSL,
// SASL_PLAINTEXT, SASL_SSL) from the region's client properties, like ferry-dr's librdkafka clients.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ferry::dr {

/// A failed IncrementalAlterConfigs exchange. `code` is the Kafka error name from the response
/// ("INVALID_CONFIG", "POLICY_VIOLATION", "CLUSTER_AUTHORIZATION_FAILED", ...) or, when no
/// answer came, "NETWORK" (connect/IO/timeout on every bootstrap server), "UNSUPPORTED_VERSION"
/// (the broker's ApiVersions lacks key 44) or "DECODE" (unparsable response). what() says which
/// server, the code, the broker's error_message and what to do.
class KafkaRequestError : public std::runtime_error {
 public:
  KafkaRequestError(std::string code, const std::string& what) : std::runtime_error(what), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// One KIP-339 operation on one config key.
struct ConfigOp {
  enum class Kind : int8_t { set = 0, remove = 1 };  ///< on-wire config_operation (DELETE = 1)
  std::string name;
  Kind kind = Kind::set;
  std::optional<std::string> value;  ///< required for set, ignored for remove
};

/// Sends IncrementalAlterConfigs for the BROKER resource `broker` ("" = the cluster-wide default
/// entity, which every broker of the cluster applies) to the first of the bootstrap.servers in
/// `client_properties` (librdkafka names: bootstrap.servers, security.protocol, ssl.*, sasl.*; see
/// client/wire_client.h) that connects, authenticates and answers ApiVersions; each server gets at
/// most `timeout` for the whole exchange. The highest version both sides support is used (v0
/// classic, v1 flexible). Throws std::invalid_argument for an unparsable server list or bad
/// security properties, KafkaRequestError otherwise (broker error codes map 1:1 to `code`; TLS and
/// SASL failures carry client::WireError's SSL_HANDSHAKE / SASL_AUTHENTICATION_FAILED).
void incremental_alter_broker_configs(const std::map<std::string, std::string>& client_properties,
                                      const std::string& broker,
                                      const std::vector<ConfigOp>& ops,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Whether any of `bootstrap_servers` accepts a TCP connection within `timeout`: "" when one
/// does, else why none did (per server: refused, unresolvable, timed out). librdkafka keeps
/// retrying a refused connection until its request timeout; this answers "is the region gone"
/// in milliseconds when the hosts are up and the brokers are not.
std::string tcp_unreachable_reason(const std::string& bootstrap_servers, std::chrono::milliseconds timeout);

}  // namespace ferry::dr
