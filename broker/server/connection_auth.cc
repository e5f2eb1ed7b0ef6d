// A connection's TLS handshake and SASL states (see connection.h): the KIP-371 principal of a client
// certificate, SaslHandshake/SaslAuthenticate routing (KIP-43, KIP-152), session expiry (KIP-368),
// the failed-login delay, and every login's audit event.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker/server/connection.h"
#include "common/metrics.h"
#include "security/audit_log.h"

namespace ferry::broker {
namespace asio = boost::asio;

// The TLS handshake, and the principal a verified client certificate names on an SSL listener
// (KIP-371 mapping; on SASL_SSL the SASL login names it). A handshake that never finishes counts
// as idle time, so connections.max.idle.ms closes it. Returns false when the connection must
// close (handshake failed, or no mapping rule matches the certificate).
asio::awaitable<bool> Connection::tls_handshake() {
  reading_ = true;
  const boost::system::error_code ec = co_await tls_->handshake();
  reading_ = false;
  last_activity_ = Clock::now();
  if (ec) {
    // The peer hung up before the handshake ended (a TCP reachability probe, a client destroyed
    // while connecting): a disconnect, as Kafka's SslTransportLayer treats EOF or a reset during
    // the handshake (an IOException, not an SslAuthenticationException), so not a failed login.
    // A TLS error the peer caused (an alert, a bad certificate, bytes that are not TLS) is one.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset) {
      spdlog::debug("connection from {} closed during the TLS handshake: {}", peer_, ec.message());
      co_return false;
    }
    refuse("TLS handshake failed", ec.message());
    report_authentication(false, "SSL", "", fmt::format("TLS handshake failed: {}", ec.message()));
    co_return false;
  }
  if (ctx_.listener->security_protocol == "SSL" && tls_context_->client_auth) {
    if (auto subject = peer_certificate_subject(tls_->native_handle())) {
      auto name = tls_context_->principal_mapper.map(*subject);
      if (!name) {
        refuse("no ssl.principal.mapping.rules rule matches the client certificate", *subject);
        report_authentication(false, "SSL", "", fmt::format("no ssl.principal.mapping.rules rule matches {}", *subject));
        co_return false;
      }
      ctx_.identity.principal = security::Principal{"User", *name};
      report_authentication(true, "SSL", *name, "");
    }
  }
  tls_ready_ = true;
  co_return true;
}

// Where a frame goes on a SASL listener: the exchange (raw tokens, SaslHandshake,
// SaslAuthenticate), inline (ApiVersions before a login), refused (anything else before a login,
// or after the session expired: Kafka closes), or served as usual.
Connection::SaslRoute Connection::sasl_route(const protocol::Bytes& frame) {
  if (sasl_->expects_raw_token()) return SaslRoute::exchange;
  if (frame.size() < 4) {
    refuse("malformed request", "frame shorter than a request header");
    return SaslRoute::refuse;
  }
  const int16_t api_key = static_cast<int16_t>((frame[0] << 8) | frame[1]);
  if (api_key == protocol::SaslHandshakeRequest::api_key || api_key == protocol::SaslAuthenticateRequest::api_key)
    return SaslRoute::exchange;
  if (!sasl_->authenticated()) {
    if (api_key == protocol::ApiVersionsRequest::api_key) return SaslRoute::inline_request;
    const auto api = protocol::find_api(api_key);
    report_authentication(false, "", "",
                          fmt::format("{} request before authentication", api ? api->name : "unknown"));
    refuse("request before SASL authentication", api ? api->name : fmt::format("API key {}", api_key));
    return SaslRoute::refuse;
  }
  if (sasl_->expired(Clock::now())) {
    refuse("SASL session expired", "no re-authentication within connections.max.reauth.ms");
    return SaslRoute::refuse;
  }
  return SaslRoute::serve;
}

// One SASL frame: answered in order with the requests before it; a failure's answer waits
// connection.failed.authentication.delay.ms (slowing password guessing), then the connection closes.
asio::awaitable<void> Connection::sasl_exchange(const protocol::Bytes& frame) {
  SaslAuthenticator::Outcome out;
  try {
    out = sasl_->expects_raw_token() ? sasl_->on_raw_token(frame) : sasl_->on_request(frame);
  } catch (const protocol::DecodeError& e) {
    out.failed = out.close = true;
    out.reason = fmt::format("malformed SASL request: {}", e.what());
  }
  auto slot = std::make_shared<Slot>();
  pending_.push_back(slot);
  if (out.failed) {
    report_authentication(false, out.mechanism, "", out.reason);
    const auto delay = std::chrono::milliseconds(
        handlers_.services().config.values.get_int("connection.failed.authentication.delay.ms"));
    if (delay.count() > 0) {
      asio::steady_timer timer(io_.ctx, delay);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  } else if (out.succeeded) {
    ctx_.identity.principal = security::Principal{"User", out.user};
    report_authentication(true, out.mechanism, out.user, "");
  }
  complete(*slot, std::move(out.response));
  if (out.close) closing_ = true;
}

// Counts a login or a failed one, and sends it to the security audit log. Failures are also
// logged, rate-limited like refusals.
void Connection::report_authentication(bool ok, const std::string& mechanism, const std::string& user, const std::string& reason) {
  auto& services = handlers_.services();
  services.metrics
      .counter(ok ? "kafka_server_socketservermetrics_successful_authentication_total"
                  : "kafka_server_socketservermetrics_failed_authentication_total",
               ok ? "Successful logins (SASL, or a verified client certificate on SSL)." : "Failed logins.",
               {{"listener", ctx_.identity.listener}})
      .inc();
  if (services.audit != nullptr) {
    security::AuthenticationEvent e;
    e.success = ok;
    e.principal = ok ? security::Principal{"User", user} : ctx_.identity.principal;
    e.mechanism = mechanism;
    e.listener = ctx_.identity.listener;
    e.client_host = ctx_.identity.client_host;
    e.reason = reason;
    services.audit->authentication(e);
  }
}

}  // namespace ferry::broker
