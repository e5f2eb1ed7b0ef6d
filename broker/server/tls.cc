#include "broker/server/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace ferry::broker {

using config::ConfigError;
namespace ssl = boost::asio::ssl;

namespace {

std::string value_text(const config::Values& v, const Listener& l, const std::string& key) {
  return config::to_kafka_string(config::listener_value(v, l.name, key));
}

[[noreturn]] void fail(const Listener& l, const std::string& key, const std::string& value, const std::string& why) {
  throw ConfigError(fmt::format("key '{}' of listener {} has value \"{}\"; {}", key, l.name, value, why));
}

// TLS 1.3 suites are configured apart from the TLS 1.2 cipher list in OpenSSL.
bool is_tls13_suite(const std::string& name) {
  static const std::set<std::string> kSuites{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                             "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
                                             "TLS_AES_128_CCM_8_SHA256"};
  return kSuites.count(name) != 0;
}

// The OpenSSL name of a TLS 1.2 cipher given by its IANA name (Kafka's, from JSSE) or its OpenSSL
// name; "" when this OpenSSL has no such cipher.
std::string openssl_cipher_name(const std::string& name) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!probe || SSL_CTX_set_cipher_list(probe.get(), "ALL:COMPLEMENTOFALL") != 1) return "";
  STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(probe.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
    const char* standard = SSL_CIPHER_standard_name(c);
    if (name == SSL_CIPHER_get_name(c) || (standard != nullptr && name == standard)) return SSL_CIPHER_get_name(c);
  }
  return "";
}

void set_protocols(SSL_CTX* ctx, const config::Values& v, const Listener& l) {
  const auto& protocols = std::get<std::vector<std::string>>(config::listener_value(v, l.name, "ssl.enabled.protocols"));
  int min = 0, max = 0;
  for (const auto& p : protocols) {
    int version = p == "TLSv1.2" ? TLS1_2_VERSION : p == "TLSv1.3" ? TLS1_3_VERSION : 0;
    if (version == 0)
      fail(l, "ssl.enabled.protocols", value_text(v, l, "ssl.enabled.protocols"),
           fmt::format("expected TLSv1.2 and/or TLSv1.3, not {}", p));
    min = min == 0 ? version : std::min(min, version);
    max = std::max(max, version);
  }
  if (min == 0) fail(l, "ssl.enabled.protocols", "", "expected TLSv1.2 and/or TLSv1.3");
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
}

void set_ciphers(SSL_CTX* ctx, const config::Values& v, const Listener& l) {
  const auto& suites = std::get<std::vector<std::string>>(config::listener_value(v, l.name, "ssl.cipher.suites"));
  if (suites.empty()) return;
  std::string tls12, tls13;
  for (const auto& s : suites) {
    std::string& list = is_tls13_suite(s) ? tls13 : tls12;
    std::string name = is_tls13_suite(s) ? s : openssl_cipher_name(s);
    if (name.empty())
      fail(l, "ssl.cipher.suites", value_text(v, l, "ssl.cipher.suites"),
           fmt::format("expected cipher suites this OpenSSL knows; '{}' is not one", s));
    list += (list.empty() ? "" : ":") + name;
  }
  // An empty list for one protocol version disables that version's suites, as Kafka's list does.
  if (SSL_CTX_set_cipher_list(ctx, tls12.empty() ? "" : tls12.c_str()) != 1 && !tls12.empty())
    fail(l, "ssl.cipher.suites", value_text(v, l, "ssl.cipher.suites"), "OpenSSL refused the TLS 1.2 cipher list");
  if (SSL_CTX_set_ciphersuites(ctx, tls13.c_str()) != 1)
    fail(l, "ssl.cipher.suites", value_text(v, l, "ssl.cipher.suites"), "OpenSSL refused the TLS 1.3 suites");
  ERR_clear_error();
}

}  // namespace

