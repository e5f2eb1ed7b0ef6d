// How the answers of a flow's tasks (tasks.max > 1, flow_tasks.h) become the flow's one answer:
// /status entry, pause answer, checkpoint answer (docs/mirror.md, "Control API"; the shapes are
// status_types.h). Pure; in ferry_mirror_core.
#pragma once

#include <vector>

#include "common/metrics_http.h"
#include "mirror/status_types.h"

namespace ferry::mirror {

/// Partitions reported by several tasks, as one list sorted by (topic, partition). A partition
/// listed by two tasks (one kept it from before a pause, another took it over since) appears once,
/// with the entry whose next_offset is larger: the target holds every record below it.
std::vector<PartitionStatus> merge_task_partitions(std::vector<std::vector<PartitionStatus>> per_task);

/// One flow's /status entry from its tasks' entries (at least one; all of the same flow):
/// counters summed (records_replicated, records_skipped_as_loops, checkpoints_emitted,
/// group_offsets_synced, source_anomalies); topics united (largest partition count); partitions
/// merged (merge_task_partitions); last_error the newest; last_checkpoint_ms and the heartbeat the
/// newest; current_errors united in order and healthy when none; source_reachable when every task
/// reaches the source; state "paused" when any task is paused (tasks pause and resume together,
/// so they differ only for the moment of a control call).
FlowStatus merge_task_statuses(std::vector<FlowStatus> tasks);

/// One answer to POST .../pause from the tasks' answers (JSON bodies of PauseReply or ErrorReply):
/// 200 PauseReply with the merged partitions and source_reachable when every task answered 200;
/// else 504 with every 504's partitions still in flight when no task answered otherwise; else the
/// first other error. Bodies that do not parse give 500 naming the task.
metrics::JsonReply merge_pause_replies(const std::vector<metrics::JsonReply>& tasks);

/// One answer to POST .../checkpoint (CheckpointReply): checkpoints_emitted summed; each group
/// once, with its offsets from every task, synced when every task synced it, the first reason of
/// a task that did not. Any non-200 answer is returned as it is (the first one).
metrics::JsonReply merge_checkpoint_replies(const std::vector<metrics::JsonReply>& tasks);

}  // namespace ferry::mirror
