// The client side of SASL over Cyrus SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512): the conversation
// a Kafka client runs inside SaslAuthenticate (KIP-152; Kafka's SaslClientAuthenticator). Used by
// Ferry's protocol client (client/wire_client) and by the SASL server's tests and bench, so the
// server is exercised by the same library and code a Ferry client logs in with.
#pragma once

#include <sasl/sasl.h>

#include <string>
#include <string_view>
#include <vector>

namespace ferry::security {

/// One client SASL exchange (sasl_client_new per exchange; sasl_client_init once per process, no
/// config file). Callbacks answer the user (SASL_CB_AUTHNAME), the authorization id (SASL_CB_USER)
/// and the password (SASL_CB_PASS); the password copy is zeroed on destruction. For SCRAM, Cyrus
/// checks the server's final signature in the last step() (RFC 5802 §3). Not thread-safe; one per
/// exchange.
class SaslClient {
 public:
  /// `mechanism`: a SASL mechanism name ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512").
  /// `server_host`: the broker's host name as Cyrus's service host (service "kafka").
  /// `authzid` empty: the client asks for no separate authorization id.
  /// Throws std::runtime_error naming the Cyrus call when sasl_client_init or sasl_client_new fails.
  SaslClient(std::string mechanism, std::string user, std::string password,
             const std::string& server_host = "localhost", std::string authzid = "");
  ~SaslClient();
  SaslClient(const SaslClient&) = delete;
  SaslClient& operator=(const SaslClient&) = delete;

  /// sasl_client_start: the initial response into `*token`. Returns the Cyrus code: SASL_CONTINUE
  /// (more steps), SASL_OK (done) or an error (detail() says why).
  int start(std::string* token);
  /// sasl_client_step with the server's challenge; the response into `*token`. Same codes.
  int step(std::string_view challenge, std::string* token);
  /// Cyrus's text for the last error (sasl_errdetail), never containing the password.
  std::string detail() const;
  const std::string& mechanism() const { return mechanism_; }

 private:
  static int get_simple(void* context, int id, const char** result, unsigned* len);
  static int get_secret(sasl_conn_t* conn, void* context, int id, sasl_secret_t** secret);

  std::string mechanism_, user_, authzid_;
  std::vector<unsigned char> secret_;  // sasl_secret_t storage
  sasl_callback_t callbacks_[4]{};
  sasl_conn_t* conn_ = nullptr;
};

}  // namespace ferry::security
