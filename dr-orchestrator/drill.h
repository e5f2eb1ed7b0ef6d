// `ferry-dr drill`: a rehearsal of disaster recovery under live traffic. A synthetic workload — an
// idempotent keyed producer and a consumer group, both on topic `ferry-dr.drill` and both
// following the bootstrap file the way a real application follows the redirect — runs while a
// planned failover moves the primary to the other region, the new primary is verified, and a
// failback moves it home. At the end every acknowledged record is accounted for.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/journal.h"

namespace ferry::dr {

/// The drill workload's topic and consumer group (the flows' topic and group filters must
/// include them; the drill refuses to start when the mirror does not list the topic in time).
inline constexpr const char* kDrillTopic = "ferry-dr.drill";

/// Knobs of the synthetic workload.
struct DrillOptions {
  int32_t partitions = 3;        ///< of kDrillTopic when the drill creates it
  int32_t rate = 200;            ///< records per second the producer offers
  int32_t warmup_seconds = 3;    ///< traffic before the failover starts
  int32_t hold_seconds = 3;      ///< traffic on the new primary before the failback
  int32_t settle_seconds = 30;   ///< at most this long for the consumer to read everything at the end
};

/// The drill's outcome: the document (shape in docs/dr.md "Drill report") and whether it passed
/// (RPO 0, nothing re-delivered, nothing produced twice, both operations ok, final health ok).
struct DrillResult {
  nlohmann::json report;
  bool passed = false;
};

/// Runs a drill under the operation lock held by `journal`. Refuses (DrError, Exit::bad_input)
/// when there is no flow in each direction between the primary and the other region, or
/// (Exit::failed) when a region is not healthy at the start or the mirror does not replicate
/// kDrillTopic within 30 s. Progress goes to `progress` about once a second.
DrillResult run_drill(const DrConfig& cfg, Journal& journal, AuditLog& audit, const DrillOptions& opts,
                      ProgressFn progress);

/// The drill report as Markdown.
std::string render_drill_markdown(const nlohmann::json& report);

}  // namespace ferry::dr
