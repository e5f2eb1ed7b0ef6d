// The typed results of the failover / failback steps (docs/dr.md "Failover"), one struct per step,
// and their journal form. A step's result is the `data` of its `step_end` journal event: it is
// written with to_json() and read back by later steps (and by a later operation: failback's
// keep_aside reads the drain of the failover before it) with from_json().
//
// The JSON keys are on-wire: journals written by earlier ferry-dr versions are read with the same
// keys, and the same objects are the "step <name>" audit entries' details. Reading is strict: a
// key every shape of a result carries is required, and its absence (or a value of another type)
// throws StepDataError naming the step and the key, never a default. Keys that only some shapes
// carry (e.g. the estimate of an unreachable source in precheck) are std::optional fields; where
// another field says which shape it is (precheck's from_reachable, fence's fenced) the key is
// required for that shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/health.h"
#include "dr-orchestrator/mirror_client.h"

namespace ferry::dr {

/// A step's journal data that does not have the keys its type requires. what() is
/// "step '<step>': key \"<path>\" is missing" (or "... is not <type>"); exit 4 like any journal
/// that cannot be trusted.
class StepDataError : public DrError {
 public:
  StepDataError(std::string step, std::string key, const std::string& what)
      : DrError(Exit::corrupt_journal, what), step_(std::move(step)), key_(std::move(key)) {}
  const std::string& step() const { return step_; }
  const std::string& key() const { return key_; }  ///< dotted path, e.g. "loss[2].to_offset"

 private:
  std::string step_;
  std::string key_;
};

/// [from_offset, to_offset) of one partition: records lost, or kept aside. `records` is
/// to_offset - from_offset as written. JSON {"topic","partition","from_offset","to_offset","records"}.
struct OffsetRange {
  std::string topic;
  int32_t partition = 0;
  int64_t from_offset = 0;
  int64_t to_offset = 0;
  int64_t records = 0;
  bool operator==(const OffsetRange&) const = default;
};

/// One partition without a position at the mirror. JSON {"topic","partition"}.
struct PartitionRef {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const PartitionRef&) const = default;
};

/// A partition's log end offset on the old primary after the fence. JSON {"topic","partition","end_offset"}.
struct EndOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t end_offset = 0;
  bool operator==(const EndOffset&) const = default;
};

/// An active consumer group that had not consumed everything when the drain timed out.
/// JSON {"group","records_unconsumed"}.
struct UnsettledGroup {
  std::string group;
  int64_t records_unconsumed = 0;
  bool operator==(const UnsettledGroup&) const = default;
};

/// `precheck`: the mode decision. Keys: planned, from_reachable, from_error, to_state, to_reasons,
/// from_role, to_role, summary; when FROM is unreachable also estimated_loss_lower_bound and
/// source_view_age_ms (each an integer or null).
struct PrecheckResult {
  static constexpr const char* kStep = "precheck";
  bool planned = false;         ///< FROM answered: drain to lag 0 (the operation's mode)
  bool from_reachable = false;  ///< same value; kept apart for the journal's readers
  std::string from_error;
  std::string to_state;  ///< RegionState of TO
  std::vector<std::string> to_reasons;
  std::string from_role;
  std::string to_role;
  /// Unreachable FROM only (outer optional = key present): the mirror's lower bound of the loss
  /// (inner nullopt = unknown, accepted with --force) and the age of its view (null: unknown).
  std::optional<std::optional<int64_t>> estimated_loss_lower_bound;
  std::optional<std::optional<int64_t>> source_view_age_ms;
  std::string summary;
};

/// What failback's keep_aside measured of the earlier unplanned failover (report "earlier_loss").
struct EarlierLoss {
  std::string op_id;
  std::optional<int64_t> estimated_lower_bound;  ///< what that failover estimated (null: unknown)
  std::optional<int64_t> source_view_age_ms;
  std::optional<int64_t> exact;  ///< records kept aside; null when some partition's position was unknown
  std::vector<PartitionRef> unknown_partitions;
  int64_t records_in_known_partitions = 0;
  bool operator==(const EarlierLoss&) const = default;
};

/// `keep_aside`. Keys: kept_aside, summary; when an earlier unplanned failover left TO behind also
/// records, from_op, earlier_loss (all three or none).
struct KeepAsideResult {
  static constexpr const char* kStep = "keep_aside";
  std::vector<OffsetRange> kept_aside;
  struct Earlier {
    int64_t records = 0;
    std::string from_op;
    EarlierLoss loss;
  };
  std::optional<Earlier> earlier;
  std::string summary;
};

/// `sync_flow`. Keys: skipped (true) and summary when unplanned or without a flow; otherwise
/// fenced_target, flow_running, summary.
struct SyncFlowResult {
  static constexpr const char* kStep = "sync_flow";
  bool skipped = false;
  bool fenced_target = false;  ///< TO was writable and was set to standby until promoted
  bool flow_running = false;
  std::string summary;
};

