// The steps of the failover / failback state machine (docs/dr.md "Failover") and the table that
// orders them (failover_machine.h). `drain` and `stop_flow` are in flow_steps.cc.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "common/clock.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/failover_machine.h"
#include "dr-orchestrator/flow_steps.h"
#include "dr-orchestrator/redirect_hook.h"
#include "dr-orchestrator/report.h"
#include "dr-orchestrator/status.h"

namespace ferry::dr {

using json = nlohmann::json;

const OpRecord& StepContext::op() const {
  for (const auto& o : journal.history())
    if (o.op_id == op_id) return o;
  throw DrError(Exit::failed, "operation " + op_id + " is not in the journal");
}

bool StepContext::planned() const {
  const auto p = result<PrecheckResult>();
  return p && p->planned;
}

namespace {

StepFailure refusal(const std::string& what, Exit exit = Exit::failed) { return StepFailure(what, exit, json::object(), true); }

json nullable(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

PrecheckResult precheck(StepContext& c) {
  RegionHealth th = c.io.regions.probe(c.to, std::chrono::seconds(10));
  RegionVerdict tv = evaluate_region(th);
  if (tv.state == RegionState::down)
    throw refusal(fmt::format("target region {} is down: {}", c.to.name,
                              th.error.empty() ? fmt::format("{}", fmt::join(tv.reasons, "; ")) : th.error));
  RegionHealth fh = c.io.regions.probe(c.from, std::chrono::seconds(5));
  const bool from_reachable = fh.reachable;
  if (from_reachable && th.role == "primary" && fh.role == "standby")
    throw refusal(fmt::format("{} is already the primary ({} is standby); nothing to fail over", c.to.name, c.from.name),
                  Exit::bad_input);
  if (c.want_planned && !from_reachable)
    throw refusal(fmt::format("a planned failover needs {} reachable, and it is not ({}); an unplanned failover "
                              "is `ferry-dr failover --to {} --force`",
                              c.from.name, fh.error, c.to.name));
  if (!c.flow && !c.force)
    throw refusal(fmt::format("no flow {} -> {} is configured, so nothing of {} is on {}; --force to fail over "
                              "anyway",
                              c.from.name, c.to.name, c.from.name, c.to.name));
  PrecheckResult out{from_reachable, from_reachable, fh.error, to_string(tv.state), tv.reasons, fh.role, th.role,
                     std::nullopt,   std::nullopt,   ""};
  if (!from_reachable) {
    // The mirror's lag is a lower bound: its view of the source's log end offsets is as old as
    // its last read, and the source may have acknowledged more before it died.
    std::optional<int64_t> estimate, age;
    std::string loss_text, why;
    if (c.flow) {
      FlowHealth fl = c.io.mirrors.probe_flow(*c.flow);
      if (fl.reachable) {
        const json parts = fl.partitions;
        const json view = describe_unplanned_loss(compute_loss(parts, json::array()), parts, false, wall_clock_ms(), wall_clock_ms());
        estimate = view["rpo_records_lower_bound"].get<int64_t>();
        if (!view["source_view_age_ms"].is_null()) age = view["source_view_age_ms"].get<int64_t>();
        loss_text = view["loss_text"].get<std::string>();
      } else {
        why = fmt::format("{}", fmt::join(fl.errors, "; "));
      }
    }
    out.estimated_loss_lower_bound.emplace(estimate);
    out.source_view_age_ms.emplace(age);
    if (!estimate && !c.force)
      throw refusal(fmt::format("{} is unreachable and the loss cannot be estimated (mirror: {}); --force to fail "
                                "over anyway",
                                c.from.name, why));
    if (estimate && *estimate > c.max_data_loss && !c.force)
      throw refusal(fmt::format("{} is unreachable and failing over would lose {}: more than --max-data-loss {} "
                                "already; --force to accept",
                                c.from.name, loss_text, c.max_data_loss));
    c.audit.record("decision mode", "ok", "source unreachable: unplanned failover",
                   {{"estimated_loss_lower_bound", nullable(estimate)}, {"source_view_age_ms", nullable(age)},
                    {"force", c.force}},
                   c.op_id);
  } else {
    c.audit.record("decision mode", "ok", "source reachable: planned failover (drain to lag 0)", json::object(), c.op_id);
  }
  out.summary = fmt::format("{} {}, {} {}: {} {}", c.to.name, to_string(tv.state), c.from.name,
                            from_reachable ? "reachable" : "unreachable", from_reachable ? "planned" : "unplanned",
                            c.spec.kind);
  return out;
}

KeepAsideResult keep_aside(StepContext& c) {
  // The newest completed operation that moved the primary away from `to` without draining.
  const OpRecord* last = nullptr;
  for (auto it = c.journal.history().rbegin(); it != c.journal.history().rend(); ++it)
    if (it->op_id != c.op_id && it->outcome == "ok") {
      last = &*it;
      break;
    }
  KeepAsideResult out;
  const std::optional<DrainResult> drain = last && last->spec.from == c.to.name ? step_result<DrainResult>(*last) : std::nullopt;
  if (!drain || drain->planned) {
    out.summary = "nothing kept aside";
    return out;
  }
  // Every partition the mirror had a position for (the loss list names only those whose loss
  // the mirror could see; a lower bound of 0 may still hide records), each from the first
  // offset the target did not receive.
  struct Start {
    std::string topic;
    int32_t partition;
    int64_t from_offset;
  };
  std::vector<Start> starts;
  for (const auto& p : drain->partitions.value_or(std::vector<FlowPartitionLag>{}))
    if (is_application_topic(p.topic)) starts.push_back({p.topic, p.partition, p.next_offset});
  if (starts.empty())
    for (const auto& l : drain->loss) starts.push_back({l.topic, l.partition, l.from_offset});
  // Partitions whose position the mirror did not know at that failover (--force): where the
  // target stopped is unknown, so their records cannot be listed and the exact loss stays
  // unknown, never 0.
  const std::vector<PartitionRef> unknown = drain->unknown_partitions.value_or(std::vector<PartitionRef>{});
  const bool some_unknown = !unknown.empty() || drain->loss_unknown.value_or(false);
  std::set<std::string> topics;
  for (const auto& s : starts) topics.insert(s.topic);
  if (topics.empty() && !some_unknown) {
    out.summary = "nothing kept aside (no loss recorded)";
    return out;
  }
  std::map<TopicPartition, int64_t> leo;
  try {
    if (!topics.empty()) leo = c.io.regions.log_end_offsets(c.to, {topics.begin(), topics.end()});
  } catch (const DrError& e) {
    throw StepFailure(fmt::format("cannot read {}'s log end offsets to find records written after the last "
                                  "replicated offset: {}",
                                  c.to.name, e.what()));
  }
  int64_t total = 0;
  for (const auto& s : starts) {
    auto it = leo.find({s.topic, s.partition});
    if (it != leo.end() && it->second > s.from_offset) {
      out.kept_aside.push_back({s.topic, s.partition, s.from_offset, it->second, it->second - s.from_offset});
      total += it->second - s.from_offset;
    }
  }
  // Now that the old primary is back, its log end offsets give the unplanned failover's exact
  // loss; it stands next to that operation's estimate (a lower bound).
  const std::optional<int64_t> estimate = drain->rpo_records_lower_bound;
  EarlierLoss loss{last->op_id,
                   estimate,
                   drain->source_view_age_ms.value_or(std::nullopt),
                   some_unknown ? std::nullopt : std::optional<int64_t>(total),
                   unknown,
                   total};
  c.audit.record("decision kept-aside", "ok", "records on the old primary after the last replicated offset stay in "
                 "its log and are listed, never deleted",
                 {{"kept_aside", out.kept_aside}, {"from_op", last->op_id}, {"loss_exact_after_return", loss}}, c.op_id);
  out.summary = !some_unknown
                    ? fmt::format("{} record(s) of {} written after operation {}'s last replicated offset are kept "
                                  "aside: that failover's exact loss (it estimated at least {})",
                                  total, c.to.name, last->op_id, estimate ? std::to_string(*estimate) : "unknown")
                    : fmt::format("{} record(s) of {} kept aside in the partitions operation {} knew a position for; "
                                  "its exact loss stays unknown: the mirror knew no position for {}",
                                  total, c.to.name, last->op_id, unknown.empty() ? std::string("any partition") : json(unknown).dump());
  out.earlier = KeepAsideResult::Earlier{total, last->op_id, std::move(loss)};
  return out;
}

SyncFlowResult sync_flow(StepContext& c) {
  SyncFlowResult out;
  if (!c.planned() || !c.flow) {
    out.skipped = true;
    out.summary = "skipped (unplanned)";
    return out;
  }
  if (c.io.regions.cluster_role(c.to) == ClusterRole::primary) {
    // Both regions writable (first failover, or an old primary that came back): close the
    // target to applications before the switch, so nothing is written on both sides.
    c.io.regions.set_cluster_role(c.to, ClusterRole::standby);
    out.fenced_target = true;
  }
  try {
    resume_flow(c.io.mirrors, *c.flow);
  } catch (const MirrorError& e) {
    throw StepFailure(fmt::format("cannot start flow {}: {}", c.flow->name(), e.what()));
  }
  out.flow_running = true;
  out.summary = fmt::format("flow {} running{}", c.flow->name(),
                            out.fenced_target ? fmt::format("; {} set to standby until promoted", c.to.name) : "");
  return out;
}

FenceResult fence(StepContext& c) {
  const auto pre = c.result<PrecheckResult>();
  if (!pre || !pre->from_reachable) {
    c.audit.record("decision fence", "ok", "old primary unreachable: not fenced; failback fences it first",
                   {{"region", c.from.name}}, c.op_id);
    return {false, fmt::format("{} unreachable", c.from.name),
            fmt::format("{} NOT fenced: unreachable (failback sets it to standby before anything else)", c.from.name)};
  }
  try {
    c.io.regions.set_cluster_role(c.from, ClusterRole::standby);
    if (c.io.regions.cluster_role(c.from) != ClusterRole::standby) throw DrError(Exit::failed, "role read back is not standby");
  } catch (const DrError& e) {
    throw StepFailure(fmt::format("cannot fence {}: {}", c.from.name, e.what()));
  }
  return {true, "", fmt::format("{} is standby: application produce now fails with POLICY_VIOLATION", c.from.name)};
}

// Rollback of fence: FROM back to the primary role.
void unfence(StepContext& c, RollbackResult& done) {
  if (const auto f = c.result<FenceResult>(); f && f->fenced) {
    c.io.regions.set_cluster_role(c.from, ClusterRole::primary);
    done.unfenced = c.from.name;
  }
}

DrainResult drain(StepContext& c) {
  if (!c.flow) {
    DrainResult out;
    out.planned = c.planned();
    out.summary = "no flow: loss unknown";
    return out;
  }
  return c.planned() ? drain_planned(c) : drain_unplanned(c);
}

StopFlowResult stop(StepContext& c) {
  if (!c.flow) {
    StopFlowResult out;
    out.summary = "no flow";
    return out;
  }
  const auto d = c.result<DrainResult>();
  if (!d) throw DrError(Exit::failed, "stop_flow: the drain step has not ended");
  return stop_flow(c, c.planned(), *d);
}

// Rollback of drain and stop_flow (each may have paused the flow): resume it, once. A mirror
// that does not answer is recorded, not fatal: FROM is primary again either way.
void resume_forward_flow(StepContext& c, RollbackResult& done) {
  if (!c.flow || done.flow_resumed || done.flow_not_resumed) return;
  try {
    resume_flow(c.io.mirrors, *c.flow);
    done.flow_resumed = c.flow->name();
  } catch (const MirrorError& e) {
    done.flow_not_resumed = e.what();
  }
}

PromoteResult promote(StepContext& c) {
  try {
    c.io.regions.set_cluster_role(c.to, ClusterRole::primary);
    if (c.io.regions.cluster_role(c.to) != ClusterRole::primary) throw DrError(Exit::failed, "role read back is not primary");
  } catch (const DrError& e) {
    throw StepFailure(fmt::format("cannot promote {}: {}", c.to.name, e.what()));
  }
  write_state(c.cfg.state_dir, DrState{c.to.name, wall_clock_ms(), c.op_id});
  return {"primary", fmt::format("{} is primary", c.to.name)};
}

RedirectResult redirect(StepContext& c) {
  RedirectResult out{c.cfg.bootstrap_file.string(), c.to.bootstrap_servers, std::nullopt, std::nullopt, ""};
  if (!c.cfg.bootstrap_file.empty()) atomic_write_file(c.cfg.bootstrap_file, c.to.bootstrap_servers + "\n");
  if (!c.cfg.redirect_hook.empty()) {
    const HookResult hook = run_hook(c.cfg.redirect_hook,
                                     {{"FERRY_DR_PRIMARY", c.to.name},
                                      {"FERRY_DR_BOOTSTRAP", c.to.bootstrap_servers},
                                      {"FERRY_DR_OP_ID", c.op_id}},
                                     c.cfg.redirect_hook_timeout);
    out.hook_exit = hook.status;
    out.hook_output = hook.output;
    if (hook.timed_out)
      throw StepFailure(fmt::format("redirect.hook `{}` did not finish within redirect.hook.timeout.seconds = {}; it "
                                    "was killed (SIGKILL to its process group); output: {}",
                                    c.cfg.redirect_hook, c.cfg.redirect_hook_timeout.count(), hook.output),
                        Exit::failed, out);
    if (hook.status != 0)
      throw StepFailure(fmt::format("redirect.hook exited with {}: {}", hook.status, hook.output), Exit::failed, out);
  }
  out.summary = fmt::format("{} -> {}{}", c.cfg.bootstrap_file.empty() ? "(no bootstrap.file)" : c.cfg.bootstrap_file.string(),
                            c.to.bootstrap_servers, c.cfg.redirect_hook.empty() ? "" : "; hook ok");
  return out;
}

ReverseResult reverse(StepContext& c) {
  if (!c.reverse_flow) return {false, std::nullopt, "no reverse flow configured", "no reverse flow configured"};
  const auto f = c.result<FenceResult>();
  if (!f || !f->fenced)
    return {false, c.reverse_flow->name(),
            fmt::format("{} was not fenced (unreachable); failback starts the reverse flow", c.from.name),
            fmt::format("flow {} not started: {} unreachable", c.reverse_flow->name(), c.from.name)};
  try {
    resume_flow(c.io.mirrors, *c.reverse_flow);
  } catch (const MirrorError& e) {
    throw StepFailure(fmt::format("cannot start the reverse flow {}: {}", c.reverse_flow->name(), e.what()));
  }
  return {true, c.reverse_flow->name(), std::nullopt, fmt::format("flow {} running", c.reverse_flow->name())};
}

VerifyResult verify(StepContext& c) {
  try {
    CanaryResult r = c.io.canary.run(c.to, c.op_id, std::chrono::seconds(30));
    const int64_t rto = r.acked_ms - c.op_begin_ms;
    return {kCanaryTopic, r.partition, r.offset, r.acked_ms, r.consumed_ms, rto,
            fmt::format("canary produced and read back on {} (offset {}); RTO {} ms", c.to.name, r.offset, rto)};
  } catch (const std::exception& e) {
    throw StepFailure(e.what());
  }
}

ReportResult report(StepContext& c) {
  StatusReport st = collect_status(c.cfg, c.io.regions, c.io.mirrors);
  // This operation is still pending while its report is written: that is not a problem of the
  // final state (it ends right after this step).
  st.problems = evaluate_deployment(st.regions, nullptr);
  c.final_health = to_json(st);
  json rep = build_report(c.op(), c.final_health);
  rep["outcome"] = "ok";
  const auto path = write_report(c.cfg.state_dir / "reports", rep);
  return {path.string(), st.all_healthy(), "report " + path.string()};
}

// One row: the name is the result type's, so the journal key is spelled once.
template <class R, R (*Run)(StepContext&)>
StepDef row(void (*rollback)(StepContext&, RollbackResult&) = nullptr) {
  return {R::kStep, [](StepContext& c) -> json { return Run(c); }, rollback};
}

}  // namespace

const std::vector<StepDef>& failover_table() {
  static const std::vector<StepDef> table = {
      row<PrecheckResult, &precheck>(),
      row<KeepAsideResult, &keep_aside>(),
      row<SyncFlowResult, &sync_flow>(),
      row<FenceResult, &fence>(&unfence),
      row<DrainResult, &drain>(&resume_forward_flow),
      row<StopFlowResult, &stop>(&resume_forward_flow),
      row<PromoteResult, &promote>(),
      row<RedirectResult, &redirect>(),
      row<ReverseResult, &reverse>(),
      row<VerifyResult, &verify>(),
      row<ReportResult, &report>(),
  };
  return table;
}

const std::vector<std::string>& failover_steps() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& s : failover_table()) out.push_back(s.name);
    return out;
  }();
  return names;
}

}  // namespace ferry::dr
