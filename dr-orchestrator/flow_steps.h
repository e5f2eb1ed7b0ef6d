// The failover steps that drive the mirror flow (docs/dr.md "Failover"): `drain` (planned: wait
// for lag 0 and for active groups; unplanned: pause and count the loss) and `stop_flow` (pause,
// then the final checkpoint that translates every group). Split from failover.cc, which runs the
// state machine; private to ferry_dr_core.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/errors.h"

namespace ferry::dr {

/// A step that cannot complete: `what` is the reason, `exit` the process exit code, `data` goes to
/// the journal's step_failed. `refuse` marks a precheck refusal (nothing was changed).
struct StepFailure : std::runtime_error {
  StepFailure(const std::string& what, Exit exit = Exit::failed, nlohmann::json data = nlohmann::json::object(),
              bool refuse = false)
      : std::runtime_error(what), exit(exit), data(std::move(data)), refuse(refuse) {}
  Exit exit;
  nlohmann::json data;
  bool refuse;
};

/// What the flow steps need of the operation running them.
struct FlowStepContext {
  const RegionConfig& from;      ///< the old primary (the flow's source)
  const RegionConfig& to;        ///< the new primary (the flow's target)
  const FlowConfig& flow;        ///< from -> to
  std::chrono::milliseconds drain_timeout;  ///< policy drain.timeout.seconds
  bool force;                    ///< --force: accept a loss or a failed checkpoint instead of failing
  int64_t max_data_loss;         ///< --max-data-loss (records): the unplanned drain refuses a larger lower bound
  AuditLog& audit;
  const std::string& op_id;
};

/// The planned drain, with `from` fenced: waits until the mirror's next_offset reaches `from`'s log
/// end offset on every partition of every topic the flow replicates, then until every active
/// consumer group on `from` has committed up to those ends, all within drain_timeout. Returns the
/// journal data: {"planned": true, "loss_exact": true, "loss", "rpo_records", "end_offsets" (what
/// stop_flow checks the pause against), "groups_waited_for", "groups_unsettled", "summary"}.
/// Throws StepFailure on a timeout unless force (the remaining lag is then the loss).
nlohmann::json drain_planned(const FlowStepContext& c);

/// The unplanned drain, `from` gone: pauses the flow on every mirror process and counts the loss
/// per partition as the mirror's last view of `from`'s end minus next_offset (compute_loss; MM2
/// heartbeats excluded). That view is as old as the mirror's last read of the source's end offsets,
/// so unless the mirror read them after the pause from a reachable source the count is a LOWER
/// BOUND (describe_unplanned_loss). A partition of the flow's topics without a position has an
/// unknown loss; so has everything when the mirror does not answer. Returns {"planned": false,
/// "loss_exact", "loss", "rpo_records" (exact, else null), "rpo_records_lower_bound" (null when
/// unknown), "source_view_as_of_ms", "source_view_age_ms" (null: age unknown), "source_reachable",
/// "loss_text", "unknown_partitions"?, "partitions", "paused_everywhere"?, "summary"}. Throws
/// StepFailure, unless force, when the loss is unknown or the lower bound exceeds max_data_loss.
nlohmann::json drain_unplanned(const FlowStepContext& c);

/// Pauses the flow on every process, checks (planned) that the target holds everything below
/// `drain_data`'s end_offsets, then asks one process for the final checkpoint, which translates
/// and applies every group's offsets on `to`. Unplanned: no final checkpoint (the source's
/// commits are gone). Returns {"paused", "pause_errors", "translated", "reason", "groups",
/// "checkpoints_emitted"?, "pause_pending"?, "summary"}. Throws StepFailure unless force.
nlohmann::json stop_flow(const FlowStepContext& c, bool planned, const nlohmann::json& drain_data);

}  // namespace ferry::dr
