// The server side of SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) through Cyrus SASL 2.1.28, fed
// from Ferry's own credential store. The broker's connection state machine frames the tokens
// (SaslHandshake / SaslAuthenticate, Kafka protocol guide "SASL Authentication Sequence"); this
// file only turns client tokens into challenges and a verdict.
//
// How credentials reach Cyrus: SCRAM secrets are served by an auxprop plugin ("ferry",
// registered with sasl_auxprop_add_plugin) as `authPassword` values in the form Cyrus's scram
// plugin parses (see scram_auth_password); PLAIN passwords are checked by a
// SASL_CB_SERVER_USERDB_CHECKPASS callback with scram_verify_password. Each session's callbacks
// carry the session as their context, and the auxprop plugin finds it through the connection's
// callback list, so concurrent sessions never share state. No plaintext password is stored.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "security/scram.h"

namespace ferry::security {

/// Kafka's default for `sasl.server.max.receive.size` (BrokerSecurityConfigs): the largest client
/// token a session accepts, in bytes.
inline constexpr std::size_t kSaslServerMaxReceiveSizeDefault = 524288;

/// Where credentials come from (the broker's MetadataStore implements it). Must be thread-safe:
/// sessions on every network thread call it.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  /// The stored SCRAM credential of `user` for mechanism `m`, or nullopt when there is none.
  virtual std::optional<ScramCredential> scram_credential(const std::string& user, ScramMechanism m) const = 0;
};

class SaslSession;

/// The process-wide Cyrus SASL server. sasl_server_init runs once, with no application name, so no
/// system or application config file is read: options come from SASL_CB_GETOPT (mech_list PLAIN
/// SCRAM-SHA-256 SCRAM-SHA-512, auxprop_plugin ferry, log_level never above DEBUG, so Cyrus's
/// PASS level, which traces passwords, is never on), plugins from SASL_CB_GETPATH (the libsasl2
/// plugin directory found at build time) and only libplain/libscram are loaded (SASL_CB_VERIFYFILE),
/// log lines go to spdlog (SASL_CB_LOG; a session's secrets are redacted from them).
/// The user realm is pinned to none (sasl_server_new with user_realm NULL), so Cyrus appends no
/// `@realm` to user names and a Cyrus user is exactly the Kafka user name, '@' included.
class SaslServerFactory {
 public:
  /// The factory; the first call initializes Cyrus. Throws std::runtime_error naming the Cyrus
  /// error if initialization fails (a later call tries again).
  static SaslServerFactory& instance();

  /// Mechanisms this Cyrus can serve among PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (in that order);
  /// fewer when a plugin is missing (e.g. libsasl2-modules not installed).
  std::vector<std::string> available_mechanisms() const;

  /// A session for one connection. `credentials` must outlive it. `client_address` and
  /// `local_address` are free text for log lines (e.g. "10.0.0.7:53122"); Cyrus is not given
  /// them (PLAIN and SCRAM do not use them). A CredentialSource that throws fails the login
  /// ("credential store error"); the exception never crosses Cyrus.
  /// `max_receive` bounds each client token (sasl.server.max.receive.size). Throws
  /// std::invalid_argument for a mechanism not available, std::runtime_error if Cyrus refuses.
  std::unique_ptr<SaslSession> start(const std::string& mechanism, const CredentialSource& credentials,
                                     const std::string& client_address, const std::string& local_address,
                                     std::size_t max_receive = kSaslServerMaxReceiveSizeDefault);

  SaslServerFactory(const SaslServerFactory&) = delete;
  SaslServerFactory& operator=(const SaslServerFactory&) = delete;

 private:
  SaslServerFactory();
  std::vector<std::string> mechanisms_;
  std::string server_name_;  // gethostname(), never resolved
};

/// One SASL exchange on one connection (one at a time: not for concurrent use; different
/// sessions may run on different threads at once).
class SaslSession {
 public:
  /// The outcome of one client token.
  struct Step {
    enum class State { Continue, Done, Failed } state;
    std::string challenge;  ///< bytes to send back (may be empty; on Done, SCRAM's server-final)
    std::string user;       ///< authenticated user name (no realm), when Done
    std::string error;      ///< when Failed: a reason for the audit log, never containing a secret
                            ///< (it may say "unknown user": never send it to the client)
  };

  /// Feeds one client token (the first call passes the client-first message / PLAIN token).
  /// Tokens over `max_receive` fail; so does an empty first token, anything after Done or
  /// Failed, an authorization id other than empty or the user (Kafka's rule for PLAIN and
  /// SCRAM), an unknown user and a wrong password. For SCRAM an unknown user is answered with a
  /// plausible server-first message (a salt stable per user name) and fails at the proof, like a
  /// wrong password, so the client cannot tell the two apart (RFC 5802 §9).
  Step step(std::string_view client_token);

  /// The mechanism name as negotiated ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512").
  const std::string& mechanism() const;

  ~SaslSession();
  SaslSession(const SaslSession&) = delete;
  SaslSession& operator=(const SaslSession&) = delete;

  struct Impl;  // defined in sasl_server.cc; public only for the C callbacks there

 private:
  friend class SaslServerFactory;
  explicit SaslSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::security
