#include "dr-orchestrator/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace ferry::dr {

void recount(RegionHealth& h) {
  std::sort(h.partition_details.begin(), h.partition_details.end(),
            [](const PartitionHealth& a, const PartitionHealth& b) {
              return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
            });
  std::set<std::string> topics;
  h.partitions = static_cast<int32_t>(h.partition_details.size());
  h.offline = h.under_replicated = h.under_min_isr = 0;
  for (const auto& p : h.partition_details) {
    topics.insert(p.topic);
    h.offline += p.offline();
    h.under_replicated += p.under_replicated();
    h.under_min_isr += p.under_min_isr();
  }
  h.topics = static_cast<int32_t>(topics.size());
}

FlowHealth combine_flow(const FlowConfig& flow, const std::vector<MirrorAnswer>& answers, int64_t now_ms) {
  FlowHealth h;
  h.flow = flow.name();
  h.source = flow.source;
  h.target = flow.target;
  h.probed_at_ms = now_ms;
  h.urls_total = static_cast<int32_t>(answers.size());
  h.healthy = true;
  std::set<std::string> states;
  std::map<std::pair<std::string, int32_t>, FlowPartitionLag> parts;
  std::optional<int64_t> newest_heartbeat, newest_checkpoint;
  for (const auto& a : answers) {
    if (!a.status) {
      h.errors.push_back(fmt::format("{}: {}", a.url, a.error));
      continue;
    }
    const MirrorFlowStatus& s = *a.status;
    ++h.urls_reachable;
    states.insert(s.state);
    if (!s.healthy) h.healthy = false;
    for (const auto& e : s.current_errors) h.errors.push_back(fmt::format("{}: {}", a.url, e));
    for (const auto& [t, n] : s.topics) h.topics[t] = std::max(h.topics[t], n);
    for (const auto& p : s.partitions) {
      auto [it, inserted] = parts.try_emplace({p.topic, p.partition}, p);
      if (!inserted && p.next_offset > it->second.next_offset) it->second = p;
      if (!inserted) it->second.source_end_offset = std::max(it->second.source_end_offset, p.source_end_offset);
    }
    // Ages are recomputed against one clock: the mirror's age_ms was taken at its own "now".
    h.heartbeat_reported |= s.reports_heartbeat;
    if (s.heartbeat_last_replicated_ms)
      newest_heartbeat = std::max(newest_heartbeat.value_or(INT64_MIN), *s.heartbeat_last_replicated_ms);
    if (s.last_checkpoint_ms) newest_checkpoint = std::max(newest_checkpoint.value_or(INT64_MIN), *s.last_checkpoint_ms);
  }
  h.reachable = h.urls_total > 0 && h.urls_reachable == h.urls_total;
  if (h.urls_reachable == 0) h.healthy = false;
  h.state = states.empty() ? "" : states.size() == 1 ? *states.begin() : "mixed";
  for (auto& [_, p] : parts) {
    p.lag_records = std::max<int64_t>(0, p.source_end_offset - p.next_offset);
    h.lag_records += p.lag_records;
    h.partitions.push_back(p);
  }
  if (newest_heartbeat) h.heartbeat_age_s = std::max<int64_t>(0, now_ms - *newest_heartbeat) / 1000.0;
  if (newest_checkpoint) h.checkpoint_age_s = std::max<int64_t>(0, now_ms - *newest_checkpoint) / 1000.0;
  return h;
}

const char* to_string(RegionState s) {
  switch (s) {
    case RegionState::healthy: return "healthy";
    case RegionState::degraded: return "degraded";
    case RegionState::down: return "down";
  }
  return "?";
}

const char* to_string(FlowState s) {
  switch (s) {
    case FlowState::ok: return "ok";
    case FlowState::paused: return "paused";
    case FlowState::lagging: return "lagging";
    case FlowState::stale: return "stale";
    case FlowState::unreachable: return "unreachable";
  }
  return "?";
}

