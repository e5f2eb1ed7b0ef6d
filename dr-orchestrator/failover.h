// The failover / failback state machine (issue 5; operator view in docs/dr.md "Failover").
//
// One operation moves the primary role from region FROM to region TO through journaled steps:
//
//   precheck    refuse early: unknown or current-primary target, target down, planned without a
//               reachable source, estimated loss over budget without --force
//   keep_aside  TO lost records at an earlier unplanned failover away from it: list what it holds
//               beyond what was replicated then (kept in its log, never deleted)
//   sync_flow   planned: make sure TO is standby (not writable by applications) and the FROM->TO
//               flow is running, so the drain below has something to wait for
//   fence       FROM reachable: set its ferry.cluster.role to standby (Produce from anyone but the
//               mirror then fails with POLICY_VIOLATION) and read it back
//   drain       planned: wait until the mirror holds every record of FROM (lag 0 against FROM's
//               log end offsets, read after the fence) and active consumer groups have committed
//               everything; unplanned: pause the flow and record the exact per-partition loss
//   stop_flow   pause the flow on every mirror process, emit a final checkpoint, and apply every
//               group's translated offsets to TO
//   promote     set TO's role to primary, read it back, record it in state.json
//   redirect    atomically replace the bootstrap file with TO's servers, run the redirect hook
//   reverse     FROM reachable and a TO->FROM flow configured: resume it (ready for failback)
//   verify      canary: produce one record on TO (idempotent, acks=all) and consume it back; its
//               acknowledgement is the RTO's end
//   report      write <state.dir>/reports/<op_id>.{md,json}
//
// The steps are one table (failover_machine.h), each with a typed result (step_results.h). Every
// step is journaled before and after it runs (journal.h, fdatasync) and is idempotent; a re-run
// reads the decisions of earlier steps from the journal and never re-measures them. A step that
// fails before `promote` runs the rollbacks of the steps that began, newest first (resume the
// flow, un-fence FROM) and ends the operation "rolled_back"; a failure from `promote` on leaves
// the operation pending for `ferry-dr resume`, because the new primary is already serving.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/backends.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/health.h"
#include "dr-orchestrator/journal.h"

namespace ferry::dr {

struct StepContext;
struct StepFailure;

/// The step names, in order; they are the journal's step keys (on-wire: never rename).
const std::vector<std::string>& failover_steps();

/// What the operator asked for.
struct FailoverRequest {
  std::string kind = "failover";  ///< "failover" | "failback" (failback: `to` is filled by plan_failback)
  std::string to;                 ///< the region to promote
  bool planned = false;           ///< --planned: refuse unless FROM is reachable; drain to lag 0
  bool force = false;             ///< --force: proceed over the loss budget and without group translation
  std::optional<int64_t> max_data_loss;  ///< --max-data-loss; default policy.max.data.loss.records
};

/// How an operation ended, for the CLI and the drill.
struct OperationResult {
  std::string op_id;
  std::string outcome;  ///< "ok" | "refused" | "rolled_back" | "failed" (still pending)
  Exit exit = Exit::ok;
  std::string reason;   ///< why it did not end "ok"
  nlohmann::json report;  ///< the report document (report.h), also written to reports/
  std::string report_md_path;
};

/// Where progress lines go (stderr for the CLI; the drill prefixes them). May be empty.
using ProgressFn = std::function<void(const std::string& line)>;

/// Called with ("before" | "after", step) right after the journal recorded that step's begin, or
/// its end (also ("before", "rollback")). The default, crash_point(), is the FERRY_DR_CRASH_AT
/// failpoint; unit tests pass one that throws to stop an operation there (a simulated crash) or
/// to fail a step (a StepFailure thrown at "before" is that step's failure).
using Failpoint = std::function<void(const std::string& when, const std::string& step)>;

/// Test failpoint (docs/dr.md "Testing hooks"): when the environment variable FERRY_DR_CRASH_AT is
/// "before:<step>" or "after:<step>", ferry-dr kills itself with SIGKILL right after journaling
/// that step's begin, or its end. Lets the integration tests crash the orchestrator at every step.
void crash_point(const std::string& when, const std::string& step);

/// Runs the state machine for one operation.
class Operation {
 public:
  /// `journal` holds the operation lock for the whole run; `audit` gets one entry per decision and
  /// step (fail-closed: an audit write failure stops the operation like a step failure).
  Operation(const DrConfig& cfg, Journal& journal, AuditLog& audit, ProgressFn progress = {});
  /// The same, acting on the regions, mirrors and canary through `io` (the unit tests' doubles),
  /// stopping at `failpoint`.
  Operation(const DrConfig& cfg, Journal& journal, AuditLog& audit, Backends io, ProgressFn progress,
            Failpoint failpoint = crash_point);
  ~Operation();

