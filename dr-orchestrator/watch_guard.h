// What `ferry-dr watch` does besides observing (docs/dr.md "Watch"): it fences regions that must
// not accept application writes, and finishes an operation whose ferry-dr died. Both act only
// under the operation lock and are audited.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/health.h"

namespace ferry::dr {

/// The split-brain guard. A region of `status` that is reachable and answers in the primary role is
/// set to the standby role (IncrementalAlterConfigs, as the fence step does) when
///   - <state.dir>/state.json names another region primary (an old primary that returned), or
///   - state.json is absent (no operation ever ran) and the region is the target of a flow that is
///     running: it receives the source's records, so applications must not write to it too
///     (issue 13: both regions start as primary).
/// Runs under the operation lock, audited as "watch fence". Does nothing when
/// watch.fence.stale.primary is false, when another ferry-dr holds the lock or an operation is
/// pending (it owns the roles until it ends), or when state.json changed under the lock. Never
/// throws: failures are logged and audited ("failed") and retried at the next evaluation. Returns
/// the regions it fenced.
std::vector<std::string> fence_stale_primaries(const DrConfig& cfg, const StatusReport& status, AuditLog* audit);

/// watch.auto.resume: when the journal has a pending operation and nobody holds <state.dir>/lock
/// (flock: the kernel released it when its holder died), takes the lock and runs
/// Operation::resume(), audited as "watch resume" (started, then ok/failed with the outcome).
/// `last_attempt_ms` (in/out) rate-limits attempts to one per `retry_ms` so a resume that keeps
/// failing (e.g. the target is down) does not run on every evaluation. Returns the result when it
/// ran; nullopt when disabled, nothing is pending, the holder is alive, or it is too early.
/// Never throws (errors are logged and audited).
std::optional<OperationResult> resume_abandoned_operation(const DrConfig& cfg, AuditLog* audit, int64_t& last_attempt_ms,
                                                          int64_t retry_ms = 30'000);

}  // namespace ferry::dr
