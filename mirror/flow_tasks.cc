#include "mirror/flow_tasks.h"

#include <fmt/format.h>

#include <future>

#include "mirror/task_merge.h"

namespace ferry::mirror {
namespace {

// f(task) for every task at once, each on its own thread; the answers in task order.
template <typename F>
std::vector<metrics::JsonReply> on_every_task(const std::vector<std::unique_ptr<Flow>>& tasks, F f) {
  std::vector<std::future<metrics::JsonReply>> pending;
  for (const auto& t : tasks) pending.push_back(std::async(std::launch::async, [&f, task = t.get()] { return f(*task); }));
  std::vector<metrics::JsonReply> out;
  for (auto& p : pending) out.push_back(p.get());
  return out;
}

}  // namespace

FlowTasks::FlowTasks(const FlowConfig& flow, const std::map<std::string, ClusterConfig>& clusters,
                     metrics::Registry& metrics) {
  for (int32_t i = 0; i < std::max<int32_t>(1, flow.tasks_max); ++i) {
    FlowConfig task = flow;
    if (i > 0) task.emit_heartbeats_enabled = false;
    tasks_.push_back(std::make_unique<Flow>(std::move(task), clusters, metrics));
  }
}

void FlowTasks::start() {
  for (auto& t : tasks_) t->start();
}

void FlowTasks::request_stop() {
  for (auto& t : tasks_) t->request_stop();
}

bool FlowTasks::stop(std::chrono::steady_clock::time_point deadline) {
  bool all = true;
  for (auto& t : tasks_) all = t->stop(deadline) && all;
  return all;
}

std::vector<std::string> FlowTasks::live_threads() const {
  if (tasks_.size() == 1) return tasks_.front()->live_threads();
  std::vector<std::string> out;
  for (size_t i = 0; i < tasks_.size(); ++i)
    for (const auto& name : tasks_[i]->live_threads()) out.push_back(fmt::format("task {} {}", i, name));
  return out;
}

FlowStatus FlowTasks::status() const {
  if (tasks_.size() == 1) return tasks_.front()->status();
  std::vector<FlowStatus> all;
  for (const auto& t : tasks_) all.push_back(t->status());
  return merge_task_statuses(std::move(all));
}

metrics::JsonReply FlowTasks::pause(std::chrono::milliseconds timeout) {
  if (tasks_.size() == 1) return tasks_.front()->pause(timeout);
  for (auto& t : tasks_) t->request_pause();
  return merge_pause_replies(on_every_task(tasks_, [timeout](Flow& t) { return t.pause(timeout); }));
}

metrics::JsonReply FlowTasks::resume() {
  for (size_t i = 1; i < tasks_.size(); ++i) tasks_[i]->resume();  // always 200
  return tasks_.front()->resume();
}

metrics::JsonReply FlowTasks::checkpoint(std::chrono::milliseconds timeout) {
  if (tasks_.size() == 1 || tasks_.front()->paused()) return tasks_.front()->checkpoint(timeout);
  return merge_checkpoint_replies(on_every_task(tasks_, [timeout](Flow& t) { return t.checkpoint(timeout); }));
}

}  // namespace ferry::mirror
