#include "dr-orchestrator/failover.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "common/clock.h"
#include "dr-orchestrator/canary.h"
#include "dr-orchestrator/flow_steps.h"
#include "dr-orchestrator/kafka_admin.h"
#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/report.h"
#include "dr-orchestrator/status.h"

namespace ferry::dr {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

StepFailure refusal(const std::string& what, Exit exit = Exit::failed) { return StepFailure(what, exit, json::object(), true); }

const OpRecord* newest_ok(const std::vector<OpRecord>& history, const std::string& exclude_op) {
  for (auto it = history.rbegin(); it != history.rend(); ++it)
    if (it->op_id != exclude_op && it->outcome == "ok" && (it->spec.kind == "failover" || it->spec.kind == "failback"))
      return &*it;
  return nullptr;
}

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

// Runs `command` with /bin/sh -c and extra environment; returns (exit status, stderr+stdout tail).
std::pair<int, std::string> run_hook(const std::string& command, const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "cannot start /bin/sh"};
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = pclose(p);
  for (const auto& [k, v] : env) unsetenv(k.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0), tail(out, 400)};
}

}  // namespace

const std::vector<std::string>& failover_steps() {
  static const std::vector<std::string> steps = {"precheck", "keep_aside", "sync_flow", "fence",  "drain",  "stop_flow",
                                                 "promote",  "redirect",   "reverse",   "verify", "report"};
  return steps;
}

void crash_point(const std::string& when, const std::string& step) {
  const char* at = std::getenv("FERRY_DR_CRASH_AT");
  if (at && when + ":" + step == at) {
    spdlog::warn("FERRY_DR_CRASH_AT={}: killing myself with SIGKILL", at);
    std::fflush(nullptr);
    raise(SIGKILL);
  }
}

std::optional<std::string> failback_target(const std::vector<OpRecord>& history) {
  if (const OpRecord* op = newest_ok(history, "")) return op->spec.from;
  return std::nullopt;
}

Operation::Operation(const DrConfig& cfg, Journal& journal, AuditLog& audit, ProgressFn progress)
    : cfg_(cfg), journal_(journal), audit_(audit), progress_(std::move(progress)) {}

const OpRecord& Operation::op(const std::string& op_id) const {
  for (const auto& o : journal_.history())
    if (o.op_id == op_id) return o;
  throw DrError(Exit::failed, "operation " + op_id + " is not in the journal");
}

OperationResult Operation::start(const FailoverRequest& req) {
  if (auto p = journal_.pending_op())
    throw DrError(Exit::failed, fmt::format("operation {} ({} {} -> {}) is still pending; run `ferry-dr resume` to "
                                            "finish it first",
                                            p->op_id, p->spec.kind, p->spec.from, p->spec.to));
  std::string to = req.to;
  std::string from;
  const auto state = read_state(cfg_.state_dir);
  if (req.kind == "failback") {
    auto back = failback_target(journal_.history());
    if (!back) throw DrError(Exit::bad_input, "failback: the journal has no completed failover to go back from");
    to = *back;
  }
  try {
    cfg_.region(to);
  } catch (const std::exception& e) {
    throw DrError(Exit::bad_input, std::string("--to: ") + e.what());
  }
  if (state && !state->primary.empty()) {
    if (state->primary == to)
      throw DrError(Exit::bad_input, fmt::format("{} is already the primary (state.json, set by {}); nothing to fail "
                                                 "over",
                                                 to, state->op_id.empty() ? "hand" : "operation " + state->op_id));
    from = state->primary;
  } else {
    // No operation has run yet: the active region is the one replicating into the target.
    for (const auto& f : cfg_.flows)
      if (f.target == to) from = from.empty() ? f.source : "?";
    if (from == "?" || from.empty()) {
      if (cfg_.regions.size() != 2)
        throw DrError(Exit::bad_input, fmt::format("cannot tell which region is primary now: state.json has none and "
                                                   "{} flows lead into {}",
                                                   from.empty() ? "no" : "several", to));
      for (const auto& [name, r] : cfg_.regions)
        if (name != to) from = name;
    }
  }
  OpSpec spec;
  spec.kind = req.kind;
  spec.from = from;
  spec.to = to;
  spec.mode = req.planned ? "planned" : req.force ? "force" : "auto";
  spec.extra = {{"planned", req.planned},
                {"force", req.force},
                {"max_data_loss", req.max_data_loss.value_or(cfg_.policy.max_data_loss_records)}};
  const std::string op_id = journal_.begin_op(spec);
  audit_.record(req.kind, "started", "", to_json(spec), op_id);
  if (progress_) progress_(fmt::format("{} {} -> {} (operation {})", req.kind, from, to, op_id));
  return run(op_id);
}