/// `fence`. Keys: fenced, summary; when not fenced also reason.
struct FenceResult {
  static constexpr const char* kStep = "fence";
  bool fenced = false;
  std::string reason;  ///< why not (FROM unreachable)
  std::string summary;
};

/// `drain` (flow_steps.h). Keys of every shape: planned, loss_exact, loss, rpo_records,
/// rpo_records_lower_bound, summary. Planned and complete: end_offsets, groups_waited_for,
/// groups_unsettled. Unplanned: the describe_unplanned_loss() keys (source_view_as_of_ms,
/// source_view_age_ms, source_reachable, loss_text) and partitions; paused_everywhere when the
/// pause reached every process; loss_unknown and unknown_partitions when some partition had no
/// position (--force); reason when the loss is unknown.
/// What ferry-dr watch's last view of a flow (flow_view.h) says about partitions whose loss the
/// mirror cannot tell (docs/dr.md "Watch's flow views"). The target held everything below
/// `next_offset` when the view was taken and holds at least as much now, so of the records the
/// source held then (below `source_end_offset`) at most source_end_offset - next_offset per
/// partition were lost. Records the source appended after the view are not bounded by it: the
/// figure is an upper bound of the loss among the records written up to `inputs_as_of_ms` only.
/// JSON {"records_at_most", "inputs_as_of_ms", "ranges", "not_in_view", "text"}.
struct WatchLossBound {
  int64_t records_at_most = 0;            ///< sum over `ranges`
  int64_t inputs_as_of_ms = 0;            ///< the OLDEST source end offset read among the partitions
  std::vector<OffsetRange> ranges;        ///< [next_offset, source_end_offset) per partition with a gap
  std::vector<PartitionRef> not_in_view;  ///< asked for, but watch never saw them
  std::string text;                       ///< one sentence for people
  bool operator==(const WatchLossBound&) const = default;
};

struct DrainResult {
  static constexpr const char* kStep = "drain";
  bool planned = false;
  bool loss_exact = false;
  std::vector<OffsetRange> loss;
  /// A planned drain that timed out (--force) with FROM's log end offsets unreadable: the loss
  /// list is then [{"error": this}] instead of ranges.
  std::optional<std::string> loss_error;
  std::optional<int64_t> rpo_records;              ///< exact loss, null when unknown
  std::optional<int64_t> rpo_records_lower_bound;  ///< null when unknown
  // planned, lag 0 reached
  std::optional<std::vector<EndOffset>> end_offsets;  ///< what stop_flow checks the pause against
  std::optional<std::vector<std::string>> groups_waited_for;
  std::optional<std::vector<UnsettledGroup>> groups_unsettled;
  // unplanned (key present = outer optional)
  std::optional<std::optional<int64_t>> source_view_as_of_ms;
  std::optional<std::optional<int64_t>> source_view_age_ms;
  std::optional<std::optional<bool>> source_reachable;
  std::optional<std::string> loss_text;
  std::optional<std::vector<FlowPartitionLag>> partitions;  ///< the mirror's positions, merged over processes
  std::optional<bool> paused_everywhere;
  std::optional<bool> loss_unknown;
  std::optional<std::vector<PartitionRef>> unknown_partitions;
  /// With unknown_partitions: what watch's last view of the flow bounds of them (absent: no view).
  std::optional<WatchLossBound> watch_bound;
  std::optional<std::string> reason;
  std::string summary;
};

/// `stop_flow` (flow_steps.h). Keys of every shape: groups, translated, summary. With a flow:
/// paused, pause_errors, reason; planned also checkpoints_emitted; unplanned also pause_pending.
struct StopFlowResult {
  static constexpr const char* kStep = "stop_flow";
  std::optional<bool> paused;
  std::optional<bool> pause_pending;  ///< a 504: the mirror stopped reading, leaving the group in the background
  std::optional<std::vector<std::string>> pause_errors;
  bool translated = false;  ///< the final checkpoint applied every group's offsets to TO
  std::optional<std::string> reason;
  std::optional<int64_t> checkpoints_emitted;
  std::vector<CheckpointGroup> groups;
  std::string summary;
};

/// `promote`. Keys: role ("primary"), summary.
struct PromoteResult {
  static constexpr const char* kStep = "promote";
  std::string role = "primary";
  std::string summary;
};

/// `redirect`. Keys: bootstrap_file, servers, summary; with a redirect.hook also hook_exit and
/// hook_output.
struct RedirectResult {
  static constexpr const char* kStep = "redirect";
  std::string bootstrap_file;
  std::string servers;
  std::optional<int> hook_exit;
  std::optional<std::string> hook_output;  ///< its stdout+stderr, the last 400 bytes
  std::string summary;
};

