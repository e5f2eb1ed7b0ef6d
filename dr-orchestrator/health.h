// The health model: what one probe of a region (Kafka protocol) and of a flow (every ferry-mirror
// /status of it) found, and the pure evaluation of those facts into states with reasons. Nothing
// here does I/O, so every rule is unit-testable from structs or mirror JSON (docs/dr.md "Health
// model" states the same rules for operators).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/config.h"

namespace ferry::dr {

/// One partition as Metadata (leader, replicas, ISR), DescribeConfigs (min.insync.replicas of its
/// topic) and ListOffsets (log end offset) report it.
struct PartitionHealth {
  std::string topic;
  int32_t partition = 0;
  int32_t leader = -1;  ///< broker id, -1 = no leader (offline)
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  int32_t min_isr = 1;          ///< the topic's min.insync.replicas (1 when it could not be read)
  int64_t log_end_offset = -1;  ///< high watermark, -1 when ListOffsets failed for it

  bool offline() const { return leader < 0; }
  /// |ISR| < |replicas|.
  bool under_replicated() const { return isr.size() < replicas.size(); }
  /// |ISR| < min.insync.replicas: acks=all producers are refused (NOT_ENOUGH_REPLICAS).
  bool under_min_isr() const { return static_cast<int64_t>(isr.size()) < min_isr; }
};

/// What one probe of a region found. When `reachable` is false only `region`, `error` and
/// `probed_at_ms` mean anything.
struct RegionHealth {
  std::string region;
  bool reachable = false;        ///< Metadata answered within the timeout
  int32_t brokers = 0;           ///< brokers listed in Metadata
  int32_t controller_id = -1;    ///< Metadata's controller id, -1 = none
  int32_t topics = 0;            ///< user topics (internal topics excluded)
  int32_t partitions = 0;        ///< partitions of those topics
  int32_t offline = 0;           ///< partitions without a leader
  int32_t under_replicated = 0;  ///< partitions with |ISR| < |replicas|
  int32_t under_min_isr = 0;     ///< partitions with |ISR| < min.insync.replicas
  std::string role;              ///< "primary" | "standby" | "" (not read)
  std::string error;             ///< why the probe (or a part of it) failed, "" = none
  /// Metrics scrape: nullopt = no metrics.url; true/false = the scrape succeeded.
  std::optional<bool> metrics_up;
  int64_t probed_at_ms = 0;      ///< wall clock when the probe finished
  std::vector<PartitionHealth> partition_details;  ///< sorted by (topic, partition)
};

/// Recounts offline / under_replicated / under_min_isr / partitions / topics from
/// partition_details (kafka_admin's probe uses it; tests build RegionHealth through it).
void recount(RegionHealth& h);

/// One partition of a flow as the mirror reports it (the /status "partitions" entry).
struct FlowPartitionLag {
  std::string topic;
  int32_t partition = 0;
  std::string remote_topic;
  int64_t next_offset = 0;        ///< the target holds every source record below this offset
  int64_t source_end_offset = 0;  ///< the source's log end offset as the mirror last read it
  int64_t lag_records = 0;        ///< max(0, source_end_offset - next_offset)
  /// Wall-clock ms since the epoch when the mirror read source_end_offset from the source;
  /// nullopt when the mirror does not say (its age is then unknown).
  std::optional<int64_t> source_end_offset_ms;
};

/// The ferry-mirror /status view of one flow (one process's answer), as mirror_client parses it.
struct MirrorFlowStatus {
  std::string flow;  ///< "source->target"
  std::string source;
  std::string target;
  std::string state;  ///< "running" | "paused"
  std::optional<bool> source_reachable;  ///< the mirror could reach the source just now; nullopt: not said
  bool healthy = false;
  std::vector<std::string> current_errors;
  std::optional<std::string> last_error;
  std::optional<int64_t> last_checkpoint_ms;      ///< wall ms of the last completed checkpoint pass
  std::optional<int64_t> heartbeat_last_replicated_ms;
  std::optional<int64_t> heartbeat_age_ms;
  /// The answer had a "heartbeat" object at all (mirrors before the control API have none).
  bool reports_heartbeat = false;
  int64_t records_replicated = 0;
  std::vector<FlowPartitionLag> partitions;
  /// The source topics the flow replicates (its "topics" list: source name -> partition count),
  /// including partitions not assigned to a process yet; a drain must wait for those too.
  std::map<std::string, int32_t> topics;
};

/// What one probe of a flow found, combined over every status URL of the flow.
struct FlowHealth {
  std::string flow;  ///< "source->target"
  std::string source;
  std::string target;
  bool reachable = false;  ///< every status URL answered and knew the flow
  int32_t urls_total = 0;
  int32_t urls_reachable = 0;
  std::string state;  ///< "running" | "paused" | "mixed" (processes disagree) | "" (none answered)
  bool healthy = false;  ///< every answering process says healthy
  int64_t lag_records = 0;  ///< sum over partitions (exact: from the mirrors' own offsets)
  std::vector<FlowPartitionLag> partitions;  ///< per (topic, partition), sorted
  std::map<std::string, int32_t> topics;  ///< source topic -> partitions, over every process
  std::optional<double> heartbeat_age_s;   ///< youngest heartbeat any process replicated
  /// Some process reports heartbeats; when none does, heartbeat age is not judged (unknown).
  bool heartbeat_reported = false;
  std::optional<double> checkpoint_age_s;  ///< age of the newest checkpoint pass of any process
  std::vector<std::string> errors;  ///< per-URL failures and the mirrors' current_errors
  int64_t probed_at_ms = 0;
};

/// One status URL's answer for combine_flow(): the flow's status or why there is none.
struct MirrorAnswer {
  std::string url;
  std::optional<MirrorFlowStatus> status;  ///< nullopt: unreachable, or the flow is unknown there
  std::string error;                       ///< set when status is nullopt
};

/// Combines the answers of every process of `flow` (taken at wall clock `now_ms`). With several
/// processes each owns a share of the partitions (one consumer group), so partitions are merged
/// (a partition reported twice, e.g. during a rebalance, keeps the highest next_offset); ages take
/// the youngest, since any process's heartbeat or checkpoint proves the flow alive.
FlowHealth combine_flow(const FlowConfig& flow, const std::vector<MirrorAnswer>& answers, int64_t now_ms);

/// Region states, worst last. On-wire (JSON, metrics): never rename.
enum class RegionState { healthy, degraded, down };
/// Flow states. `paused` is deliberate (e.g. the reverse flow of an active-passive pair) and does
/// not make `status` exit 1.
enum class FlowState { ok, paused, lagging, stale, unreachable };

const char* to_string(RegionState s);
const char* to_string(FlowState s);

/// A region's state with every reason that led to it (empty for healthy).
struct RegionVerdict {
  std::string region;
  RegionState state = RegionState::down;
  std::vector<std::string> reasons;
};

/// A flow's state with every reason that led to it (empty for ok).
struct FlowVerdict {
  std::string flow;
  FlowState state = FlowState::unreachable;
  std::vector<std::string> reasons;
};

/// down: not reachable, or no broker / no controller. degraded: any offline, under-replicated or
/// under-min-ISR partition, a failed metrics scrape, or a partial probe error. healthy otherwise.
RegionVerdict evaluate_region(const RegionHealth& h);

/// unreachable: some status URL did not answer or did not know the flow (a DR decision needs
/// every process). paused: every process paused. stale: heartbeat older than
/// policy.heartbeat_max_age or none replicated yet (only judged when the mirrors report
/// heartbeats at all), or last checkpoint older than policy.checkpoint_max_age,
/// or a mirror reports a current error. lagging: lag_records > policy.max_data_loss_records (a
/// failover now would lose more than policy allows). ok otherwise. The worst applies; all
/// reasons are listed.
FlowVerdict evaluate_flow(const FlowHealth& h, const PolicyConfig& policy);

/// One full status snapshot: what `ferry-dr status` prints and `watch` serves at /status.
struct StatusReport {
  int64_t ts_ms = 0;
  std::string primary;  ///< from state.json ("" = ferry-dr never set one)
  std::vector<RegionHealth> regions;  ///< in config order (sorted by name)
  std::vector<RegionVerdict> region_verdicts;  ///< same order as regions
  std::vector<FlowHealth> flows;      ///< in config order
  std::vector<FlowVerdict> flow_verdicts;  ///< same order as flows
  /// The journal's view, filled by collect_status(): {"lock_holder": {pid, command, started_ms}
  /// or null, "pending_op": {op_id, kind, from, to, mode, steps: [{name, began, ended, failed}]}
  /// or null, "last_op": {op_id, kind, from, to, outcome, end_ms} or null, "error": string or
  /// null}. null when not collected (make_report leaves it so).
  nlohmann::json operations;
  /// Set when the journal or state.json is corrupt: `status` then exits 4 (after printing).
  std::string journal_error;
  /// Unhealthy states of the deployment as a whole (evaluate_deployment()), each a reason.
  std::vector<std::string> problems;

  /// Every region healthy, every flow ok or paused and no problem: `status` exits 0, else 1.
  bool all_healthy() const;
};

/// Problems no single region or flow shows (docs/dr.md "Health"): more than one reachable region
/// answering in the primary role (both accept application writes: split brain), and an operation
/// pending in the journal (`operations` as StatusReport::operations; while it is pending, e.g.
/// after ferry-dr died between fence and promote, possibly no region accepts writes). Returns one
/// reason per problem, empty when none.
std::vector<std::string> evaluate_deployment(const std::vector<RegionHealth>& regions, const nlohmann::json& operations);

/// Builds the report (evaluating each region and flow with `policy`).
StatusReport make_report(std::vector<RegionHealth> regions, std::vector<FlowHealth> flows, const PolicyConfig& policy,
                         std::string primary, int64_t now_ms);

/// The JSON of `status --json` and GET /status (shape in docs/dr.md). Partition details are
/// included only for partitions that are offline, under-replicated or under min ISR.
nlohmann::json to_json(const StatusReport& r);
/// Aligned text tables (regions, then flows, then reasons) for people.
std::string to_table(const StatusReport& r);

}  // namespace ferry::dr