OperationResult Operation::resume() {
  auto p = journal_.pending_op();
  if (!p) throw DrError(Exit::failed, "nothing to resume: the journal has no pending operation");
  journal_.resume_op(p->op_id);
  audit_.record("resume", "started", "", {{"kind", p->spec.kind}, {"from", p->spec.from}, {"to", p->spec.to}}, p->op_id);
  if (progress_) progress_(fmt::format("resuming {} {} -> {} (operation {})", p->spec.kind, p->spec.from, p->spec.to, p->op_id));
  return run(p->op_id);
}

OperationResult Operation::run(const std::string& op_id) {
  const OpSpec spec = op(op_id).spec;
  const RegionConfig& from = cfg_.region(spec.from);
  const RegionConfig& to = cfg_.region(spec.to);
  const bool force = spec.extra.value("force", false);
  const bool want_planned = spec.extra.value("planned", false);
  const int64_t max_loss = spec.extra.value("max_data_loss", int64_t{0});
  const FlowConfig* flow = cfg_.flow(spec.from, spec.to);
  const FlowConfig* reverse_flow = cfg_.flow(spec.to, spec.from);
  const milliseconds drain_timeout = cfg_.policy.drain_timeout;
  const int64_t op_begin_ms = op(op_id).begin_ms;

  auto data_of = [&](const std::string& step) -> json {
    const StepRecord* s = op(op_id).step(step);
    return s && s->ended ? s->end_data : json::object();
  };
  auto planned = [&] { return data_of("precheck").value("planned", false); };
  auto say = [&](const std::string& line) {
    if (progress_) progress_(fmt::format("[+{:6.2f}s] {}", (wall_clock_ms() - op_begin_ms) / 1000.0, line));
  };
  auto resume_flow = [&](const FlowConfig& f) {
    for (const auto& url : f.status_urls) MirrorClient(url).resume(f.source, f.target);
  };

  // ---- the steps; each returns its journal data with a one-line "summary" ----
  std::map<std::string, std::function<json()>> work;

  work["precheck"] = [&]() -> json {
    RegionHealth th = probe(to);
    RegionVerdict tv = evaluate_region(th);
    if (tv.state == RegionState::down)
      throw refusal(fmt::format("target region {} is down: {}", to.name, th.error.empty() ? fmt::format("{}", fmt::join(tv.reasons, "; ")) : th.error));
    RegionHealth fh = RegionClient(from, std::chrono::seconds(5)).probe();
    const bool from_reachable = fh.reachable;
    if (from_reachable && th.role == "primary" && fh.role == "standby")
      throw refusal(fmt::format("{} is already the primary ({} is standby); nothing to fail over", to.name, from.name),
                    Exit::bad_input);
    if (want_planned && !from_reachable)
      throw refusal(fmt::format("a planned failover needs {} reachable, and it is not ({}); an unplanned failover "
                                "is `ferry-dr failover --to {} --force`",
                                from.name, fh.error, to.name));
    if (!flow && !force)
      throw refusal(fmt::format("no flow {} -> {} is configured, so nothing of {} is on {}; --force to fail over "
                                "anyway",
                                from.name, to.name, from.name, to.name));
    json out = {{"planned", from_reachable}, {"from_reachable", from_reachable}, {"from_error", fh.error},
                {"to_state", to_string(tv.state)}, {"to_reasons", tv.reasons}, {"from_role", fh.role},
                {"to_role", th.role}};
    if (!from_reachable) {
      // The mirror's lag is a lower bound: its view of the source's log end offsets is as old as
      // its last read, and the source may have acknowledged more before it died.
      std::optional<int64_t> estimate;
      json view;
      std::string why;
      if (flow) {
        FlowHealth fl = probe_flow(*flow);
        if (fl.reachable) {
          json pj = json::array();
          for (const auto& p : fl.partitions)
            pj.push_back({{"topic", p.topic}, {"partition", p.partition}, {"next_offset", p.next_offset},
                          {"source_end_offset", p.source_end_offset},
                          {"source_end_offset_ms", p.source_end_offset_ms ? json(*p.source_end_offset_ms) : json(nullptr)}});
          view = describe_unplanned_loss(compute_loss(pj, json::array()), pj, false, wall_clock_ms(), wall_clock_ms());
          estimate = view["rpo_records_lower_bound"].get<int64_t>();
        } else {
          why = fmt::format("{}", fmt::join(fl.errors, "; "));
        }
      }
      out["estimated_loss_lower_bound"] = estimate ? json(*estimate) : json(nullptr);
      out["source_view_age_ms"] = view.is_object() ? view["source_view_age_ms"] : json(nullptr);
      if (!estimate && !force)
        throw refusal(fmt::format("{} is unreachable and the loss cannot be estimated (mirror: {}); --force to fail "
                                  "over anyway",
                                  from.name, why));
      if (estimate && *estimate > max_loss && !force)
        throw refusal(fmt::format("{} is unreachable and failing over would lose {}: more than --max-data-loss {} "
                                  "already; --force to accept",
                                  from.name, view["loss_text"].get<std::string>(), max_loss));
      audit_.record("decision mode", "ok", "source unreachable: unplanned failover",
                    {{"estimated_loss_lower_bound", out["estimated_loss_lower_bound"]},
                     {"source_view_age_ms", out["source_view_age_ms"]}, {"force", force}},
                    op_id);
    } else {
      audit_.record("decision mode", "ok", "source reachable: planned failover (drain to lag 0)", json::object(), op_id);
    }
    out["summary"] = fmt::format("{} {}, {} {}: {} {}", to.name, to_string(tv.state), from.name,
                                 from_reachable ? "reachable" : "unreachable", from_reachable ? "planned" : "unplanned",
                                 spec.kind);
    return out;
  };

  work["keep_aside"] = [&]() -> json {
    // The newest completed operation that moved the primary away from `to` without draining.
    const OpRecord* last = nullptr;
    for (auto it = journal_.history().rbegin(); it != journal_.history().rend(); ++it)
      if (it->op_id != op_id && it->outcome == "ok") {
        last = &*it;
        break;
      }
    json kept = json::array();
    if (!last || last->spec.from != to.name || !last->step("drain") || last->step("drain")->end_data.value("planned", true))
      return {{"kept_aside", kept}, {"summary", "nothing kept aside"}};
    // Every partition the mirror had a position for (the loss list names only those whose loss
    // the mirror could see; a lower bound of 0 may still hide records), each from the first
    // offset the target did not receive.
    json loss = json::array();
    for (const auto& p : last->step("drain")->end_data.value("partitions", json::array()))
      if (!is_heartbeats_topic(p.at("topic")))
        loss.push_back({{"topic", p.at("topic")}, {"partition", p.at("partition")}, {"from_offset", p.at("next_offset")}});
    if (loss.empty()) loss = last->step("drain")->end_data.value("loss", json::array());
    // Partitions whose position the mirror did not know at that failover (--force): where the
    // target stopped is unknown, so their records cannot be listed and the exact loss stays
    // unknown, never 0.
    const json unknown = last->step("drain")->end_data.value("unknown_partitions", json::array());
    const bool some_unknown = !unknown.empty() || last->step("drain")->end_data.value("loss_unknown", false);
    std::set<std::string> topics;
    for (const auto& l : loss) topics.insert(l.at("topic").get<std::string>());
    if (topics.empty() && !some_unknown)
      return {{"kept_aside", kept}, {"summary", "nothing kept aside (no loss recorded)"}};
    std::map<TopicPartition, int64_t> leo;
    try {
      if (!topics.empty()) leo = log_end_offsets(to, {topics.begin(), topics.end()});
    } catch (const DrError& e) {
      throw StepFailure(fmt::format("cannot read {}'s log end offsets to find records written after the last "
                                    "replicated offset: {}",
                                    to.name, e.what()));
    }
    int64_t total = 0;
    for (const auto& l : loss) {
      auto it = leo.find({l.at("topic").get<std::string>(), l.at("partition").get<int32_t>()});
      const int64_t from_off = l.at("from_offset");
      if (it != leo.end() && it->second > from_off) {
        kept.push_back({{"topic", l.at("topic")}, {"partition", l.at("partition")}, {"from_offset", from_off},
                        {"to_offset", it->second}, {"records", it->second - from_off}});
        total += it->second - from_off;
      }
    }
    // Now that the old primary is back, its log end offsets give the unplanned failover's exact
    // loss; it stands next to that operation's estimate (a lower bound).
    const json& ld = last->step("drain")->end_data;
    const json estimate = ld.contains("rpo_records_lower_bound") ? ld["rpo_records_lower_bound"] : ld.value("rpo_records", json(nullptr));
    const json loss_check = {{"op_id", last->op_id}, {"estimated_lower_bound", estimate},
                             {"source_view_age_ms", ld.value("source_view_age_ms", json(nullptr))},
                             {"exact", some_unknown ? json(nullptr) : json(total)},
                             {"unknown_partitions", unknown}, {"records_in_known_partitions", total}};
    audit_.record("decision kept-aside", "ok", "records on the old primary after the last replicated offset stay in "
                  "its log and are listed, never deleted",
                  {{"kept_aside", kept}, {"from_op", last->op_id}, {"loss_exact_after_return", loss_check}}, op_id);
    return {{"kept_aside", kept}, {"records", total}, {"from_op", last->op_id}, {"earlier_loss", loss_check},
            {"summary", !some_unknown
                            ? fmt::format("{} record(s) of {} written after operation {}'s last replicated offset are "
                                          "kept aside: that failover's exact loss (it estimated at least {})",
                                          total, to.name, last->op_id, estimate.is_null() ? "unknown" : estimate.dump())
                            : fmt::format("{} record(s) of {} kept aside in the partitions operation {} knew a "
                                          "position for; its exact loss stays unknown: the mirror knew no position "
                                          "for {}",
                                          total, to.name, last->op_id,
                                          unknown.empty() ? std::string("any partition") : unknown.dump())}};
  };

  work["sync_flow"] = [&]() -> json {
    if (!planned() || !flow) return {{"skipped", true}, {"summary", "skipped (unplanned)"}};
    bool fenced_target = false;
    if (RegionClient(to).cluster_role() == ClusterRole::primary) {
      // Both regions writable (first failover, or an old primary that came back): close the
      // target to applications before the switch, so nothing is written on both sides.
      set_cluster_role(to, ClusterRole::standby);
      fenced_target = true;
    }
    try {
      resume_flow(*flow);
    } catch (const MirrorError& e) {
      throw StepFailure(fmt::format("cannot start flow {}: {}", flow->name(), e.what()));
    }
    return {{"fenced_target", fenced_target}, {"flow_running", true},
            {"summary", fmt::format("flow {} running{}", flow->name(), fenced_target ? fmt::format("; {} set to standby until promoted", to.name) : "")}};
  };

  work["fence"] = [&]() -> json {
    if (!data_of("precheck").value("from_reachable", false)) {
      audit_.record("decision fence", "ok", "old primary unreachable: not fenced; failback fences it first",
                    {{"region", from.name}}, op_id);
      return {{"fenced", false}, {"reason", fmt::format("{} unreachable", from.name)},
              {"summary", fmt::format("{} NOT fenced: unreachable (failback sets it to standby before anything else)", from.name)}};
    }
    try {
      set_cluster_role(from, ClusterRole::standby);
      if (cluster_role(from) != ClusterRole::standby) throw DrError(Exit::failed, "role read back is not standby");
    } catch (const DrError& e) {
      throw StepFailure(fmt::format("cannot fence {}: {}", from.name, e.what()));
    }
    return {{"fenced", true}, {"summary", fmt::format("{} is standby: application produce now fails with POLICY_VIOLATION", from.name)}};
  };

  auto flow_step = [&] { return FlowStepContext{from, to, *flow, drain_timeout, force, max_loss, audit_, op_id}; };
  work["drain"] = [&]() -> json {
    if (!flow)
      return {{"planned", planned()}, {"loss_exact", false}, {"loss", json::array()}, {"rpo_records", nullptr},
              {"rpo_records_lower_bound", nullptr}, {"summary", "no flow: loss unknown"}};
    return planned() ? drain_planned(flow_step()) : drain_unplanned(flow_step());
  };

  work["stop_flow"] = [&]() -> json {
    if (!flow) return {{"groups", json::array()}, {"translated", false}, {"summary", "no flow"}};
    return stop_flow(flow_step(), planned(), data_of("drain"));
  };

  work["promote"] = [&]() -> json {
    try {
      set_cluster_role(to, ClusterRole::primary);
      if (cluster_role(to) != ClusterRole::primary) throw DrError(Exit::failed, "role read back is not primary");
    } catch (const DrError& e) {
      throw StepFailure(fmt::format("cannot promote {}: {}", to.name, e.what()));
    }
    write_state(cfg_.state_dir, DrState{to.name, wall_clock_ms(), op_id});
    return {{"role", "primary"}, {"summary", fmt::format("{} is primary", to.name)}};
  };

  work["redirect"] = [&]() -> json {
    json out = {{"bootstrap_file", cfg_.bootstrap_file.string()}, {"servers", to.bootstrap_servers}};
    if (!cfg_.bootstrap_file.empty()) atomic_write_file(cfg_.bootstrap_file, to.bootstrap_servers + "\n");
    if (!cfg_.redirect_hook.empty()) {
      auto [status, output] = run_hook(cfg_.redirect_hook, {{"FERRY_DR_PRIMARY", to.name},
                                                            {"FERRY_DR_BOOTSTRAP", to.bootstrap_servers},
                                                            {"FERRY_DR_OP_ID", op_id}});
      out["hook_exit"] = status;
      out["hook_output"] = output;
      if (status != 0)
        throw StepFailure(fmt::format("redirect.hook exited with {}: {}", status, output), Exit::failed, out);
    }
    out["summary"] = fmt::format("{} -> {}{}", cfg_.bootstrap_file.empty() ? "(no bootstrap.file)" : cfg_.bootstrap_file.string(),
                                 to.bootstrap_servers, cfg_.redirect_hook.empty() ? "" : "; hook ok");
    return out;
  };

  work["reverse"] = [&]() -> json {
    if (!reverse_flow) return {{"started", false}, {"reason", "no reverse flow configured"}, {"summary", "no reverse flow configured"}};
    if (!data_of("fence").value("fenced", false))
      return {{"started", false}, {"flow", reverse_flow->name()},
              {"reason", fmt::format("{} was not fenced (unreachable); failback starts the reverse flow", from.name)},
              {"summary", fmt::format("flow {} not started: {} unreachable", reverse_flow->name(), from.name)}};
    try {
      resume_flow(*reverse_flow);
    } catch (const MirrorError& e) {
      throw StepFailure(fmt::format("cannot start the reverse flow {}: {}", reverse_flow->name(), e.what()));
    }
    return {{"started", true}, {"flow", reverse_flow->name()}, {"summary", fmt::format("flow {} running", reverse_flow->name())}};
  };

  work["verify"] = [&]() -> json {
    try {
      CanaryResult c = run_canary(to, op_id, std::chrono::seconds(30));
      return {{"topic", kCanaryTopic}, {"partition", c.partition}, {"offset", c.offset}, {"acked_ms", c.acked_ms},
              {"consumed_ms", c.consumed_ms}, {"rto_ms", c.acked_ms - op_begin_ms},
              {"summary", fmt::format("canary produced and read back on {} (offset {}); RTO {} ms", to.name, c.offset,
                                      c.acked_ms - op_begin_ms)}};
    } catch (const std::exception& e) {
      throw StepFailure(e.what());
    }
  };

  json final_health;  // taken by the report step; the report is rewritten once that step ended
  work["report"] = [&]() -> json {
    StatusReport st = collect_status(cfg_);
    // This operation is still pending while its report is written: that is not a problem of the
    // final state (it ends right after this step).
    st.problems = evaluate_deployment(st.regions, nullptr);
    final_health = to_json(st);
    json rep = build_report(op(op_id), final_health);
    rep["outcome"] = "ok";
    const auto path = write_report(cfg_.state_dir / "reports", rep);
    return {{"path", path.string()}, {"final_healthy", st.all_healthy()}, {"summary", "report " + path.string()}};
  };

  // ---- rollback: undo what a pre-promotion failure left (un-fence, resume the flow) ----
  auto rollback = [&](const std::string& reason, Exit exit) -> OperationResult {
    journal_.step_begin("rollback", {{"reason", reason}});
    crash_point("before", "rollback");
    json done = json::object();
    try {
      if (data_of("fence").value("fenced", false)) {
        set_cluster_role(from, ClusterRole::primary);
        done["unfenced"] = from.name;
      }
      if (flow && (op(op_id).step("drain") || op(op_id).step("stop_flow"))) {
        try {
          resume_flow(*flow);
          done["flow_resumed"] = flow->name();
        } catch (const MirrorError& e) {
          done["flow_not_resumed"] = e.what();
        }
      }
    } catch (const DrError& e) {
      journal_.step_failed("rollback", e.what(), done);
      audit_.record("step rollback", "failed", e.what(), done, op_id);
      say(fmt::format("rollback FAILED: {}; fix it and run `ferry-dr resume`", e.what()));
      return {op_id, "failed", Exit::failed, fmt::format("{}; rollback failed: {}", reason, e.what()), json(), ""};
    }
    journal_.step_end("rollback", done);
    audit_.record("step rollback", "ok", reason, done, op_id);
    say(fmt::format("rolled back: {} is primary again", from.name));
    json rep = build_report(op(op_id), nullptr);
    rep["outcome"] = "rolled_back";
    rep["reason"] = reason;
    std::string md;
    try {
      md = write_report(cfg_.state_dir / "reports", rep).string();
    } catch (const DrError& e) {
      spdlog::warn("{}", e.what());
    }
    journal_.end_op("rolled_back", {{"reason", reason}});
    audit_.record(spec.kind, "failed", "rolled back: " + reason, json::object(), op_id);
    return {op_id, "rolled_back", exit, reason, rep, md};
  };

  // A crash during rollback: finish the rollback.
  if (const StepRecord* rb = op(op_id).step("rollback"); rb && !rb->ended)
    return rollback(rb->begin_data.value("reason", "resumed rollback"), Exit::failed);

  const auto& steps = failover_steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string& name = steps[i];
    if (const StepRecord* s = op(op_id).step(name); s && s->ended) continue;
    journal_.step_begin(name);
    audit_.record("step " + name, "started", "", json::object(), op_id);
    crash_point("before", name);
    json data;
    try {
      data = work.at(name)();
    } catch (const StepFailure& f) {
      journal_.step_failed(name, f.what(), f.data);
      audit_.record("step " + name, f.refuse ? "refused" : "failed", f.what(), f.data, op_id);
      say(fmt::format("{}: {} {}", name, f.refuse ? "REFUSED:" : "FAILED:", f.what()));
      if (f.refuse) {
        journal_.end_op("refused", {{"reason", f.what()}});
        audit_.record(spec.kind, "refused", f.what(), json::object(), op_id);
        return {op_id, "refused", f.exit, f.what(), json(), ""};
      }
      const bool promoted = op(op_id).step("promote") != nullptr;
      if (!promoted) return rollback(fmt::format("{} failed: {}", name, f.what()), f.exit);
      audit_.record(spec.kind, "failed", fmt::format("{} failed; the operation stays pending for `ferry-dr resume`: {}", name, f.what()),
                    json::object(), op_id);
      return {op_id, "failed", f.exit, fmt::format("{} failed: {} (the operation stays pending: fix it and run `ferry-dr "
                                                   "resume`)",
                                                   name, f.what()),
              json(), ""};
    } catch (const std::exception& e) {
      // Unexpected (I/O on the journal or audit log, a client bug): stop here, leave the op
      // pending. The step has begun without an end, so `resume` runs it again.
      say(fmt::format("{}: ERROR: {}", name, e.what()));
      throw;
    }
    journal_.step_end(name, data);
    audit_.record("step " + name, "ok", "", data, op_id);
    say(fmt::format("{}: {}", name, data.value("summary", "ok")));
    crash_point("after", name);
  }
  const std::string md_path = data_of("report").value("path", "");
  journal_.end_op("ok", {{"rto_ms", data_of("verify").value("rto_ms", int64_t{-1})}});
  audit_.record(spec.kind, "ok", "", {{"report", md_path}}, op_id);
  if (final_health.is_null()) {
    // The report step ended in an earlier run: its file has the final health.
    try {
      std::ifstream in(std::filesystem::path(md_path).replace_extension(".json"));
      final_health = json::parse(in).value("final_health", json());
    } catch (const std::exception&) {
    }
  }
  // Rewritten with every step ended (the report step was still running when it was first written).
  json full = build_report(op(op_id), final_health);
  try {
    write_report(cfg_.state_dir / "reports", full);
  } catch (const DrError& e) {
    spdlog::warn("{}", e.what());
  }
  return {op_id, "ok", Exit::ok, "", full, md_path};
}

}  // namespace ferry::dr
