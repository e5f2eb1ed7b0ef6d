// Collecting a StatusReport (probe every region and flow) and the `watch` loop's bookkeeping:
// Prometheus gauges and once-per-change logging.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/metrics.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/health.h"

namespace ferry::dr {

/// Probes every region (kafka_admin probe) and every flow (mirror_client probe_flow) of `cfg`,
/// reads the primary from state.json, and evaluates. Never throws for unreachable parts; they
/// show as down/unreachable. A corrupt state.json is reported as primary "" plus a log warning.
StatusReport collect_status(const DrConfig& cfg);

class RegionOps;
class MirrorOps;
/// The same through `regions` and `mirrors` (backends.h; the failover's report step passes its
/// own, so its unit tests need no processes). `regions` is called from several threads at once.
StatusReport collect_status(const DrConfig& cfg, RegionOps& regions, MirrorOps& mirrors);

/// Keeps the watch metrics and logs every state change once (not every tick).
class Watcher {
 public:
  explicit Watcher(metrics::Registry& registry) : registry_(registry) {}

  /// Updates the gauges from `r` (ferry_dr_region_up, _role, _offline_partitions,
  /// _under_replicated_partitions, _under_min_isr_partitions; ferry_dr_flow_up, _lag_records,
  /// _heartbeat_age_seconds, _checkpoint_age_seconds; ferry_dr_primary_regions,
  /// ferry_dr_operation_pending, ferry_dr_healthy; names and labels in docs/dr.md) and logs,
  /// at warn for a worse state and info for a better one, every region/flow whose state or role
  /// differs from the previous report. Returns the number of changes logged. The first report
  /// logs each state once as the starting state.
  int observe(const StatusReport& r);

 private:
  metrics::Registry& registry_;
  std::map<std::string, std::string> region_state_;
  std::map<std::string, std::string> region_role_;
  std::map<std::string, std::string> flow_state_;
  std::string problems_;  ///< the last report's problems, joined
};

}  // namespace ferry::dr
