#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/client_properties.h"

namespace ferry::bench {

/// Records per produce case in broker mode unless --records says otherwise: 1.5 GB of 1 KiB
/// values (issue 16, item 3: at least 10 s or 1.5 GB, whichever comes later).
inline constexpr int64_t kBrokerDefaultRecords = 1'500'000;
/// Broker mode's default linger.ms of the latency producer: the produce cases' own, because the
/// latency rate is half their peak (with 0, librdkafka cannot send ~150,000 records/s one
/// request each: measured 13.8 s behind schedule, p99 715 ms, all of it client queueing).
inline constexpr int64_t kBrokerLatencyLingerMs = 5;
/// Mirror mode's latency load unless --latency-rate says otherwise: issue 16's replication
/// latency goal is stated at 10 MB/s (bytes of record values per second).
inline constexpr int64_t kMirrorLatencyBytesPerS = 10'000'000;

/// Settings of one ferry-bench run. The defaults keep a run against a local broker within
/// about three minutes even when every phase hits its time cap.
struct Options {
  /// Comma-separated HOST:PORT list handed to librdkafka's bootstrap.servers.
  std::string bootstrap;
  /// Records produced at least in each of the four produce cases (issue 16: 1.5 GB of 1 KiB
  /// records, past what the page cache absorbs; mirror and security modes have their own).
  int64_t records = kBrokerDefaultRecords;
  /// Each produce case keeps producing past `records` until it has run this long, so it
  /// measures the broker's sustained rate (dirty-page writeback included) and not a burst into
  /// the page cache. Broker mode only (0 in the other modes unless given). The caps of the
  /// produce cases and of the consume phase are this plus `seconds`.
  double min_seconds = 10.0;
  /// Bytes of record value (no key, no headers). At least 16 so a latency record can carry
  /// its send time and sequence number.
  int64_t record_size = 1024;
  /// Wall-clock cap, in seconds, on each produce case and on the consume phase; also the
  /// length of each of the two offset-commit runs (sync, async).
  double seconds = 10.0;
  /// Directory for the machine-limit and fsync-rate files; should be on the broker's
  /// log.dirs filesystem.
  std::string data_dir = "/tmp";
  /// Records per second sent during the end-to-end latency phase when --latency-rate is given;
  /// otherwise latency_plan() decides (the default here only when it has no rule).
  int64_t latency_rate = 2000;
  /// Length of the latency phase, in seconds.
  double latency_seconds = 5.0;
  /// linger.ms of the latency producer when --latency-linger-ms is given (latency_plan()
  /// decides otherwise). 0 sends every record in its own Produce request, which measures the
  /// broker's per-request path rather than client batching.
  int64_t latency_linger_ms = 0;
  /// Consumers that form the group of the rebalance phase; one more joins and leaves again.
  int64_t rebalance_members = 8;
  /// Partitions of the topic the rebalance group subscribes to.
  int64_t rebalance_partitions = 64;
  /// Partitions whose offsets every commit of the offset-commit phase carries.
  int64_t commit_partitions = 16;
  int64_t replication_factor = 1;   ///< of the topics the broker phases create
  int64_t min_insync_replicas = 2;  ///< their min.insync.replicas when replication_factor > 1

  /// Mirror mode (bench/mirror_mode.h) runs instead of the broker phases when this is set:
  /// `bootstrap` is then the mirror's source cluster and this its target cluster.
  std::string mirror_target;
  /// Base URL of the mirror's status listener ("http://HOST:PORT"), serving /healthz,
  /// /status and /metrics (docs/mirror.md, "Metrics and status").
  std::string mirror_status;
  /// The ferry-mirror executable the bench starts once the source holds its records.
  std::string mirror_bin;
  /// The TOML configuration handed to `mirror_bin --config`; it must list the flow
  /// bootstrap -> mirror_target and set [mirror] status.listener to mirror_status's port.
  std::string mirror_config;
  /// More ferry-mirror processes of the same flow, one per TOML file, started with the first
  /// and stopped with it: the flow's partitions are shared among them by its consumer group, so
  /// each has its own source connection and Fetch in flight (docs/mirror.md, "Across a WAN").
  /// They need no status listener; progress is read from the target.
  std::vector<std::string> mirror_extra_configs;
  /// Where the mirror's stdout and stderr go (appended); empty: <data_dir>/ferry-mirror.log.
  std::string mirror_log;
  /// When set, the mirror's process id is written here as soon as it is started, so a
  /// wrapper script can stop it even if the bench itself dies.
  std::string mirror_pid_file;
  /// Cap, in seconds, on the mirror phase: from starting the mirror to the target holding
  /// every record.
  double mirror_seconds = 60.0;
  /// Partitions of the topic the mirror copies in mirror mode.
  int64_t mirror_partitions = 4;

