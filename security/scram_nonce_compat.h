// Wire compatibility with librdkafka's SCRAM client (every release before 2.6.1, including
// Debian 12's 2.0.2, which every Ferry component uses): its client-final message carries
// r=<client nonce><server-first nonce> — the client nonce twice — instead of RFC 5802 §5.1's
// r=<server-first nonce> (librdkafka PR #4895). Apache Kafka accepts a final nonce that ENDS with
// the server-first nonce (ScramSaslServer since the CVE-2024-56128 fix, Kafka 3.8.1); Cyrus SASL
// requires equality and rejects the login ("Nonce mismatch").
//
// The proof in such a message is computed over the client's own AuthMessage (RFC 5802 §3), so the
// nonce cannot simply be fixed: the proof is re-based. With ClientSignature = HMAC(StoredKey,
// AuthMessage), ClientKey = proof XOR ClientSignature(client's AuthMessage), and the proof Cyrus
// checks is ClientKey XOR ClientSignature(fixed AuthMessage). Cyrus still makes the decision
// (H(ClientKey) == StoredKey): the login succeeds exactly when the client proved the password and
// echoed the fresh server nonce, Kafka's rule. Cyrus's server signature is then re-signed over the
// client's AuthMessage so the client can verify the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "security/scram.h"

namespace ferry::security {

/// A client-final message rewritten for Cyrus, with the two AuthMessages (RFC 5802 §3).
struct ScramNonceRewrite {
  std::string client_final;         ///< what Cyrus gets: r= fixed, p= re-based
  std::string client_auth_message;  ///< the AuthMessage the client signed
  std::string fixed_auth_message;   ///< the AuthMessage Cyrus verifies and signs
};

/// When `client_final` has the librdkafka shape (its nonce is the client nonce of
/// `client_first_bare` followed by the nonce of `server_first`), the message Cyrus accepts;
/// nullopt for every other message (it goes to Cyrus unchanged and is judged there).
/// `credential` is the user's stored credential for the session's mechanism.
std::optional<ScramNonceRewrite> rewrite_doubled_nonce(const ScramCredential& credential,
                                                       std::string_view client_first_bare,
                                                       std::string_view server_first, std::string_view client_final);

/// Cyrus's server-final message ("v=<base64 ServerSignature>") re-signed over the client's
/// AuthMessage; anything else (an "e=" error) is returned unchanged.
std::string resign_server_final(const ScramCredential& credential, const ScramNonceRewrite& rewrite,
                                std::string_view server_final);

/// The client-first-bare part of a client-first message (after the GS2 header "n,," or
/// "n,a=<authzid>,"); the whole message when it has no GS2 header.
std::string_view scram_client_first_bare(std::string_view client_first);

/// The user name of a client-first-bare ("n=<name>", with RFC 5802's =2C and =3D decoded).
std::string scram_user_of(std::string_view client_first_bare);

}  // namespace ferry::security
