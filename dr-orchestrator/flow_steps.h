// The failover steps that drive the mirror flow (docs/dr.md "Failover"): `drain` (planned: wait
// for lag 0 and for active groups; unplanned: pause and count the loss) and `stop_flow` (pause,
// then the final checkpoint that translates every group). Rows of the state machine's table
// (failover_machine.h); private to ferry_dr_core. Each needs the context's flow (not nullptr).
#pragma once

#include "dr-orchestrator/failover_machine.h"
#include "dr-orchestrator/step_results.h"

namespace ferry::dr {

/// The planned drain, with `from` fenced: waits until the mirror's next_offset reaches `from`'s log
/// end offset on every partition of every topic the flow replicates, then until every active
/// consumer group on `from` has committed up to those ends, all within drain_timeout. Returns
/// the planned shape of DrainResult: loss_exact, rpo 0, end_offsets (what stop_flow checks the
/// pause against), groups_waited_for, groups_unsettled. Throws StepFailure on a timeout unless
/// force (the remaining lag is then the loss).
DrainResult drain_planned(const StepContext& c);

/// The unplanned drain, `from` gone: pauses the flow on every mirror process and counts the loss
/// per partition as the mirror's last view of `from`'s end minus next_offset (compute_loss; MM2
/// heartbeats excluded). That view is as old as the mirror's last read of the source's end offsets,
/// so unless the mirror read them after the pause from a reachable source the count is a LOWER
/// BOUND (describe_unplanned_loss). A partition of the flow's topics without a position has an
/// unknown loss; so has everything when the mirror does not answer. Throws StepFailure, unless
/// force, when the loss is unknown or the lower bound exceeds max_data_loss.
DrainResult drain_unplanned(const StepContext& c);

/// Pauses the flow on every process, checks (planned) that the target holds everything below
/// `drain`'s end_offsets, then asks one process for the final checkpoint, which translates and
/// applies every group's offsets on `to`. Unplanned: no final checkpoint (the source's commits
/// are gone). Throws StepFailure unless force.
StopFlowResult stop_flow(const StepContext& c, bool planned, const DrainResult& drain);

}  // namespace ferry::dr
