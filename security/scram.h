// SCRAM credential maths as Kafka does it (RFC 5802, RFC 7677; Kafka's ScramFormatter and
// ScramMechanism; KIP-554 for the wire codes): what is stored for a user is (salt, iterations,
// StoredKey, ServerKey), never the password. Also the parser of Kafka's
// `kafka-storage format --add-scram` argument (Kafka's metadata/storage/ScramParser).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/base64.h"

namespace ferry::security {

/// SCRAM hash, with the AlterUserScramCredentials / UserScramCredentialRecord wire codes (KIP-554;
/// Kafka's ScramMechanism.type()). On-wire: never renumber.
enum class ScramMechanism : int8_t { Sha256 = 1, Sha512 = 2 };

/// "SCRAM-SHA-256" -> Sha256, "SCRAM-SHA-512" -> Sha512 (exact, case-sensitive, as Kafka's
/// ScramMechanism.forMechanismName); anything else -> nullopt.
std::optional<ScramMechanism> scram_mechanism_from_name(std::string_view name);
/// The SASL mechanism name: "SCRAM-SHA-256" or "SCRAM-SHA-512".
const char* scram_mechanism_name(ScramMechanism m);
/// Digest size in bytes of the mechanism's hash (32 or 64): the size of SaltedPassword,
/// StoredKey and ServerKey.
std::size_t scram_hash_size(ScramMechanism m);

/// Iteration bounds Kafka accepts for both mechanisms (ScramMechanism.minIterations/maxIterations).
inline constexpr int32_t kScramMinIterations = 4096, kScramMaxIterations = 16384;
/// Iterations used when none is given (Kafka's StorageTool and kafka-configs default).
inline constexpr int32_t kScramDefaultIterations = 4096;

/// What is stored for one user and mechanism: never the password (RFC 5802 §3). Byte strings are
/// raw (not base64).
struct ScramCredential {
  ScramMechanism mechanism;
  int32_t iterations;
  std::string salt, stored_key, server_key;  // raw bytes
  bool operator==(const ScramCredential&) const = default;
};

/// SaltedPassword = Hi(password, salt, i) (RFC 5802 §2.2: PBKDF2-HMAC with the mechanism's hash,
/// output one hash long), computed by OpenSSL. The password's UTF-8 bytes are used as given, with
/// no SASLprep, as Kafka's ScramFormatter does. Throws std::invalid_argument for iterations < 1.
std::string scram_salted_password(ScramMechanism, std::string_view password, std::string_view salt,
                                  int32_t iterations);

/// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
/// "Server Key") (RFC 5802 §3). This is what AlterUserScramCredentials upserts carry (the client
/// derives SaltedPassword). Throws std::invalid_argument when `salted_password` is not one hash
/// long, the salt is empty, or iterations < 1 (iteration bounds are the caller's policy).
ScramCredential scram_credential_from_salted_password(ScramMechanism, std::string_view salt,
                                                      std::string_view salted_password,
                                                      int32_t iterations);

/// The credential for `password`: salt is 32 random bytes (OpenSSL RAND_bytes) unless given.
/// Throws std::invalid_argument for iterations outside [kScramMinIterations, kScramMaxIterations]
/// (Kafka refuses them too) or an empty given salt; std::runtime_error if RAND_bytes fails.
ScramCredential make_scram_credential(ScramMechanism, std::string_view password, int32_t iterations,
                                      std::optional<std::string> salt = {});

/// HMAC(key, data) with the mechanism's hash (RFC 5802 §2.2's HMAC; RFC 7677 for SHA-256).
/// Throws std::runtime_error if OpenSSL fails.
std::string scram_hmac(ScramMechanism m, std::string_view key, std::string_view data);

/// PLAIN verified against a stored SCRAM credential: recomputes StoredKey from `password` with
/// the credential's salt and iterations and compares in constant time (CRYPTO_memcmp).
bool scram_verify_password(const ScramCredential&, std::string_view password);

/// The credential as Cyrus SASL's scram plugin reads an `authPassword` auxprop value:
/// `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`
/// (Cyrus 2.1.28 plugins/scram.c, scram_server_mech_step1). Standard base64 with padding.
std::string scram_auth_password(const ScramCredential&);

// Standard base64 (RFC 4648 §4), shared with the etcd client: common/base64.h.
using ferry::base64_decode;
using ferry::base64_encode;

/// One `--add-scram` argument of `kafka-storage format`.
struct AddScramSpec {
  std::string user;
  ScramCredential credential;
};

/// Parses Kafka's `kafka-storage format --add-scram` form (Kafka's metadata/storage/ScramParser):
/// `SCRAM-SHA-512=[name=admin,password=secret]`; keys `name` (required), `password` or
/// `saltedpassword` (base64; requires `salt`), `salt` (base64; random 32 bytes if absent),
/// `iterations` (default 4096, within [4096, 16384]). Components are split on ',' and at the first
/// '='; a value wrapped in double quotes is unquoted. Stricter than Kafka: a repeated key is an
/// error (Kafka keeps the last), and so is giving both `password` and `saltedpassword` (Kafka
/// silently prefers `password`). Throws std::invalid_argument naming what is wrong; the message
/// never contains the password or the salted password.
AddScramSpec parse_add_scram(std::string_view text);

}  // namespace ferry::security
