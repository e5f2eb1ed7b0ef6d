#include "dr-orchestrator/flow_view.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "common/clock.h"
#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/journal.h"

namespace ferry::dr {

using json = nlohmann::json;

namespace {

// The file: {"flows": {"<source>-><target>": [{"topic", "partition", "remote_topic", "next_offset",
// "source_end_offset", "source_end_offset_ms", "seen_ms"}, ...]}}.
json read_views(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return json::object();
  std::stringstream s;
  s << in.rdbuf();
  json j = json::parse(s.str());
  if (!j.is_object() || !j.contains("flows") || !j["flows"].is_object())
    throw std::runtime_error("no \"flows\" object");
  return j;
}

ViewedPartition viewed_from_json(const json& p) {
  ViewedPartition v;
  v.position.topic = p.at("topic").get<std::string>();
  v.position.partition = p.at("partition").get<int32_t>();
  v.position.remote_topic = p.value("remote_topic", "");
  v.position.next_offset = p.at("next_offset").get<int64_t>();
  v.position.source_end_offset = p.at("source_end_offset").get<int64_t>();
  v.position.lag_records = std::max<int64_t>(0, v.position.source_end_offset - v.position.next_offset);
  if (p.contains("source_end_offset_ms") && p["source_end_offset_ms"].is_number_integer())
    v.position.source_end_offset_ms = p["source_end_offset_ms"].get<int64_t>();
  v.seen_ms = p.at("seen_ms").get<int64_t>();
  return v;
}

std::string key(const std::string& topic, int32_t partition) { return topic + "-" + std::to_string(partition); }

}  // namespace

void save_flow_views(const std::filesystem::path& state_dir, const std::vector<FlowHealth>& flows) {
  const std::filesystem::path path = state_dir / kFlowViewsFile;
  json all;
  try {
    all = read_views(path);
  } catch (const std::exception& e) {
    spdlog::warn("{}: unreadable ({}); starting a new one", path.string(), e.what());
    all = json::object();
  }
  if (!all.contains("flows")) all["flows"] = json::object();
  bool changed = false;
  for (const auto& f : flows) {
    if (!f.reachable || f.partitions.empty()) continue;
    std::map<std::string, json> by_partition;
    if (all["flows"].contains(f.flow))
      for (const auto& p : all["flows"][f.flow]) by_partition[key(p.at("topic"), p.at("partition"))] = p;
    for (const auto& p : f.partitions) {
      json e = p;  // FlowPartitionLag's JSON
      e["seen_ms"] = f.probed_at_ms;
      by_partition[key(p.topic, p.partition)] = std::move(e);
    }
    json list = json::array();
    for (auto& [k, e] : by_partition) list.push_back(std::move(e));
    all["flows"][f.flow] = std::move(list);
    changed = true;
  }
  if (!changed) return;
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);  // a failing write says why
  atomic_write_file(path, all.dump() + "\n");
}

std::vector<ViewedPartition> load_flow_view(const std::filesystem::path& state_dir, const std::string& flow) {
  const std::filesystem::path path = state_dir / kFlowViewsFile;
  std::vector<ViewedPartition> out;
  try {
    const json all = read_views(path);
    if (!all.contains("flows") || !all["flows"].contains(flow)) return out;
    for (const auto& p : all["flows"][flow]) out.push_back(viewed_from_json(p));
  } catch (const std::exception& e) {
    spdlog::warn("{}: unreadable, watch's flow view not used: {}", path.string(), e.what());
    out.clear();
  }
  return out;
}

std::optional<WatchLossBound> watch_loss_bound(const std::vector<ViewedPartition>& view,
                                               const std::vector<PartitionRef>& partitions, int64_t now_ms) {
  std::map<std::string, const ViewedPartition*> by;
  for (const auto& v : view) by[key(v.position.topic, v.position.partition)] = &v;
  WatchLossBound b;
  std::optional<int64_t> oldest;
  for (const auto& p : partitions) {
    auto it = by.find(key(p.topic, p.partition));
    if (it == by.end()) {
      b.not_in_view.push_back(p);
      continue;
    }
    const FlowPartitionLag& pos = it->second->position;
    // When the mirror did not say when it read the end offset, the evaluation's time is the
    // newest it can be.
    const int64_t read_ms = pos.source_end_offset_ms.value_or(it->second->seen_ms);
    oldest = oldest ? std::min(*oldest, read_ms) : read_ms;
    if (pos.source_end_offset > pos.next_offset) {
      const int64_t n = pos.source_end_offset - pos.next_offset;
      b.ranges.push_back({pos.topic, pos.partition, pos.next_offset, pos.source_end_offset, n});
      b.records_at_most += n;
    }
  }
  if (!oldest) return std::nullopt;
  b.inputs_as_of_ms = *oldest;
  b.text = fmt::format("at most {} record(s) of those the source held at {} ({} ms before; ferry-dr watch's last view "
                       "of the flow){}; what it appended after that is unknown until it returns",
                       b.records_at_most, rfc3339_ms(*oldest), std::max<int64_t>(0, now_ms - *oldest),
                       b.not_in_view.empty() ? "" : fmt::format(", and {} partition(s) watch never saw", b.not_in_view.size()));
  return b;
}

}  // namespace ferry::dr