  /// Starts a new failover or failback. Refusals that need no I/O (unknown region: Exit::bad_input;
  /// an operation already pending: Exit::failed) throw DrError before anything is journaled; every
  /// later refusal or failure is journaled and returned.
  OperationResult start(const FailoverRequest& req);

  /// Continues the pending operation (after ferry-dr was killed, or after a failure from
  /// `promote` on was fixed). Throws DrError(Exit::failed) when nothing is pending.
  OperationResult resume();

 private:
  OperationResult run(const std::string& op_id);
  OperationResult fail(StepContext& c, const std::string& step, const StepFailure& f);
  OperationResult roll_back(StepContext& c, const std::string& reason, Exit exit);
  OperationResult finish(StepContext& c);
  const OpRecord& op(const std::string& op_id) const;

  const DrConfig& cfg_;
  Journal& journal_;
  AuditLog& audit_;
  std::unique_ptr<RealBackends> real_;  ///< set when constructed without `io`
  Backends io_;
  ProgressFn progress_;
  Failpoint failpoint_;
};

/// The region the primary role moved away from in the newest completed failover, i.e. where
/// `failback` goes; nullopt when the journal has no completed failover.
std::optional<std::string> failback_target(const std::vector<OpRecord>& history);

/// Per-partition records lost by an unplanned failover: source end offset minus what the target
/// holds. `mirror` lists the mirror's partitions (next_offset = the target holds everything below,
/// source_end_offset = the mirror's last view of the source's end); `source_end` overrides that
/// view with offsets read from the source brokers themselves when they were reachable. Returns
/// only partitions with a loss, as [{"topic","partition","from_offset","to_offset","records"}]
/// (the records at offsets [from_offset, to_offset) of the source were not replicated).
/// Partitions of MM2's heartbeats topic and of ferry-dr's canary topic (and of their remote
/// copies) are skipped: they are the mirror's and ferry-dr's own records, not application data
/// (is_application_topic).
nlohmann::json compute_loss(const nlohmann::json& mirror_partitions, const nlohmann::json& source_end);

/// True for MM2's heartbeats topic "heartbeats" and remote copies of it ("<alias>.heartbeats").
bool is_heartbeats_topic(const std::string& topic);

/// True for ferry-dr's canary topic (canary.h kCanaryTopic, or kLegacyCanaryTopic) and remote
/// copies of it ("<alias>.<topic>", or the topic itself under the identity policy). A flow whose
/// topic filter does not exclude it copies each region's canary records to the other region;
/// they verify one operation on one region and are never application data.
bool is_canary_topic(const std::string& topic);

/// False for the topics whose records are no application's (is_heartbeats_topic,
/// is_canary_topic): a failover neither waits for them to be replicated nor counts them as loss.
bool is_application_topic(const std::string& topic);

/// What an unplanned loss count is (docs/dr.md "Unplanned failover"). `loss` is compute_loss()'s
/// result; `mirror_partitions` the partitions it came from, each with "source_end_offset_ms"
/// (wall ms when the mirror read that source end offset; null or absent = unknown);
/// `source_reachable` what the mirror's pause answer said (nullopt: not said); `paused_at_ms` when
/// the pause was sent. The count is exact only when the source was reachable and every end offset
/// was read at or after the pause; otherwise it is a lower bound as of the OLDEST read. Returns
/// {"loss_exact", "rpo_records" (exact, else null), "rpo_records_lower_bound", "source_view_as_of_ms"
/// and "source_view_age_ms" (now_ms minus it; both null when any partition's read time is unknown),
/// "source_reachable", "loss_text" (one sentence for people)}.
nlohmann::json describe_unplanned_loss(const nlohmann::json& loss, const nlohmann::json& mirror_partitions,
                                       std::optional<bool> source_reachable, int64_t paused_at_ms, int64_t now_ms);

}  // namespace ferry::dr
