#pragma once

#include <cstdint>
#include <string>

#include "bench/latency_bench.h"

namespace ferry::bench {

/// One login-rate run: `clients` threads each logging in over and over for `seconds`.
struct LoginRun {
  /// "SCRAM-SHA-512", "SCRAM-SHA-256" or "PLAIN".
  std::string mechanism;
  int clients = 0;
  int64_t logins = 0;
  double seconds = 0;
  /// Connect → SaslHandshake → SaslAuthenticate round(s) → close, per login.
  LatencySummary latency;

  double logins_per_s() const { return seconds > 0 ? logins / seconds : 0; }
};

/// Logs in to the SASL_PLAINTEXT listener `address` (HOST:PORT) as `user` with `clients`
/// threads for `seconds`: every login is a new TCP connection, SaslHandshake v1 (Kafka API
/// 17) naming `mechanism`, then SaslAuthenticate v1 (API 36) rounds — one for PLAIN
/// (RFC 4616), two for SCRAM (RFC 5802 / RFC 7677; KIP-84) — and close. The client is the
/// bench's own (OpenSSL for the SCRAM arithmetic) and derives SCRAM's SaltedPassword once per
/// (salt, iterations) rather than per login, so the 2 cores measure the broker's work, not a
/// client PBKDF2 that a real client would pay on its own machine. The server's final message
/// (v=) is checked. Throws BenchError on the first failed login (error code and message).
LoginRun run_logins(const std::string& address, const std::string& mechanism,
                    const std::string& user, const std::string& password, int clients,
                    double seconds);

}  // namespace ferry::bench
