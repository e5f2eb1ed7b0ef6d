// One blocking Kafka-protocol client for the requests librdkafka 2.0.2 lacks (IncrementalAlterConfigs,
// KIP-339; DescribeUserScramCredentials / AlterUserScramCredentials, KIP-554), speaking every
// security.protocol a Ferry region may use: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL. TLS is OpenSSL
// (through Boost.Asio); SASL is Cyrus SASL's client side (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), with
// SaslHandshake v1 then SaslAuthenticate (KIP-152). It reads the same librdkafka-style properties as
// the cluster's librdkafka clients, so one client table configures both.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "broker/protocol/header.h"
#include "broker/protocol/schema.h"

namespace ferry::client {

/// A failed exchange. `code` is the Kafka error name from a response ("INVALID_CONFIG",
/// "CLUSTER_AUTHORIZATION_FAILED", "SASL_AUTHENTICATION_FAILED", "UNSUPPORTED_SASL_MECHANISM", ...)
/// or, when no answer came: "NETWORK" (connect/IO/timeout), "SSL_HANDSHAKE" (TLS failed; the message
/// names the server and OpenSSL's reason), "UNSUPPORTED_VERSION" (ApiVersions lacks the API),
/// "DECODE" (unparsable response). Messages never contain a password.
class WireError : public std::runtime_error {
 public:
  WireError(std::string code, const std::string& what) : std::runtime_error(what), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// How to reach a cluster securely, from librdkafka's property names (librdkafka CONFIGURATION.md):
/// security.protocol (plaintext | ssl | sasl_plaintext | sasl_ssl, case-insensitive; default
/// plaintext), ssl.ca.location (PEM file; empty = the system's default trust store),
/// ssl.certificate.location + ssl.key.location (+ ssl.key.password) for mutual TLS,
/// ssl.endpoint.identification.algorithm (https = check the server certificate's name or IP against
/// the host dialled, librdkafka's default since 1.9; "none" or "" = do not), enable.ssl.certificate.verification
/// (default true), sasl.mechanism (or sasl.mechanisms; PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
/// sasl.username, sasl.password. Other properties are ignored (they are librdkafka's business).
struct WireSecurity {
  bool tls = false;
  bool sasl = false;
  std::string ca_location, certificate_location, key_location, key_password;
  bool verify_certificate = true;
  bool verify_hostname = true;
  std::string mechanism, username, password;
};

/// Parses the properties above. Throws std::invalid_argument naming the property for an unknown
/// security.protocol, a SASL protocol with a mechanism other than PLAIN/SCRAM-SHA-256/SCRAM-SHA-512
/// (librdkafka's default GSSAPI included) or without sasl.username / sasl.password, a certificate
/// without its key (or the reverse), and an unknown endpoint identification algorithm.
WireSecurity parse_wire_security(const std::map<std::string, std::string>& props);

/// "host:port,host:port" (an optional "PROTO://" prefix per entry, "[v6]:port") as (host, port)
/// pairs. Throws std::invalid_argument for an empty list or an entry that is not host:port.
std::vector<std::pair<std::string, std::string>> parse_bootstrap_servers(const std::string& list);

/// One authenticated connection to one broker. The constructor connects, does the TLS handshake
/// (when tls), ApiVersions v0, then SASL (when sasl); every step is bounded by `deadline`.
/// Throws WireError: NETWORK, SSL_HANDSHAKE ("<server>: TLS handshake failed: <OpenSSL reason>"),
/// UNSUPPORTED_SASL_MECHANISM (the broker's list is named), SASL_AUTHENTICATION_FAILED
/// ("<server>: SASL <mechanism> authentication as user '<user>' failed: <broker message>"; also
/// when Cyrus finds the server's SCRAM signature wrong).
class WireConnection {
 public:
  WireConnection(const std::string& host, const std::string& port, const WireSecurity& security,
                 const std::string& client_id, std::chrono::steady_clock::time_point deadline);
  ~WireConnection();
  WireConnection(const WireConnection&) = delete;
  WireConnection& operator=(const WireConnection&) = delete;

  /// "host:port", for messages.
  const std::string& server() const { return server_; }

  /// Bounds the calls from now on (the constructor's `deadline` bounded the set-up): a long-lived
  /// connection, such as a follower's to its leader, sets one per call.
  void set_deadline(std::chrono::steady_clock::time_point deadline);

  /// The highest version of `api_key` both this client (`ours`) and the broker support, or -1.
  int16_t version_for(int16_t api_key, int16_t ours) const;

  /// Sends `req` as `version` and decodes its response. Throws WireError NETWORK / DECODE.
  template <class Req>
  typename Req::Response call(const Req& req, int16_t version) {
    const bool flexible = protocol::is_flexible<Req>(version);
    protocol::Bytes frame;
    protocol::Writer w(frame);
    const int32_t correlation = ++correlation_;
    protocol::write_request_header(w, protocol::RequestHeader{Req::api_key, version, correlation, client_id_},
                                   flexible);
    protocol::encode(req, version, flexible, w);
    protocol::Bytes body = exchange(frame);
    try {
      protocol::Reader r(body);
      read_response_header(r, correlation, flexible);
      return protocol::decode<typename Req::Response>(r, version, flexible);
    } catch (const protocol::DecodeError& e) {
      throw WireError("DECODE", server_ + ": unparsable " + Req::name + " response: " + e.what());
    }
  }

 private:
  struct Impl;
  protocol::Bytes exchange(const protocol::Bytes& frame_without_size);
  void read_response_header(protocol::Reader& r, int32_t correlation, bool flexible);
  void authenticate(const WireSecurity& security);

  std::unique_ptr<Impl> impl_;
  std::string server_, client_id_;
  int32_t correlation_ = 0;
  std::map<int16_t, std::pair<int16_t, int16_t>> versions_;  // api key -> (min, max) of the broker
};

/// Runs `fn(conn)` on a connection to the first of `props`' bootstrap.servers that connects and
/// authenticates; a server that fails with NETWORK is skipped, any other WireError (TLS, SASL,
/// broker error) is thrown at once (another broker of the same cluster would answer the same).
/// `timeout` bounds each server. Throws std::invalid_argument for bad properties, WireError NETWORK
/// naming every server tried when none answered.
void with_cluster(const std::map<std::string, std::string>& props, const std::string& client_id,
                  std::chrono::milliseconds timeout, const std::function<void(WireConnection&)>& fn);

}  // namespace ferry::client
