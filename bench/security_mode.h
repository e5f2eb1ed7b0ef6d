#pragma once

#include "bench/options.h"

namespace ferry::bench {

/// The security benchmark (issue 15, "Benchmark"), run instead of the broker phases when
/// --security-ssl is given. Against one broker with PLAINTEXT (--bootstrap), SSL
/// (--security-ssl), SASL_SSL (--security-sasl-ssl) and SASL_PLAINTEXT
/// (--security-sasl-plaintext) listeners, and a second broker configured the same but with
/// audit.log.events = every category (--security-audit-all):
/// (1) produce then consume --records records of --record-size bytes, acks=1, on a fresh
/// 4-partition topic per case: PLAINTEXT, SSL, SASL_SSL, and PLAINTEXT of the audit-all
/// broker; each secured case as a ratio of PLAINTEXT (goal ≥ 0.8) and audit-all as a ratio of
/// the default audit set. Every case runs --security-rounds times (odd rounds in reverse case
/// order) and reports its fastest round; (2) logins per second on SASL_PLAINTEXT with --login-clients
/// parallel clients for --login-seconds, SCRAM (the -X sasl.mechanism, SCRAM-SHA-512 by
/// default) then PLAIN. Prints one JSON document on stdout (bench/README.md, "Security
/// mode"). Returns 0 whether or not the goal was met; throws BenchError on failure, naming
/// the case and a broker that stopped answering.
int run_security_mode(const Options& options);

}  // namespace ferry::bench
