#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/options.h"

namespace ferry::bench {

/// How long the classic consumer-group protocol (JoinGroup / SyncGroup / Heartbeat /
/// LeaveGroup, eager "range" assignment) takes to hand every member its partitions. A group
/// counts as settled when every member's latest rebalance callback was an assignment and
/// the assignments together hold each partition exactly once. Times are taken inside the
/// members' rebalance callbacks, so they include librdkafka's own steps (coordinator
/// round trips, leader-side assignment) but not when the bench notices.
struct RebalanceResult {
  std::string topic;
  std::string group;
  /// Members of the initial group; one more joins and then leaves.
  int members = 0;
  int partitions = 0;
  /// group.initial.rebalance.delay.ms (KIP-134) as the broker reported it, or nullopt when
  /// it did not say. The broker holds the first rebalance of an empty group this long after
  /// the last member arrived, so it is part of `initial_ms`, deliberately not subtracted.
  std::optional<int64_t> broker_initial_delay_ms;
  /// From the last initial member's subscribe() to the group being settled.
  double initial_ms = 0;
  /// From the first to the last initial subscribe(): how staggered the arrivals were.
  double subscribe_spread_ms = 0;
  /// From the extra member's subscribe() until all members + 1 settled on new assignments.
  double join_ms = 0;
  /// The part of `join_ms` after the last existing member revoked its partitions, i.e. once
  /// every member had learned of the rebalance from a Heartbeat answer: the rejoin plus the
  /// broker's JoinGroup/SyncGroup round, without the client-paced heartbeat wait.
  double join_after_all_revoked_ms = 0;
  /// From the start of rd_kafka_consumer_close() on the extra member until the remaining
  /// members settled on new assignments.
  double leave_ms = 0;
  /// The same part of `leave_ms`, for the remaining members.
  double leave_after_all_revoked_ms = 0;
  /// heartbeat.interval.ms of every member. Existing members learn that a rebalance started
  /// only from a Heartbeat answer (REBALANCE_IN_PROGRESS), so join and leave times include
  /// a client-paced wait; librdkafka 2.0.2 was seen sending heartbeats 0.1 to 0.5 s apart
  /// at this setting.
  int64_t heartbeat_interval_ms = 0;
  /// Rebalance callbacks that carried an error other than assign/revoke, plus consumer
  /// errors surfaced by rd_kafka_consumer_poll().
  int64_t client_errors = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> client_settings;
};

/// Runs --rebalance-members consumers (one poll thread each) in a fresh group over `topic`,
/// which must exist with --rebalance-partitions partitions. All clients, including the one
/// that joins later, are created, connected and polling before any clock starts. Measures
/// the initial formation, one member joining and that member leaving cleanly, then closes
/// every member. Throws BenchError when the group does not settle within 30 s of a step
/// (plus the broker's initial delay for the first one).
RebalanceResult run_rebalance(const Options& options, const std::string& topic,
                              const std::string& group,
                              std::optional<int64_t> broker_initial_delay_ms);

}  // namespace ferry::bench