RegionVerdict evaluate_region(const RegionHealth& h) {
  RegionVerdict v{h.region, RegionState::healthy, {}};
  if (!h.reachable) {
    v.state = RegionState::down;
    v.reasons.push_back(h.error.empty() ? "no broker answered" : "unreachable: " + h.error);
    return v;
  }
  if (h.brokers == 0) v.reasons.push_back("no brokers in Metadata");
  if (h.controller_id < 0) v.reasons.push_back("no controller");
  if (!v.reasons.empty()) {
    v.state = RegionState::down;
    return v;
  }
  if (h.offline) v.reasons.push_back(fmt::format("{} offline partition(s) (no leader)", h.offline));
  if (h.under_replicated) v.reasons.push_back(fmt::format("{} under-replicated partition(s)", h.under_replicated));
  if (h.under_min_isr) v.reasons.push_back(fmt::format("{} partition(s) under min.insync.replicas", h.under_min_isr));
  if (h.metrics_up && !*h.metrics_up) v.reasons.push_back("metrics scrape failed");
  if (!h.error.empty()) v.reasons.push_back("probe incomplete: " + h.error);
  if (!v.reasons.empty()) v.state = RegionState::degraded;
  return v;
}

FlowVerdict evaluate_flow(const FlowHealth& h, const PolicyConfig& policy) {
  FlowVerdict v{h.flow, FlowState::ok, {}};
  auto worsen = [&](FlowState s, std::string why) {
    if (static_cast<int>(s) > static_cast<int>(v.state)) v.state = s;
    v.reasons.push_back(std::move(why));
  };
  if (!h.reachable) {
    worsen(FlowState::unreachable,
           fmt::format("{} of {} mirror status URL(s) answered for the flow", h.urls_reachable, h.urls_total));
    for (const auto& e : h.errors) v.reasons.push_back(e);
    if (h.urls_reachable == 0) return v;
  }
  if (h.state == "paused") {
    worsen(FlowState::paused, "paused");
    return v;
  }
  if (h.state == "mixed") worsen(FlowState::stale, "some mirror processes are paused, others running");
  const double hb_max = static_cast<double>(policy.heartbeat_max_age.count());
  const double cp_max = static_cast<double>(policy.checkpoint_max_age.count());
  // A mirror that predates heartbeat reporting gives no evidence either way.
  if (h.heartbeat_reported && !h.heartbeat_age_s)
    worsen(FlowState::stale, "no heartbeat replicated yet");
  else if (h.heartbeat_reported && *h.heartbeat_age_s > hb_max)
    worsen(FlowState::stale, fmt::format("heartbeat age {:.1f}s > heartbeat.max.age.seconds {}", *h.heartbeat_age_s,
                                         policy.heartbeat_max_age.count()));
  if (h.checkpoint_age_s && *h.checkpoint_age_s > cp_max)
    worsen(FlowState::stale, fmt::format("checkpoint age {:.1f}s > checkpoint.max.age.seconds {}", *h.checkpoint_age_s,
                                         policy.checkpoint_max_age.count()));
  if (h.reachable && !h.healthy) {
    worsen(FlowState::stale, "mirror reports current errors");
    for (const auto& e : h.errors) v.reasons.push_back(e);
  }
  if (h.lag_records > policy.max_data_loss_records)
    worsen(FlowState::lagging, fmt::format("lag {} records > max.data.loss.records {}", h.lag_records,
                                           policy.max_data_loss_records));
  return v;
}

std::vector<std::string> evaluate_deployment(const std::vector<RegionHealth>& regions, const nlohmann::json& operations) {
  std::vector<std::string> out;
  std::vector<std::string> primaries;
  for (const auto& h : regions)
    if (h.reachable && h.role == "primary") primaries.push_back(h.region);
  if (primaries.size() > 1) {
    std::string names;
    for (const auto& n : primaries) names += (names.empty() ? "" : ", ") + n;
    out.push_back(fmt::format("{} regions answer in the primary role ({}): each accepts application writes (split "
                              "brain); a flow's target must be standby (`ferry-dr watch` fences it, or `ferry-dr role "
                              "REGION standby`)",
                              primaries.size(), names));
  }
  if (operations.is_object() && operations.contains("pending_op") && operations["pending_op"].is_object()) {
    const auto& p = operations["pending_op"];
    std::string last;
    for (const auto& st : p.value("steps", nlohmann::json::array()))
      if (st.value("began", false)) last = st.value("name", "") + (st.value("ended", false) ? " (ended)" : " (unfinished)");
    const bool held = operations.contains("lock_holder") && operations["lock_holder"].is_object();
    out.push_back(fmt::format("operation {} ({} {} -> {}) is pending{}{}: until it ends the regions' roles are "
                              "in between (after a fence and before a promote, no region accepts writes); {}",
                              p.value("op_id", ""), p.value("kind", ""), p.value("from", ""), p.value("to", ""),
                              last.empty() ? "" : ", last step " + last,
                              held ? fmt::format(" and running (pid {})", operations["lock_holder"].value("pid", 0))
                                   : ", its ferry-dr is gone",
                              held ? "it is still running" : "`ferry-dr resume` (or watch, with watch.auto.resume) finishes it"));
  }
  return out;
}

