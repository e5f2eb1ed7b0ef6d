// ferry-dr watch's last view of each flow, kept in `<state.dir>/flow-views.json` (docs/dr.md
// "Watch's flow views"): per partition what the mirror last reported (next_offset: the target
// holds every source record below it; source_end_offset and the wall-clock ms it was read). An
// unplanned failover through a mirror that restarted after the source died (so it knows no
// position) bounds part of the loss with it instead of calling it all unknown.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dr-orchestrator/health.h"
#include "dr-orchestrator/step_results.h"

namespace ferry::dr {

/// One partition of a flow as `watch` last saw it.
struct ViewedPartition {
  FlowPartitionLag position;  ///< as the mirror reported it
  int64_t seen_ms = 0;        ///< wall-clock ms of the watch evaluation that saw it
};

/// The file name under state.dir.
inline constexpr const char* kFlowViewsFile = "flow-views.json";

/// Merges the flows `flows` (one watch evaluation) into `<state_dir>/flow-views.json`: every
/// partition a reachable flow reported replaces its earlier entry; partitions not reported keep
/// theirs (a mirror that restarted reports none). Written durably (tmp, fsync, rename, fsync the
/// directory: atomic_write_file). Throws DrError when the file cannot be written.
void save_flow_views(const std::filesystem::path& state_dir, const std::vector<FlowHealth>& flows);

/// The viewed partitions of flow `flow` ("source->target"); empty when none was ever saved, or
/// when the file is unreadable (logged as a warning: the view is only a help).
std::vector<ViewedPartition> load_flow_view(const std::filesystem::path& state_dir, const std::string& flow);

/// The bound for `partitions` from `view` (load_flow_view); nullopt when the view holds none of
/// them. `now_ms` gives the age in the text.
std::optional<WatchLossBound> watch_loss_bound(const std::vector<ViewedPartition>& view,
                                               const std::vector<PartitionRef>& partitions, int64_t now_ms);

}  // namespace ferry::dr
