#include "dr-orchestrator/watch_guard.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "common/clock.h"
#include "dr-orchestrator/journal.h"
#include "dr-orchestrator/kafka_admin.h"

namespace ferry::dr {

using json = nlohmann::json;

namespace {

void audit_soft(AuditLog* audit, const std::string& what, const std::string& result, const std::string& reason,
                const json& details, const std::string& op_id = "") {
  if (!audit) return;
  try {
    audit->record(what, result, reason, details, op_id);
  } catch (const std::exception& e) {
    spdlog::warn("audit log: {}", e.what());
  }
}

// The regions to fence and why, given state.json's view (nullopt: absent).
std::vector<std::pair<std::string, std::string>> to_fence(const StatusReport& status, const std::optional<DrState>& state) {
  std::vector<std::pair<std::string, std::string>> out;
  if (state && !state->primary.empty()) {
    for (const auto& h : status.regions)
      if (h.region != state->primary && h.reachable && h.role == "primary")
        out.emplace_back(h.region, fmt::format("{} answers in the primary role but {} is the primary (state.json, set "
                                               "by operation {}): fenced so its clients get errors instead of diverging",
                                               h.region, state->primary, state->op_id));
    return out;
  }
  if (state) return out;  // a state.json without a primary: leave the roles to the operator
  // No operation ever ran: the target of a running flow is the standby.
  std::set<std::string> running_targets, running_sources;
  for (const auto& f : status.flows)
    if (f.reachable && f.state == "running") {
      running_targets.insert(f.target);
      running_sources.insert(f.source);
    }
  for (const auto& h : status.regions)
    if (h.reachable && h.role == "primary" && running_targets.count(h.region) && !running_sources.count(h.region))
      out.emplace_back(h.region, fmt::format("{} answers in the primary role but is the target of a running flow "
                                             "(it receives another region's records) and no failover ever made it "
                                             "primary: fenced so only one region accepts application writes",
                                             h.region));
  return out;
}

}  // namespace

std::vector<std::string> fence_stale_primaries(const DrConfig& cfg, const StatusReport& status, AuditLog* audit) {
  std::vector<std::string> fenced;
  if (!cfg.watch_fence_stale_primary) return fenced;
  try {
    if (to_fence(status, read_state(cfg.state_dir)).empty()) return fenced;
    Journal lock = Journal::open(cfg.state_dir, "ferry-dr watch (fence a stale primary)");
    if (auto p = lock.pending_op()) {
      spdlog::warn("a region answers as primary where it should not, but operation {} is pending; it owns the roles "
                   "until it ends",
                   p->op_id);
      return fenced;
    }
    const auto state = read_state(cfg.state_dir);  // again, under the lock
    for (const auto& [region, why] : to_fence(status, state)) {
      const json details{{"region", region}, {"primary", state ? json(state->primary) : json(nullptr)}, {"role", "standby"}};
      try {
        RegionClient(cfg.region(region)).set_cluster_role(ClusterRole::standby);
        spdlog::warn("{}", why);
        audit_soft(audit, "watch fence", "ok", why, details);
        fenced.push_back(region);
      } catch (const std::exception& e) {
        spdlog::error("cannot fence {}: {}", region, e.what());
        audit_soft(audit, "watch fence", "failed", e.what(), details);
      }
    }
  } catch (const LockHeld&) {
    // An operation is running: it owns the roles.
  } catch (const std::exception& e) {
    spdlog::error("stale-primary check: {}", e.what());
  }
  return fenced;
}

std::optional<OperationResult> resume_abandoned_operation(const DrConfig& cfg, AuditLog* audit, int64_t& last_attempt_ms,
                                                          int64_t retry_ms) {
  if (!cfg.watch_auto_resume) return std::nullopt;
  try {
    const JournalContents c = read_journal(cfg.state_dir / "journal.jsonl");
    if (c.ops.empty() || c.ops.back().finished()) return std::nullopt;
    if (last_attempt_ms && wall_clock_ms() - last_attempt_ms < retry_ms) return std::nullopt;
    Journal journal = Journal::open(cfg.state_dir, "ferry-dr watch (resume an abandoned operation)");
    auto p = journal.pending_op();
    if (!p) return std::nullopt;  // finished meanwhile
    last_attempt_ms = wall_clock_ms();
    if (!audit) {
      spdlog::error("operation {} is pending and its ferry-dr is gone, but the audit log is unavailable: not resumed", p->op_id);
      return std::nullopt;
    }
    const json details{{"kind", p->spec.kind}, {"from", p->spec.from}, {"to", p->spec.to}};
    const std::string why = "the operation's ferry-dr is gone (the lock is free): watch.auto.resume finishes it";
    spdlog::warn("operation {} ({} {} -> {}) is pending and its ferry-dr is gone; resuming it", p->op_id, p->spec.kind,
                 p->spec.from, p->spec.to);
    audit_soft(audit, "watch resume", "started", why, details, p->op_id);
    Operation op(cfg, journal, *audit, [](const std::string& line) { spdlog::info("resume: {}", line); });
    OperationResult r = op.resume();
    audit_soft(audit, "watch resume", r.outcome == "ok" ? "ok" : "failed", r.reason,
               {{"kind", p->spec.kind}, {"from", p->spec.from}, {"to", p->spec.to}, {"outcome", r.outcome}}, r.op_id);
    if (r.outcome == "ok")
      spdlog::info("operation {} resumed by watch: {} is primary", r.op_id, p->spec.to);
    else
      spdlog::error("operation {} resumed by watch ended {}: {}", r.op_id, r.outcome, r.reason);
    return r;
  } catch (const LockHeld&) {
    return std::nullopt;  // its ferry-dr (or an operator's resume) is alive
  } catch (const std::exception& e) {
    spdlog::error("resuming the pending operation: {}", e.what());
    audit_soft(audit, "watch resume", "failed", e.what(), json::object());
    return std::nullopt;
  }
}

}  // namespace ferry::dr