bool StatusReport::all_healthy() const {
  if (!problems.empty()) return false;
  for (const auto& v : region_verdicts)
    if (v.state != RegionState::healthy) return false;
  for (const auto& v : flow_verdicts)
    if (v.state != FlowState::ok && v.state != FlowState::paused) return false;
  return true;
}

StatusReport make_report(std::vector<RegionHealth> regions, std::vector<FlowHealth> flows, const PolicyConfig& policy,
                         std::string primary, int64_t now_ms) {
  StatusReport r;
  r.ts_ms = now_ms;
  r.primary = std::move(primary);
  r.regions = std::move(regions);
  r.flows = std::move(flows);
  for (const auto& h : r.regions) r.region_verdicts.push_back(evaluate_region(h));
  for (const auto& h : r.flows) r.flow_verdicts.push_back(evaluate_flow(h, policy));
  return r;
}

namespace {

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json to_json(const StatusReport& r) {
  nlohmann::json j;
  j["ts_ms"] = r.ts_ms;
  j["healthy"] = r.all_healthy();
  j["primary"] = r.primary.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.primary);
  j["operations"] = r.operations;
  j["problems"] = r.problems;
  auto& regions = j["regions"] = nlohmann::json::array();
  for (size_t i = 0; i < r.regions.size(); ++i) {
    const auto& h = r.regions[i];
    const auto& v = r.region_verdicts[i];
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : h.partition_details)
      if (p.offline() || p.under_replicated() || p.under_min_isr())
        problems.push_back({{"topic", p.topic},
                            {"partition", p.partition},
                            {"leader", p.leader},
                            {"replicas", p.replicas},
                            {"isr", p.isr},
                            {"min_isr", p.min_isr}});
    regions.push_back({{"region", h.region},
                       {"state", to_string(v.state)},
                       {"reasons", v.reasons},
                       {"reachable", h.reachable},
                       {"brokers", h.brokers},
                       {"controller_id", h.controller_id},
                       {"topics", h.topics},
                       {"partitions", h.partitions},
                       {"offline_partitions", h.offline},
                       {"under_replicated_partitions", h.under_replicated},
                       {"under_min_isr_partitions", h.under_min_isr},
                       {"role", h.role.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.role)},
                       {"metrics_up", h.metrics_up ? nlohmann::json(*h.metrics_up) : nlohmann::json(nullptr)},
                       {"error", h.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.error)},
                       {"problem_partitions", problems}});
  }
  auto& flows = j["flows"] = nlohmann::json::array();
  for (size_t i = 0; i < r.flows.size(); ++i) {
    const auto& h = r.flows[i];
    const auto& v = r.flow_verdicts[i];
    nlohmann::json parts = nlohmann::json::array();
    for (const auto& p : h.partitions)
      parts.push_back({{"topic", p.topic},
                       {"partition", p.partition},
                       {"remote_topic", p.remote_topic},
                       {"next_offset", p.next_offset},
                       {"source_end_offset", p.source_end_offset},
                       {"lag_records", p.lag_records}});
    flows.push_back({{"flow", h.flow},
                     {"source", h.source},
                     {"target", h.target},
                     {"state", to_string(v.state)},
                     {"reasons", v.reasons},
                     {"reachable", h.reachable},
                     {"urls_reachable", h.urls_reachable},
                     {"urls_total", h.urls_total},
                     {"mirror_state", h.state.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.state)},
                     {"lag_records", h.lag_records},
                     {"heartbeat_age_seconds", opt(h.heartbeat_age_s)},
                     {"checkpoint_age_seconds", opt(h.checkpoint_age_s)},
                     {"errors", h.errors},
                     {"partitions", parts}});
  }
  return j;
}