/// `reverse`. Keys: started, summary; flow when a reverse flow is configured; reason when not started.
struct ReverseResult {
  static constexpr const char* kStep = "reverse";
  bool started = false;
  std::optional<std::string> flow;
  std::optional<std::string> reason;
  std::string summary;
};

/// `verify`. Keys: topic, partition, offset, acked_ms, consumed_ms, rto_ms, summary.
struct VerifyResult {
  static constexpr const char* kStep = "verify";
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t acked_ms = 0;
  int64_t consumed_ms = 0;
  int64_t rto_ms = 0;  ///< operation start -> canary acknowledged on TO
  std::string summary;
};

/// `report`. Keys: path (the .md), final_healthy, summary.
struct ReportResult {
  static constexpr const char* kStep = "report";
  std::string path;
  bool final_healthy = false;
  std::string summary;
};

/// The `rollback` step's data: step_begin {"reason"}; step_end {"unfenced"?, "flow_resumed"?,
/// "flow_not_resumed"?} (what was undone; the keys of what was not are absent).
struct RollbackResult {
  static constexpr const char* kStep = "rollback";
  std::optional<std::string> unfenced;          ///< FROM, set back to primary
  std::optional<std::string> flow_resumed;      ///< the FROM->TO flow, resumed
  std::optional<std::string> flow_not_resumed;  ///< why resuming it failed (the rollback still ends)
};

/// What the operator asked for, as op_begin's "op.extra" (journal.h OpSpec::extra). Keys: planned,
/// force, max_data_loss.
struct OpOptions {
  static constexpr const char* kStep = "op_begin";
  bool planned = false;       ///< --planned (failback: always)
  bool force = false;         ///< --force
  int64_t max_data_loss = 0;  ///< --max-data-loss, or policy max.data.loss.records
};

/// The `rollback` step's inputs (its step_begin data). Keys: reason; undo (the steps whose
/// rollbacks run, in that order) since this ferry-dr version, absent in older journals.
struct RollbackPlan {
  static constexpr const char* kStep = "rollback";
  std::string reason;
  std::optional<std::vector<std::string>> undo;
};

void to_json(nlohmann::json& j, const OpOptions& v);
void from_json(const nlohmann::json& j, OpOptions& v);
void to_json(nlohmann::json& j, const RollbackPlan& v);
void from_json(const nlohmann::json& j, RollbackPlan& v);
void to_json(nlohmann::json& j, const OffsetRange& v);
void from_json(const nlohmann::json& j, OffsetRange& v);
void to_json(nlohmann::json& j, const PartitionRef& v);
void to_json(nlohmann::json& j, const EndOffset& v);
void to_json(nlohmann::json& j, const UnsettledGroup& v);
void to_json(nlohmann::json& j, const EarlierLoss& v);
void to_json(nlohmann::json& j, const FlowPartitionLag& v);
void to_json(nlohmann::json& j, const WatchLossBound& v);
void to_json(nlohmann::json& j, const CheckpointGroup& v);

// Each result: to_json writes exactly its shape's keys; from_json throws StepDataError.
void to_json(nlohmann::json& j, const PrecheckResult& v);
void from_json(const nlohmann::json& j, PrecheckResult& v);
void to_json(nlohmann::json& j, const KeepAsideResult& v);
void from_json(const nlohmann::json& j, KeepAsideResult& v);
void to_json(nlohmann::json& j, const SyncFlowResult& v);
void from_json(const nlohmann::json& j, SyncFlowResult& v);
void to_json(nlohmann::json& j, const FenceResult& v);
void from_json(const nlohmann::json& j, FenceResult& v);
void to_json(nlohmann::json& j, const DrainResult& v);
void from_json(const nlohmann::json& j, DrainResult& v);
void to_json(nlohmann::json& j, const StopFlowResult& v);
void from_json(const nlohmann::json& j, StopFlowResult& v);
void to_json(nlohmann::json& j, const PromoteResult& v);
void from_json(const nlohmann::json& j, PromoteResult& v);
void to_json(nlohmann::json& j, const RedirectResult& v);
void from_json(const nlohmann::json& j, RedirectResult& v);
void to_json(nlohmann::json& j, const ReverseResult& v);
void from_json(const nlohmann::json& j, ReverseResult& v);
void to_json(nlohmann::json& j, const VerifyResult& v);
void from_json(const nlohmann::json& j, VerifyResult& v);
void to_json(nlohmann::json& j, const ReportResult& v);
void from_json(const nlohmann::json& j, ReportResult& v);
void to_json(nlohmann::json& j, const RollbackResult& v);
void from_json(const nlohmann::json& j, RollbackResult& v);

}  // namespace ferry::dr
