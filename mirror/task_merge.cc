#include "mirror/task_merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

namespace ferry::mirror {
namespace {

metrics::JsonReply json_reply(int status, const nlohmann::json& body) { return {status, body.dump()}; }

metrics::JsonReply unreadable(size_t task, const std::string& what) {
  return json_reply(500, nlohmann::json(ErrorReply{fmt::format("task {} answered something unreadable: {}", task, what),
                                                   std::nullopt}));
}

template <typename T>
T parse(const metrics::JsonReply& r) {
  return nlohmann::json::parse(r.body).get<T>();
}

}  // namespace

std::vector<PartitionStatus> merge_task_partitions(std::vector<std::vector<PartitionStatus>> per_task) {
  std::map<std::pair<std::string, int32_t>, PartitionStatus> by_key;
  for (auto& task : per_task)
    for (auto& p : task) {
      auto [it, inserted] = by_key.try_emplace({p.topic, p.partition}, p);
      if (!inserted && p.next_offset > it->second.next_offset) it->second = std::move(p);
    }
  std::vector<PartitionStatus> out;
  out.reserve(by_key.size());
  for (auto& [_, p] : by_key) out.push_back(std::move(p));
  return out;
}

FlowStatus merge_task_statuses(std::vector<FlowStatus> tasks) {
  FlowStatus out = tasks.at(0);
  auto add = [](std::optional<int64_t>& into, const std::optional<int64_t>& v) {
    if (v) into = into.value_or(0) + *v;
  };
  auto newest = [](std::optional<int64_t>& into, const std::optional<int64_t>& v) {
    if (v && (!into || *v > *into)) into = v;
  };
  std::map<std::string, TopicStatus> topics;
  std::vector<std::vector<PartitionStatus>> partitions;
  std::vector<std::string> errors;
  for (const auto& t : out.topics) topics[t.source] = t;
  partitions.push_back(std::move(out.partitions));
  if (out.current_errors) errors = *out.current_errors;
  for (size_t i = 1; i < tasks.size(); ++i) {
    auto& t = tasks[i];
    out.records_replicated += t.records_replicated;
    out.records_skipped_as_loops += t.records_skipped_as_loops;
    add(out.checkpoints_emitted, t.checkpoints_emitted);
    add(out.group_offsets_synced, t.group_offsets_synced);
    add(out.source_anomalies, t.source_anomalies);
    for (const auto& topic : t.topics) {
      auto [it, inserted] = topics.try_emplace(topic.source, topic);
      if (!inserted) it->second.partitions = std::max(it->second.partitions, topic.partitions);
    }
    if (t.last_error && t.last_error_ms >= out.last_error_ms) {
      out.last_error = t.last_error;
      out.last_error_ms = t.last_error_ms;
    }
    newest(out.last_checkpoint_ms, t.last_checkpoint_ms);
    if (t.heartbeat && t.heartbeat->last_replicated_ms &&
        (!out.heartbeat || !out.heartbeat->last_replicated_ms ||
         *t.heartbeat->last_replicated_ms > *out.heartbeat->last_replicated_ms))
      out.heartbeat = t.heartbeat;
    if (t.current_errors)
      for (auto& e : *t.current_errors)
        if (std::find(errors.begin(), errors.end(), e) == errors.end()) errors.push_back(std::move(e));
    if (t.source_reachable) out.source_reachable = out.source_reachable.value_or(true) && *t.source_reachable;
    if (t.state == "paused") out.state = "paused";
    partitions.push_back(std::move(t.partitions));
  }
  out.topics.clear();
  for (auto& [_, t] : topics) out.topics.push_back(std::move(t));
  out.partitions = merge_task_partitions(std::move(partitions));
  if (out.current_errors || !errors.empty()) {
    out.healthy = errors.empty();
    out.current_errors = std::move(errors);
  }
  return out;
}

metrics::JsonReply merge_pause_replies(const std::vector<metrics::JsonReply>& tasks) {
  std::optional<PauseReply> merged;
  std::vector<std::vector<PartitionStatus>> paused, in_flight;
  std::vector<std::string> timeouts;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& r = tasks[i];
    try {
      if (r.status == 200) {
        auto p = parse<PauseReply>(r);
        paused.push_back(std::move(p.partitions));
        if (!merged) {
          merged = std::move(p);
        } else if (p.source_reachable) {
          merged->source_reachable = merged->source_reachable.value_or(true) && *p.source_reachable;
        }
      } else if (r.status == 504) {
        auto e = parse<ErrorReply>(r);
        timeouts.push_back(std::move(e.error));
        if (e.partitions) in_flight.push_back(std::move(*e.partitions));
      } else {
        return r;
      }
    } catch (const std::exception& e) {
      return unreadable(i, e.what());
    }
  }
  if (!timeouts.empty()) {
    ErrorReply e{timeouts.front(), merge_task_partitions(std::move(in_flight))};
    if (timeouts.size() > 1) e.error += fmt::format(" ({} of {} tasks)", timeouts.size(), tasks.size());
    return json_reply(504, nlohmann::json(e));
  }
  if (!merged) return json_reply(500, nlohmann::json(ErrorReply{"the flow has no task", std::nullopt}));
  merged->partitions = merge_task_partitions(std::move(paused));
  return json_reply(200, nlohmann::json(*merged));
}

metrics::JsonReply merge_checkpoint_replies(const std::vector<metrics::JsonReply>& tasks) {
  std::optional<CheckpointReply> merged;
  std::map<std::string, size_t> group_at;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& r = tasks[i];
    if (r.status != 200) return r;
    CheckpointReply c;
    try {
      c = parse<CheckpointReply>(r);
    } catch (const std::exception& e) {
      return unreadable(i, e.what());
    }
    if (!merged) {
      merged.emplace();
      merged->flow = c.flow;
    }
    merged->checkpoints_emitted += c.checkpoints_emitted;
    for (auto& g : c.groups) {
      auto [it, inserted] = group_at.try_emplace(g.group, merged->groups.size());
      if (inserted) {
        merged->groups.push_back(std::move(g));
        continue;
      }
      auto& into = merged->groups[it->second];
      if (into.synced && !g.synced) {
        into.synced = false;
        into.reason = g.reason;
      }
      for (auto& o : g.offsets) into.offsets.push_back(std::move(o));
    }
  }
  if (!merged) return json_reply(500, nlohmann::json(ErrorReply{"the flow has no task", std::nullopt}));
  return json_reply(200, nlohmann::json(*merged));
}

}  // namespace ferry::mirror