  /// librdkafka properties from `-X KEY=VALUE` (repeatable), applied to every client after the
  /// bench's own settings, with sasl.password.file / sasl.password.env already resolved into
  /// sasl.password. In security mode only the secured cases get the ssl.* and sasl.* ones.
  ClientProperties client_properties;

  /// Security mode (bench/security_mode.h) runs instead of the broker phases when this is set:
  /// the SSL listener of the broker whose PLAINTEXT listener is `bootstrap`.
  std::string security_ssl;
  /// Security mode: the same broker's SASL_SSL listener (SCRAM-SHA-512 by default; the
  /// mechanism, user and password come from -X).
  std::string security_sasl_ssl;
  /// Security mode: the same broker's SASL_PLAINTEXT listener, for the login-rate phase.
  std::string security_sasl_plaintext;
  /// Security mode: PLAINTEXT listener of a second broker configured like the first but with
  /// audit.log.events listing every category.
  std::string security_audit_all;
  /// Process id of the broker behind `bootstrap` (0: unknown). Broker and security modes then
  /// report its CPU per produce and consume case (PhaseCpu::broker_cores, broker_cpu_ms_per_mb).
  int64_t broker_pid = 0;
  /// Security mode: process id of the audit-all broker (0: unknown), as broker_pid.
  int64_t security_audit_all_pid = 0;
  /// Security mode: times every throughput case is run (odd rounds in reverse order); each
  /// case reports its best round.
  int64_t security_rounds = 2;
  /// Security mode: clients logging in in parallel in the login-rate phase.
  int64_t login_clients = 4;
  /// Security mode: length of each login-rate run (SCRAM, then PLAIN), in seconds.
  double login_seconds = 5.0;

  /// True when --records was given; mirror mode otherwise uses kMirrorDefaultRecords.
  bool records_given = false;
  /// True when --latency-seconds was given; mirror mode otherwise uses
  /// kMirrorDefaultLatencySeconds.
  bool latency_seconds_given = false;
  /// True when --latency-rate was given (see latency_rate).
  bool latency_rate_given = false;
  /// True when --latency-linger-ms was given (see latency_linger_ms).
  bool latency_linger_given = false;

  /// True when --min-seconds was given; mirror and security modes otherwise use 0.
  bool min_seconds_given = false;
  /// True when --seconds was given; security mode otherwise uses kSecurityDefaultSeconds.
  bool seconds_given = false;

  bool mirror_mode() const { return !mirror_target.empty(); }
  bool security_mode() const { return !security_ssl.empty(); }
};

/// Mirror mode's defaults where they differ from the broker benchmark's: enough data for the
/// copy to last seconds rather than startup-dominated milliseconds, and a latency phase long
/// enough for a stable p99 (issue 4, "Benchmark").
inline constexpr int64_t kMirrorDefaultRecords = 200'000;
inline constexpr double kMirrorDefaultLatencySeconds = 10.0;

/// Security mode's defaults: 1,000,000 records of 1 KiB (~1 GB) per case, so each case runs
/// for seconds on a small machine (issue 15, "Benchmark"), and a cap that lets it finish.
inline constexpr int64_t kSecurityDefaultRecords = 1'000'000;
inline constexpr double kSecurityDefaultSeconds = 60.0;

/// What parse_options() decided.
struct ParsedArgs {
  enum class Kind { run, help, usage_error };
  Kind kind = Kind::run;
  Options options;
  /// For usage_error: one line naming the offending flag and value.
  std::string error;
};

/// Parses `--flag value` and `--flag=value` arguments (CLI11; the last of a repeated flag wins)
/// against the option table in options.cc. `--help`/`-h` anywhere gives Kind::help. A bad value's
/// error reads "--flag 'value': what was expected". Never exits; the caller maps usage_error to
/// exit status 2.
ParsedArgs parse_options(int argc, char** argv);

/// The latency phase's load: its rate, its producer's linger.ms, and where the rate came from.
struct LatencyPlan {
  int64_t per_s = 0;
  int64_t linger_ms = 0;
  std::string rule;  ///< "--latency-rate", or the mode's rule with the figures it used
};

/// The one place that decides the latency phase's load. A flag given wins. Otherwise:
/// - broker mode: half the best of `acks_all_records_per_s` (the acks=all produce cases of the
///   same run; issue 16 asks for p99 at half the sustained peak), or the default rate when none
///   was measured (< 2 records/s); linger kBrokerLatencyLingerMs, the produce cases' own;
/// - mirror mode: kMirrorLatencyBytesPerS of record_size-byte values (issue 16 states the
///   replication p99 goal at 10 MB/s); linger 0, so the source adds no batching delay.
LatencyPlan latency_plan(const Options& options, const std::vector<double>& acks_all_records_per_s);

/// The --help text: CLI11's view of the same option table (metavar, help, default) in the bench's
/// layout, so flags and docs cannot drift.
std::string usage_text();

}  // namespace ferry::bench
