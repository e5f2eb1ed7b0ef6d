#include "broker/server/sasl_authenticator.h"

#include <fmt/format.h>

#include <algorithm>

#include "broker/metadata/metadata_store.h"
#include "broker/protocol/messages/sasl.h"
#include "broker/server/dispatcher.h"

namespace ferry::broker {

using namespace ferry::protocol;

SaslSettings SaslSettings::of(const config::Values& values, const Listener& listener) {
  SaslSettings s;
  const auto& enabled = std::get<std::vector<std::string>>(config::listener_value(values, listener.name, "sasl.enabled.mechanisms"));
  const auto available = security::SaslServerFactory::instance().available_mechanisms();
  for (const auto& m : enabled) {
    if (std::find(available.begin(), available.end(), m) != available.end())
      s.mechanisms.push_back(m);
    else
      throw config::ConfigError(fmt::format(
          "key 'sasl.enabled.mechanisms' of listener {} names {}, which this host's Cyrus SASL cannot serve (available: "
          "{}; install libsasl2-modules)",
          listener.name, m, fmt::join(available, ", ")));
  }
  s.reauth_ms = std::get<int64_t>(config::listener_value(values, listener.name, "connections.max.reauth.ms"));
  s.max_receive = static_cast<size_t>(
      std::get<int64_t>(config::listener_value(values, listener.name, "sasl.server.max.receive.size")));
  return s;
}

// The broker's credential store as Cyrus sees it.
struct SaslAuthenticator::Credentials final : security::CredentialSource {
  explicit Credentials(MetadataStore& s) : store(s) {}
  std::optional<security::ScramCredential> scram_credential(const std::string& user,
                                                            security::ScramMechanism m) const override {
    return store.scram_credential(user, m);
  }
  MetadataStore& store;
};

SaslAuthenticator::SaslAuthenticator(SaslSettings settings, MetadataStore& credentials, std::string client_address,
                                     std::string local_address)
    : settings_(std::move(settings)),
      credentials_(std::make_unique<Credentials>(credentials)),
      client_address_(std::move(client_address)),
      local_address_(std::move(local_address)) {}

SaslAuthenticator::~SaslAuthenticator() = default;

SaslAuthenticator::Outcome SaslAuthenticator::on_request(std::span<const uint8_t> frame) {
  Reader r(frame);
  RequestHeader header = peek_request_header(r);
  const bool authenticate_api = header.api_key == SaslAuthenticateRequest::api_key;
  const int16_t max = authenticate_api ? SaslAuthenticateRequest::max_version : SaslHandshakeRequest::max_version;
  if (header.api_version < 0 || header.api_version > max) {
    Outcome out;
    out.close = out.failed = true;
    out.reason = fmt::format("{} v{} is not supported", authenticate_api ? "SaslAuthenticate" : "SaslHandshake",
                             header.api_version);
    return out;
  }
  const bool flexible = authenticate_api && header.api_version >= SaslAuthenticateRequest::flexible_from;
  read_request_header_tail(r, header, flexible);
  return authenticate_api ? authenticate(header, frame.subspan(frame.size() - r.remaining()))
                          : handshake(header, frame.subspan(frame.size() - r.remaining()));
}

SaslAuthenticator::Outcome SaslAuthenticator::handshake(const RequestHeader& header, std::span<const uint8_t> body) {
  Reader r(body);
  auto req = decode<SaslHandshakeRequest>(r, header.api_version, false);
  Outcome out;
  out.mechanism = req.mechanism;
  SaslHandshakeResponse resp;
  resp.mechanisms = settings_.mechanisms;
  auto refuse = [&](ErrorCode code, std::string reason) {
    resp.error_code = code;
    out.close = out.failed = true;
    out.reason = std::move(reason);
    out.response = response_frame<SaslHandshakeRequest>(header.correlation_id, header.api_version, resp);
    return out;
  };
  if (session_) return refuse(ErrorCode::ILLEGAL_SASL_STATE, "SaslHandshake in the middle of a SASL exchange");
  if (std::find(settings_.mechanisms.begin(), settings_.mechanisms.end(), req.mechanism) == settings_.mechanisms.end())
    return refuse(ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                  fmt::format("mechanism {} is not enabled on this listener", req.mechanism.substr(0, 64)));
  if (authenticated_) {
    // KIP-368 re-authentication: SaslHandshake v1 (tokens in SaslAuthenticate), same mechanism.
    if (header.api_version < 1) return refuse(ErrorCode::ILLEGAL_SASL_STATE, "re-authentication needs SaslHandshake v1");
    if (req.mechanism != mechanism_)
      return refuse(ErrorCode::ILLEGAL_SASL_STATE,
                    fmt::format("re-authentication must use the session's mechanism {}", mechanism_));
  }
  try {
    session_ = security::SaslServerFactory::instance().start(req.mechanism, *credentials_, client_address_,
                                                             local_address_, settings_.max_receive);
  } catch (const std::exception& e) {
    return refuse(ErrorCode::UNSUPPORTED_SASL_MECHANISM, fmt::format("cannot start {}: {}", req.mechanism, e.what()));
  }
  handshake_version_ = header.api_version;
  pending_mechanism_ = req.mechanism;
  out.response = response_frame<SaslHandshakeRequest>(header.correlation_id, header.api_version, resp);
  return out;
}

security::SaslSession::Step SaslAuthenticator::step(std::string_view token, Outcome& out) {
  out.mechanism = pending_mechanism_;
  auto result = session_->step(token);
  using State = security::SaslSession::Step::State;
  if (result.state == State::Continue) return result;
  session_.reset();
  if (result.state == State::Failed) {
    out.failed = out.close = true;
    out.reason = result.error;
    return result;
  }
  if (authenticated_ && result.user != user_) {
    // KIP-368: a re-login may not change who the connection is.
    out.failed = out.close = true;
    out.reason = fmt::format("re-authentication as '{}' on a connection of '{}'", result.user, user_);
    result.state = State::Failed;
    return result;
  }
  authenticated_ = true;
  user_ = result.user;
  mechanism_ = pending_mechanism_;
  expiry_.reset();
  if (settings_.reauth_ms > 0) expiry_ = Clock::now() + std::chrono::milliseconds(settings_.reauth_ms);
  out.succeeded = true;
  out.user = user_;
  return result;
}

SaslAuthenticator::Outcome SaslAuthenticator::authenticate(const RequestHeader& header, std::span<const uint8_t> body) {
  Outcome out;
  SaslAuthenticateResponse resp;
  if (!session_ || handshake_version_ < 1) {
    resp.error_code = ErrorCode::ILLEGAL_SASL_STATE;
    resp.error_message = session_ ? "SaslAuthenticate after SaslHandshake v0 (tokens must be raw frames)"
                                  : "SaslAuthenticate without a SaslHandshake first";
    out.failed = out.close = true;
    out.reason = *resp.error_message;
    out.response = response_frame<SaslAuthenticateRequest>(header.correlation_id, header.api_version, resp);
    return out;
  }
  Reader r(body);
  auto req = decode<SaslAuthenticateRequest>(r, header.api_version,
                                             header.api_version >= SaslAuthenticateRequest::flexible_from);
  auto result = step(std::string_view(reinterpret_cast<const char*>(req.auth_bytes.data()), req.auth_bytes.size()), out);
  using State = security::SaslSession::Step::State;
  if (result.state == State::Failed) {
    resp.error_code = ErrorCode::SASL_AUTHENTICATION_FAILED;
    // Kafka's wording; what exactly failed (unknown user or wrong password) is for the audit log only.
    resp.error_message = fmt::format(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        out.mechanism);
  } else {
    resp.auth_bytes.assign(result.challenge.begin(), result.challenge.end());
    if (result.state == State::Done) resp.session_lifetime_ms = settings_.reauth_ms;
  }
  out.response = response_frame<SaslAuthenticateRequest>(header.correlation_id, header.api_version, resp);
  return out;
}

SaslAuthenticator::Outcome SaslAuthenticator::on_raw_token(std::span<const uint8_t> token) {
  Outcome out;
  auto result = step(std::string_view(reinterpret_cast<const char*>(token.data()), token.size()), out);
  if (result.state == security::SaslSession::Step::State::Failed) return out;  // Kafka closes without a word
  // A raw token frame: the 4-byte big-endian size, then the bytes (KIP-43's v0 exchange). Sized up
  // front: GCC 12 at -O3 misreads a Writer on an empty vector as an overflow (-Wstringop-overflow).
  const std::string& c = result.challenge;
  const auto n = static_cast<uint32_t>(c.size());
  Bytes frame(4 + c.size());
  frame[0] = static_cast<uint8_t>(n >> 24);
  frame[1] = static_cast<uint8_t>(n >> 16);
  frame[2] = static_cast<uint8_t>(n >> 8);
  frame[3] = static_cast<uint8_t>(n);
  std::copy(c.begin(), c.end(), frame.begin() + 4);
  out.response = std::move(frame);
  return out;
}

}  // namespace ferry::broker