namespace {

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c)
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string age(const std::optional<double>& s) { return s ? fmt::format("{:.1f}s", *s) : "-"; }

}  // namespace

std::string to_table(const StatusReport& r) {
  std::vector<std::vector<std::string>> regions{
      {"REGION", "STATE", "ROLE", "BROKERS", "CONTROLLER", "TOPICS", "PARTITIONS", "OFFLINE", "UNDER-REPL", "UNDER-MIN-ISR"}};
  for (size_t i = 0; i < r.regions.size(); ++i) {
    const auto& h = r.regions[i];
    std::string name = h.region + (h.region == r.primary ? " *" : "");
    if (!h.reachable) {
      regions.push_back({name, to_string(r.region_verdicts[i].state), "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    regions.push_back({name, to_string(r.region_verdicts[i].state), h.role.empty() ? "?" : h.role,
                       std::to_string(h.brokers), h.controller_id < 0 ? "none" : std::to_string(h.controller_id),
                       std::to_string(h.topics), std::to_string(h.partitions), std::to_string(h.offline),
                       std::to_string(h.under_replicated), std::to_string(h.under_min_isr)});
  }
  std::string out = table(regions);
  if (!r.flows.empty()) {
    std::vector<std::vector<std::string>> flows{
        {"FLOW", "STATE", "MIRRORS", "LAG-RECORDS", "HEARTBEAT-AGE", "CHECKPOINT-AGE"}};
    for (size_t i = 0; i < r.flows.size(); ++i) {
      const auto& h = r.flows[i];
      flows.push_back({h.flow, to_string(r.flow_verdicts[i].state),
                       fmt::format("{}/{}", h.urls_reachable, h.urls_total),
                       h.urls_reachable ? std::to_string(h.lag_records) : "-", age(h.heartbeat_age_s),
                       age(h.checkpoint_age_s)});
    }
    out += "\n" + table(flows);
  }
  std::string reasons;
  for (const auto& why : r.problems) reasons += fmt::format("  {}\n", why);
  for (const auto& v : r.region_verdicts)
    for (const auto& why : v.reasons) reasons += fmt::format("  region {}: {}\n", v.region, why);
  for (const auto& v : r.flow_verdicts)
    for (const auto& why : v.reasons) reasons += fmt::format("  flow {}: {}\n", v.flow, why);
  if (!r.primary.empty()) out += fmt::format("\n* primary as last set by ferry-dr: {}\n", r.primary);
  if (r.operations.is_object()) {
    const auto& ops = r.operations;
    if (ops.contains("lock_holder") && ops["lock_holder"].is_object())
      out += fmt::format("operation running: pid {} '{}'\n", ops["lock_holder"].value("pid", 0),
                         ops["lock_holder"].value("command", ""));
    if (ops.contains("pending_op") && ops["pending_op"].is_object())
      out += fmt::format("pending operation {} ({} {} -> {}): not finished; `ferry-dr resume` continues it\n",
                         ops["pending_op"].value("op_id", ""), ops["pending_op"].value("kind", ""),
                         ops["pending_op"].value("from", ""), ops["pending_op"].value("to", ""));
    else if (ops.contains("last_op") && ops["last_op"].is_object())
      out += fmt::format("last operation {} ({} {} -> {}): {}\n", ops["last_op"].value("op_id", ""),
                         ops["last_op"].value("kind", ""), ops["last_op"].value("from", ""),
                         ops["last_op"].value("to", ""), ops["last_op"].value("outcome", ""));
  }
  if (!r.journal_error.empty()) out += "JOURNAL: " + r.journal_error + "\n";
  out += r.all_healthy() ? "\nall healthy\n" : "\nNOT healthy:\n" + reasons;
  return out;
}

}  // namespace ferry::dr
