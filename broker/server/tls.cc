#include "broker/server/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <climits>
#include <cstring>
#include <new>
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
  // Kafka's SslTransportLayer refuses renegotiation; TlsStream relies on that (reads never wait
  // for writes).
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
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

namespace {

namespace asio = boost::asio;

BIO_METHOD* stream_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ferry TlsStream");
    if (m == nullptr) throw std::bad_alloc();
    return m;
  }();
  return method;
}

[[noreturn]] void throw_error(const boost::system::error_code& ec) { throw boost::system::system_error(ec); }

}  // namespace

TlsStream::TlsStream(asio::ip::tcp::socket& socket, asio::ssl::context& context)
    : socket_(socket), in_(kReadChunk) {
  BIO_METHOD* method = stream_bio_method();
  static const bool methods_set = [method] {
    BIO_meth_set_write_ex(method, &TlsStream::bio_write);
    BIO_meth_set_read_ex(method, &TlsStream::bio_read);
    BIO_meth_set_ctrl(method, &TlsStream::bio_ctrl);
    return true;
  }();
  (void)methods_set;
  ssl_ = SSL_new(context.native_handle());
  BIO* bio = BIO_new(method);
  if (ssl_ == nullptr || bio == nullptr) {
    if (bio != nullptr) BIO_free(bio);
    if (ssl_ != nullptr) SSL_free(ssl_);
    ERR_clear_error();
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the session owns the BIO now
  SSL_set_accept_state(ssl_);
  // Whole records (and what follows them) are read from memory in one call.
  SSL_set_read_ahead(ssl_, 1);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

int TlsStream::bio_write(BIO* bio, const char* data, size_t len, size_t* written) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self->out_.insert(self->out_.end(), data, data + len);
  *written = len;
  return 1;
}

int TlsStream::bio_read(BIO* bio, char* data, size_t len, size_t* read) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const size_t n = std::min(len, self->in_end_ - self->in_begin_);
  if (n == 0) {
    BIO_set_retry_read(bio);  // SSL_ERROR_WANT_READ: fill() and call again
    *read = 0;
    return 0;
  }
  std::memcpy(data, self->in_.data() + self->in_begin_, n);
  self->in_begin_ += n;
  *read = n;
  return 1;
}

long TlsStream::bio_ctrl(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after each handshake flight; output leaves in flush(). Nothing else applies.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

asio::awaitable<void> TlsStream::fill() {
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  in_end_ += co_await socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                                              asio::use_awaitable);
}

boost::system::error_code TlsStream::last_error(int ret) const {
  const int err = SSL_get_error(ssl_, ret);
  if (const unsigned long e = ERR_get_error(); e != 0) {
    ERR_clear_error();
    return {static_cast<int>(e), asio::error::get_ssl_category()};
  }
  if (err == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
  return asio::ssl::error::stream_truncated;
}

asio::awaitable<boost::system::error_code> TlsStream::handshake() {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    if (r != 1 && err != SSL_ERROR_WANT_READ) {
      const auto ec = last_error(r);
      try {
        co_await flush();  // the alert, so the client learns why
      } catch (const boost::system::system_error&) {
      }
      co_return ec;
    }
    try {
      co_await flush();
      if (r == 1) co_return boost::system::error_code{};
      co_await fill();
    } catch (const boost::system::system_error& e) {
      co_return e.code();
    }
  }
}

asio::awaitable<size_t> TlsStream::read_some(asio::mutable_buffer b) {
  auto* p = static_cast<uint8_t*>(b.data());
  size_t got = 0;
  while (got < b.size()) {
    ERR_clear_error();
    size_t n = 0;
    const int r = SSL_read_ex(ssl_, p + got, b.size() - got, &n);
    if (!out_.empty() && on_output_) on_output_();
    if (r == 1) {
      got += n;
      continue;
    }
    if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) {
      if (got > 0) break;  // the error comes again on the next call
      throw_error(last_error(r));
    }
    if (got > 0) break;
    co_await fill();
  }
  co_return got;
}

asio::awaitable<void> TlsStream::write(asio::const_buffer b) {
  const auto* p = static_cast<const uint8_t*>(b.data());
  size_t left = b.size();
  while (left > 0) {
    const size_t slice = std::min(left, kFlushBytes);
    ERR_clear_error();
    size_t n = 0;
    if (const int r = SSL_write_ex(ssl_, p, slice, &n); r != 1) throw_error(last_error(r));
    p += n;
    left -= n;
    if (out_.size() >= kFlushBytes) co_await flush();
  }
}

asio::awaitable<void> TlsStream::flush() {
  while (!out_.empty()) {
    sending_.swap(out_);
    out_.clear();
    // One write_some for everything: the kernel takes what its send buffer holds (async_write
    // would cut the buffer into 64 KiB writes).
    for (size_t sent = 0; sent < sending_.size();)
      sent += co_await socket_.async_write_some(asio::buffer(sending_.data() + sent, sending_.size() - sent),
                                                asio::use_awaitable);
    sending_.clear();
    if (sending_.capacity() > 2 * kFlushBytes) sending_ = {};  // after a large fetch, give it back
  }
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