std::shared_ptr<TlsListenerContext> make_tls_context(const config::Values& v, const Listener& l) {
  const std::string rules = std::get<std::string>(config::listener_value(v, l.name, "ssl.principal.mapping.rules"));
  std::shared_ptr<TlsListenerContext> out;
  try {
    out = std::make_shared<TlsListenerContext>(rules);
  } catch (const std::invalid_argument& e) {
    fail(l, "ssl.principal.mapping.rules", rules, fmt::format("expected KIP-371 rules ({})", e.what()));
  }
  auto& ctx = out->ssl;
  SSL_CTX* native = ctx.native_handle();
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  set_protocols(native, v, l);
  set_ciphers(native, v, l);

  const std::string keystore = std::get<std::string>(config::listener_value(v, l.name, "ssl.keystore.location"));
  if (keystore.empty())
    fail(l, "ssl.keystore.location", "", fmt::format("expected a PEM file with the certificate chain and private key "
                                                     "({} listeners need one)",
                                                     l.security_protocol));
  const std::string password = std::get<std::string>(config::listener_value(v, l.name, "ssl.key.password"));
  ctx.set_password_callback([password](std::size_t, ssl::context::password_purpose) { return password; });
  try {
    ctx.use_certificate_chain_file(keystore);
  } catch (const boost::system::system_error& e) {
    fail(l, "ssl.keystore.location", keystore,
         fmt::format("expected a readable PEM certificate chain ({})", e.code().message()));
  }
  try {
    ctx.use_private_key_file(keystore, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    fail(l, "ssl.keystore.location", keystore,
         fmt::format("expected the private key of the first certificate in the same file, readable with "
                     "ssl.key.password ({})",
                     e.code().message()));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    fail(l, "ssl.keystore.location", keystore, "expected the private key of the first certificate; they do not match");
  }

  const std::string client_auth = std::get<std::string>(config::listener_value(v, l.name, "ssl.client.auth"));
  const std::string truststore = std::get<std::string>(config::listener_value(v, l.name, "ssl.truststore.location"));
  if (!truststore.empty()) {
    try {
      ctx.load_verify_file(truststore);
    } catch (const boost::system::system_error& e) {
      fail(l, "ssl.truststore.location", truststore,
           fmt::format("expected a readable PEM bundle of CA certificates ({})", e.code().message()));
    }
    // Name the acceptable CAs in the CertificateRequest, so a client picks the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(truststore.c_str())) SSL_CTX_set_client_CA_list(native, names);
  }
  if (client_auth == "none") {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    if (truststore.empty())
      fail(l, "ssl.truststore.location", "",
           fmt::format("expected the CA bundle client certificates are checked against (ssl.client.auth is {})",
                       client_auth));
    ctx.set_verify_mode(client_auth == "required" ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                                                  : ssl::verify_peer);
    out->client_auth = true;
  }
  // A session cache keyed per context would let a resumed session skip the client-certificate
  // check of a rotated truststore; TLS 1.3 tickets are stateless, so turn both off and keep every
  // handshake a full one (the benchmark measures what that costs).
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  ERR_clear_error();
  return out;
}

TlsContexts::TlsContexts(const std::vector<Listener>& listeners, const config::Values& values) : listeners_(listeners) {
  reload(values);
}

std::shared_ptr<TlsListenerContext> TlsContexts::get(const std::string& listener) const {
  std::lock_guard lock(mu_);
  auto it = by_listener_.find(listener);
  return it == by_listener_.end() ? nullptr : it->second;
}

size_t TlsContexts::reload(const config::Values& values) {
  std::map<std::string, std::shared_ptr<TlsListenerContext>> fresh;
  for (const auto& l : listeners_)
    if (l.tls()) fresh[l.name] = make_tls_context(values, l);
  std::lock_guard lock(mu_);
  by_listener_ = std::move(fresh);
  return by_listener_.size();
}

config::Values with_dynamic_ssl(const config::Values& base, const std::map<std::string, std::string>& dynamic) {
  config::Values out = base;
  for (const auto& [key, text] : dynamic)
    if (is_dynamic_ssl_key(key)) out.set(key, base.schema().parse_text(key, text));
  return out;
}

std::optional<std::string> peer_certificate_subject(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return std::nullopt;
  std::unique_ptr<X509, decltype(&X509_free)> owned(cert, X509_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) return std::nullopt;
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace ferry::broker
