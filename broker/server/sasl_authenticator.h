// The SASL exchange of one connection on a SASL_PLAINTEXT or SASL_SSL listener, as Kafka's
// SaslServerAuthenticator runs it (KIP-43, KIP-152, KIP-368):
//   1. ApiVersions may come first (the connection serves it as usual);
//   2. SaslHandshake names a mechanism of sasl.enabled.mechanisms — else UNSUPPORTED_SASL_MECHANISM
//      with the enabled list, and the connection closes;
//   3. tokens: after SaslHandshake v0 as raw size-prefixed frames with no Kafka header
//      (kafka-python's way), after v1 inside SaslAuthenticate; a failure answers
//      SASL_AUTHENTICATION_FAILED (raw framing: nothing) and closes;
//   4. anything else before the login completes closes the connection (Kafka's
//      IllegalSaslStateException); SaslAuthenticate before a handshake gets ILLEGAL_SASL_STATE.
// With connections.max.reauth.ms > 0 the login lives that long (SaslAuthenticate v1+ tells the
// client); the client re-authenticates on the same connection with SaslHandshake v1 +
// SaslAuthenticate, same mechanism and principal; an expired session's next request closes it.
// The mechanisms themselves are Cyrus SASL's (security/sasl_server.h), with credentials from the
// broker's MetadataStore.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/config/broker_config.h"
#include "broker/protocol/header.h"
#include "broker/protocol/wire.h"
#include "security/sasl_server.h"

namespace ferry::broker {

class MetadataStore;

/// The SASL settings of one listener (its listener.name.<l>. overrides first).
struct SaslSettings {
  std::vector<std::string> mechanisms;  ///< sasl.enabled.mechanisms that Cyrus can serve
  int64_t reauth_ms = 0;                ///< connections.max.reauth.ms (0 = sessions never end)
  size_t max_receive = 524288;          ///< sasl.server.max.receive.size, bytes
  static SaslSettings of(const config::Values& values, const Listener& listener);
};

class SaslAuthenticator {
 public:
  using Clock = std::chrono::steady_clock;

  /// `credentials` must outlive the authenticator. Addresses are for log lines only.
  SaslAuthenticator(SaslSettings settings, MetadataStore& credentials, std::string client_address,
                    std::string local_address);
  ~SaslAuthenticator();

  /// What the connection does after one SASL frame.
  struct Outcome {
    std::optional<protocol::Bytes> response;  ///< frame to send, size prefix included (none: send nothing)
    bool close = false;      ///< close the connection after sending
    bool failed = false;     ///< an authentication failure (delay the response, audit it)
    bool succeeded = false;  ///< a login or re-login completed (audit it)
    std::string mechanism;   ///< as asked by the client
    std::string user;        ///< the authenticated user (succeeded), or "" (failed: never the client's claim)
    std::string reason;      ///< why it failed; never a secret, may name what the client did wrong
  };

  /// Handles a SaslHandshake (17) or SaslAuthenticate (36) request. `frame` is the whole request
  /// without its size prefix. Malformed requests throw protocol::DecodeError (the caller closes).
  Outcome on_request(std::span<const uint8_t> frame);
  /// Handles a raw token frame (after SaslHandshake v0).
  Outcome on_raw_token(std::span<const uint8_t> token);

  /// A login completed (and no re-authentication is under way).
  bool authenticated() const { return authenticated_ && !session_; }
  /// The next frame is a raw token (SaslHandshake v0 was answered).
  bool expects_raw_token() const { return session_ != nullptr && handshake_version_ == 0; }
  /// The session has outlived connections.max.reauth.ms without a re-authentication.
  bool expired(Clock::time_point now) const { return authenticated_ && expiry_ && now >= *expiry_; }
  /// Largest frame accepted now: sasl.server.max.receive.size until the first login.
  size_t max_receive() const { return settings_.max_receive; }
  const std::string& user() const { return user_; }
  const std::string& mechanism() const { return mechanism_; }

 private:
  Outcome handshake(const protocol::RequestHeader& header, std::span<const uint8_t> body);
  Outcome authenticate(const protocol::RequestHeader& header, std::span<const uint8_t> body);
  // Feeds one token; on Done completes the login (checking a re-login's principal).
  security::SaslSession::Step step(std::string_view token, Outcome& out);

  struct Credentials;
  SaslSettings settings_;
  std::unique_ptr<Credentials> credentials_;
  std::string client_address_, local_address_;
  std::unique_ptr<security::SaslSession> session_;  // an exchange under way
  int16_t handshake_version_ = -1;
  bool authenticated_ = false;
  std::string user_, mechanism_;  // of the completed login
  std::string pending_mechanism_;  // of the exchange under way
  std::optional<Clock::time_point> expiry_;
};

}  // namespace ferry::broker
