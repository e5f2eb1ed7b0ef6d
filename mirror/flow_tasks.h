// One configured flow run as `tasks.max` tasks (MM2's key): each task is a Flow (flow.h), a member
// of the flow's consumer group with its own source consumer, target producers and threads, so the
// flow's partitions are shared between the tasks of this process exactly as between processes
// (docs/mirror.md, "Scaling out"). Several tasks put several Fetches in flight to each source
// broker and work on several cores. To the control API and /status the tasks are one flow
// (task_merge.h). With tasks.max = 1 every call goes to the one Flow unchanged.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/metrics_http.h"
#include "mirror/config.h"
#include "mirror/flow.h"

namespace ferry::mirror {

/// The tasks of one flow. Heartbeats are emitted by task 0 only (MM2 has one heartbeat task);
/// checkpoints and group offset sync by every task for the partitions it holds, like processes.
/// Thread-safe as Flow is.
class FlowTasks {
 public:
  /// Makes flow.tasks_max Flows; does not connect yet. Throws what Flow's constructor throws.
  FlowTasks(const FlowConfig& flow, const std::map<std::string, ClusterConfig>& clusters, metrics::Registry& metrics);

  /// Flow::start of every task.
  void start();
  /// Flow::request_stop of every task.
  void request_stop();
  /// Flow::stop of every task by the one `deadline`; false when any task's threads are left running.
  bool stop(std::chrono::steady_clock::time_point deadline);
  /// Flow::live_threads of every task, prefixed "task N " when there are several.
  std::vector<std::string> live_threads() const;
  /// The flow's one /status entry (merge_task_statuses).
  FlowStatus status() const;
  /// Every task is asked to pause before any is waited for, so no task takes over partitions
  /// another is giving up; then each drains within `timeout` (concurrently). One answer
  /// (merge_pause_replies).
  metrics::JsonReply pause(std::chrono::milliseconds timeout);
  /// Flow::resume of every task; the answer of task 0.
  metrics::JsonReply resume();
  /// Running: a checkpoint pass of every task, each for its partitions, concurrently
  /// (merge_checkpoint_replies). Paused: task 0's pass, which rebuilds the translation of every
  /// partition it did not keep from the target and the offset-syncs topic, so each partition is
  /// checkpointed once.
  metrics::JsonReply checkpoint(std::chrono::milliseconds timeout);

  const FlowConfig& config() const { return tasks_.front()->config(); }

 private:
  std::vector<std::unique_ptr<Flow>> tasks_;
};

}  // namespace ferry::mirror
