#include "dr-orchestrator/status.h"

#include <spdlog/spdlog.h>

#include <future>
#include <limits>

#include "common/clock.h"
#include "dr-orchestrator/backends.h"
#include "dr-orchestrator/journal.h"
#include "dr-orchestrator/kafka_admin.h"
#include "dr-orchestrator/mirror_client.h"

namespace ferry::dr {

StatusReport collect_status(const DrConfig& cfg) {
  RealBackends real;
  return collect_status(cfg, real, real);
}

StatusReport collect_status(const DrConfig& cfg, RegionOps& region_ops, MirrorOps& mirror_ops) {
  // Regions are probed in parallel: a down region costs a whole timeout, and that must not be
  // paid once per region on every watch tick.
  std::vector<std::future<RegionHealth>> regions;
  for (const auto& [name, r] : cfg.regions)
    regions.push_back(std::async(std::launch::async, [&r, &region_ops] {
      try {
        return region_ops.probe(r, std::chrono::seconds(5));
      } catch (const std::exception& e) {
        RegionHealth h;
        h.region = r.name;
        h.error = e.what();
        return h;
      }
    }));
  std::vector<FlowHealth> flows;
  for (const auto& f : cfg.flows) flows.push_back(mirror_ops.probe_flow(f));
  std::vector<RegionHealth> rh;
  for (auto& f : regions) rh.push_back(f.get());
  std::string primary, journal_error;
  try {
    if (auto s = read_state(cfg.state_dir)) primary = s->primary;
  } catch (const std::exception& e) {
    journal_error = e.what();
  }
  nlohmann::json ops{{"lock_holder", nullptr}, {"pending_op", nullptr}, {"last_op", nullptr}, {"error", nullptr}};
  if (auto h = lock_holder(cfg.state_dir))
    ops["lock_holder"] = {{"pid", h->pid}, {"command", h->command}, {"started_ms", h->started_ms}};
  try {
    // Read without the lock: a running operation may append meanwhile, and its torn last line (if
    // we catch one mid-write) is dropped like any torn tail.
    const JournalContents c = read_journal(cfg.state_dir / "journal.jsonl");
    if (!c.ops.empty()) {
      const OpRecord& op = c.ops.back();
      nlohmann::json o{{"op_id", op.op_id}, {"kind", op.spec.kind}, {"from", op.spec.from}, {"to", op.spec.to},
                       {"mode", op.spec.mode}};
      if (op.finished()) {
        o["outcome"] = *op.outcome;
        o["end_ms"] = op.end_ms;
        ops["last_op"] = o;
      } else {
        auto& steps = o["steps"] = nlohmann::json::array();
        for (const auto& s : op.steps)
          steps.push_back({{"name", s.name}, {"began", s.began}, {"ended", s.ended}, {"failed", s.failed}});
        ops["pending_op"] = o;
      }
    }
  } catch (const std::exception& e) {
    journal_error = e.what();
  }
  if (!journal_error.empty()) ops["error"] = journal_error;
  StatusReport r = make_report(std::move(rh), std::move(flows), cfg.policy, primary, wall_clock_ms());
  r.operations = std::move(ops);
  r.problems = evaluate_deployment(r.regions, r.operations);
  r.journal_error = std::move(journal_error);
  return r;
}

int Watcher::observe(const StatusReport& r) {
  int changes = 0;
  const char* help_up = "1 when the region's brokers answer Metadata and a controller is present, else 0.";
  for (size_t i = 0; i < r.regions.size(); ++i) {
    const auto& h = r.regions[i];
    const auto& v = r.region_verdicts[i];
    const metrics::Labels l{{"region", h.region}};
    registry_.gauge("ferry_dr_region_up", help_up, l).set(v.state == RegionState::down ? 0 : 1);
    for (const char* role : {"primary", "standby"})
      registry_.gauge("ferry_dr_region_role", "1 for the region's current ferry.cluster.role, 0 for the other.",
                      {{"region", h.region}, {"role", role}})
          .set(h.role == role ? 1 : 0);
    registry_.gauge("ferry_dr_region_offline_partitions", "Partitions without a leader.", l).set(h.offline);
    registry_.gauge("ferry_dr_region_under_replicated_partitions", "Partitions whose ISR is smaller than the replica set.", l)
        .set(h.under_replicated);
    registry_.gauge("ferry_dr_region_under_min_isr_partitions", "Partitions whose ISR is below min.insync.replicas.", l)
        .set(h.under_min_isr);
    const std::string state = to_string(v.state);
    auto& prev = region_state_[h.region];
    if (prev != state) {
      std::string why;
      for (const auto& s : v.reasons) why += (why.empty() ? "" : "; ") + s;
      if (prev.empty())
        spdlog::info("region {} is {}{}", h.region, state, why.empty() ? "" : ": " + why);
      else if (v.state == RegionState::healthy)
        spdlog::info("region {}: {} -> {}", h.region, prev, state);
      else
        spdlog::warn("region {}: {} -> {}: {}", h.region, prev, state, why);
      prev = state;
      ++changes;
    }
    if (!h.role.empty()) {
      auto& prev_role = region_role_[h.region];
      if (!prev_role.empty() && prev_role != h.role) {
        spdlog::warn("region {}: role {} -> {}", h.region, prev_role, h.role);
        ++changes;
      }
      prev_role = h.role;
    }
  }
  int primaries = 0;
  for (const auto& h : r.regions) primaries += h.reachable && h.role == "primary" ? 1 : 0;
  registry_.gauge("ferry_dr_primary_regions", "Reachable regions answering in the primary role (more than 1: split brain).", {})
      .set(primaries);
  const bool pending = r.operations.is_object() && r.operations.contains("pending_op") && r.operations["pending_op"].is_object();
  registry_.gauge("ferry_dr_operation_pending", "1 while the journal has an unfinished operation, else 0.", {}).set(pending ? 1 : 0);
  registry_.gauge("ferry_dr_healthy", "1 when every region is healthy, every flow ok or paused and no problem is reported.", {})
      .set(r.all_healthy() ? 1 : 0);
  std::string problems;
  for (const auto& p : r.problems) problems += (problems.empty() ? "" : "; ") + p;
  if (problems != problems_) {
    if (!problems.empty())
      spdlog::warn("NOT healthy: {}", problems);
    else if (!problems_.empty())
      spdlog::info("no deployment problem any more");
    problems_ = problems;
    ++changes;
  }
  for (size_t i = 0; i < r.flows.size(); ++i) {
    const auto& h = r.flows[i];
    const auto& v = r.flow_verdicts[i];
    const metrics::Labels l{{"flow", h.flow}};
    registry_.gauge("ferry_dr_flow_up", "1 when every mirror process of the flow answered, else 0.", l).set(h.reachable ? 1 : 0);
    registry_.gauge("ferry_dr_flow_lag_records", "Records on the source not yet on the target (sum over partitions).", l)
        .set(static_cast<double>(h.lag_records));
    registry_.gauge("ferry_dr_flow_heartbeat_age_seconds", "Age of the newest heartbeat replicated by the flow (NaN: none).", l)
        .set(h.heartbeat_age_s.value_or(std::numeric_limits<double>::quiet_NaN()));
    registry_.gauge("ferry_dr_flow_checkpoint_age_seconds", "Age of the flow's last checkpoint pass (NaN: none).", l)
        .set(h.checkpoint_age_s.value_or(std::numeric_limits<double>::quiet_NaN()));
    const std::string state = to_string(v.state);
    auto& prev = flow_state_[h.flow];
    if (prev != state) {
      std::string why;
      for (const auto& s : v.reasons) why += (why.empty() ? "" : "; ") + s;
      if (prev.empty())
        spdlog::info("flow {} is {}{}", h.flow, state, why.empty() ? "" : ": " + why);
      else if (v.state == FlowState::ok || v.state == FlowState::paused)
        spdlog::info("flow {}: {} -> {}", h.flow, prev, state);
      else
        spdlog::warn("flow {}: {} -> {}: {}", h.flow, prev, state, why);
      prev = state;
      ++changes;
    }
  }
  return changes;
}

}  // namespace ferry::dr
