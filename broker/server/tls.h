// TLS for SSL and SASL_SSL listeners: one OpenSSL server context per listener (through
// boost::asio::ssl), built from the listener's effective ssl.* keys (per-listener overrides
// `listener.name.<listener>.ssl.*` first, KIP-103), and replaced whole when certificates are
// reloaded (SIGHUP, or a dynamic ssl.keystore.location through AlterConfigs, KIP-226): new
// connections take the new context, open ones keep the one they started with.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "broker/config/broker_config.h"
#include "security/principal_mapping.h"

using SSL = struct ssl_st;

namespace ferry::broker {

/// What a new connection on one TLS listener needs.
struct TlsListenerContext {
  boost::asio::ssl::context ssl;
  security::PrincipalMapper principal_mapper;
  bool client_auth = false;  ///< ssl.client.auth is requested or required
  explicit TlsListenerContext(std::string_view mapping_rules)
      : ssl(boost::asio::ssl::context::tls_server), principal_mapper(mapping_rules) {}
};

/// Builds the context of `listener` from `values` (the broker config, with dynamic overrides
/// applied). Throws config::ConfigError naming the key, its value and what is wrong: an unreadable
/// or unparsable keystore, a key that does not match its certificate, a wrong ssl.key.password, an
/// unreadable truststore, no truststore with client auth, an unknown protocol or cipher suite.
std::shared_ptr<TlsListenerContext> make_tls_context(const config::Values& values, const Listener& listener);

/// The TLS contexts of every SSL/SASL_SSL listener of one broker. Thread-safe.
class TlsContexts {
 public:
  /// Builds every TLS listener's context from `values`. Throws config::ConfigError as above.
  TlsContexts(const std::vector<Listener>& listeners, const config::Values& values);
  /// The current context of `listener`, or nullptr for a listener without TLS.
  std::shared_ptr<TlsListenerContext> get(const std::string& listener) const;
  /// Rebuilds every context from `values`; all or nothing: on error (config::ConfigError) the
  /// current contexts stay. Returns the number of contexts replaced.
  size_t reload(const config::Values& values);

 private:
  std::vector<Listener> listeners_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<TlsListenerContext>> by_listener_;
};

/// `base` with the dynamic ssl.* overrides among `dynamic` (key → text, as AlterConfigs stored
/// them) applied. Throws config::ConfigError for a value of the wrong type.
config::Values with_dynamic_ssl(const config::Values& base, const std::map<std::string, std::string>& dynamic);

/// The subject of the peer's verified certificate in RFC 2253 form ("CN=alice,OU=eng,O=acme"),
/// as Kafka's X500Principal.getName() prints it; nullopt when the peer sent none.
std::optional<std::string> peer_certificate_subject(SSL* ssl);

}  // namespace ferry::broker
