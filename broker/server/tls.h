// TLS for SSL and SASL_SSL listeners: one OpenSSL server context per listener (through
// boost::asio::ssl), built from the listener's effective ssl.* keys (per-listener overrides
// `listener.name.<listener>.ssl.*` first, KIP-103), and replaced whole when certificates are
// reloaded (SIGHUP, or a dynamic ssl.keystore.location through AlterConfigs, KIP-226): new
// connections take the new context, open ones keep the one they started with.
#pragma once

#include <utility>  // before Boost 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/config/broker_config.h"
#include "security/principal_mapping.h"

using SSL = struct ssl_st;
using BIO = struct bio_st;

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

/// The server side of one TLS connection over a TCP socket, for the broker's connection
/// coroutines (one io_context thread; one reader and one writer coroutine at most).
///
/// Why not boost::asio::ssl::stream: it moves at most one 16 KiB TLS record per socket read and
/// per socket write, each one a trip through the io_context, so a 1 MB produce request costs ~64
/// reads and a 4 MB fetch response ~256 writes. Here OpenSSL works on memory: socket reads take
/// up to kReadChunk bytes at once and read_some() decrypts as many records as fit the caller's
/// buffer; write() encrypts whole responses and flush() sends everything encrypted so far in one
/// socket write, so the responses ready at once leave in one write (issue 15: TLS throughput).
/// Renegotiation is refused (make_tls_context sets SSL_OP_NO_RENEGOTIATION, as Kafka's
/// SslTransportLayer refuses it), so reads never need writes and writes never need reads.
class TlsStream {
 public:
  /// Bytes asked of the socket per read.
  static constexpr size_t kReadChunk = 64 * 1024;
  /// write() encrypts in slices of this size and sends once this much is waiting, so a large
  /// response is not encrypted whole into memory before its first byte leaves.
  static constexpr size_t kFlushBytes = 128 * 1024;

  /// A server-side TLS session on `socket` with the settings of `context` (which must outlive it).
  /// Throws std::bad_alloc when OpenSSL cannot allocate the session.
  TlsStream(boost::asio::ip::tcp::socket& socket, boost::asio::ssl::context& context);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  /// The OpenSSL session (for the peer certificate).
  SSL* native_handle() { return ssl_; }
  /// Called when reading made OpenSSL produce bytes to send (an alert, a TLS 1.3 KeyUpdate):
  /// the writer should call flush().
  void on_output(std::function<void()> f) { on_output_ = std::move(f); }

  /// The server handshake. Returns the error that ended it (OpenSSL's reason in
  /// boost::asio::error::get_ssl_category(), or the socket's); the alert OpenSSL made for a
  /// failed handshake is sent, best effort, before returning.
  boost::asio::awaitable<boost::system::error_code> handshake();
  /// Reads at least one byte of application data into `b` and as many more as already arrived.
  /// Throws boost::system::system_error: boost::asio::error::eof when the peer closed (with or
  /// without close_notify), an SSL-category error for a bad record, or the socket's error.
  boost::asio::awaitable<size_t> read_some(boost::asio::mutable_buffer b);
  /// Encrypts `b` as application data; sends what is encrypted whenever kFlushBytes are waiting.
  /// The tail may stay unsent until flush(). Throws boost::system::system_error.
  boost::asio::awaitable<void> write(boost::asio::const_buffer b);
  /// Sends everything encrypted so far. Throws boost::system::system_error. Only the writer
  /// coroutine calls write() and flush() once the handshake is done.
  boost::asio::awaitable<void> flush();
  /// Bytes encrypted and not yet sent.
  size_t pending_output() const { return out_.size(); }

 private:
  static int bio_write(BIO* bio, const char* data, size_t len, size_t* written);
  static int bio_read(BIO* bio, char* data, size_t len, size_t* read);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  // Reads from the socket into in_ (which OpenSSL has drained).
  boost::asio::awaitable<void> fill();
  boost::system::error_code last_error(int ret) const;

  boost::asio::ip::tcp::socket& socket_;
  SSL* ssl_ = nullptr;
  std::vector<uint8_t> in_;  // ciphertext from the socket, [in_begin_, in_end_) not yet given to OpenSSL
  size_t in_begin_ = 0, in_end_ = 0;
  std::vector<uint8_t> out_;      // ciphertext OpenSSL wrote, not yet sent
  std::vector<uint8_t> sending_;  // ciphertext of the socket write in progress
  std::function<void()> on_output_;
};

/// The subject of the peer's verified certificate in RFC 2253 form ("CN=alice,OU=eng,O=acme"),
/// as Kafka's X500Principal.getName() prints it; nullopt when the peer sent none.
std::optional<std::string> peer_certificate_subject(SSL* ssl);

}  // namespace ferry::broker
