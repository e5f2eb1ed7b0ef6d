#include "dr-orchestrator/failover.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/clock.h"
#include "dr-orchestrator/failover_machine.h"
#include "dr-orchestrator/report.h"

namespace ferry::dr {

namespace {

using json = nlohmann::json;

const OpRecord* newest_ok(const std::vector<OpRecord>& history, const std::string& exclude_op) {
  for (auto it = history.rbegin(); it != history.rend(); ++it)
    if (it->op_id != exclude_op && it->outcome == "ok" && (it->spec.kind == "failover" || it->spec.kind == "failback"))
      return &*it;
  return nullptr;
}

}  // namespace

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
    : cfg_(cfg), journal_(journal), audit_(audit), real_(std::make_unique<RealBackends>()), io_(real_->view()),
      progress_(std::move(progress)), failpoint_(crash_point) {}

Operation::Operation(const DrConfig& cfg, Journal& journal, AuditLog& audit, Backends io, ProgressFn progress,
                     Failpoint failpoint)
    : cfg_(cfg), journal_(journal), audit_(audit), io_(io), progress_(std::move(progress)), failpoint_(std::move(failpoint)) {}

Operation::~Operation() = default;

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
  spec.extra = OpOptions{req.planned, req.force, req.max_data_loss.value_or(cfg_.policy.max_data_loss_records)};
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
  OpOptions opts;
  try {
    opts = spec.extra.get<OpOptions>();
  } catch (const StepDataError& e) {
    throw StepDataError(e.step(), e.key(), "journal: operation " + op_id + " " + e.what());
  }
  const int64_t begin_ms = op(op_id).begin_ms;
  StepContext c{cfg_,
                io_,
                journal_,
                audit_,
                op_id,
                spec,
                cfg_.region(spec.from),
                cfg_.region(spec.to),
                cfg_.flow(spec.from, spec.to),
                cfg_.flow(spec.to, spec.from),
                opts.force,
                opts.planned,
                opts.max_data_loss,
                cfg_.policy.drain_timeout,
                begin_ms,
                [this, begin_ms](const std::string& line) {
                  if (progress_) progress_(fmt::format("[+{:6.2f}s] {}", (wall_clock_ms() - begin_ms) / 1000.0, line));
                },
                json()};

  // A crash during rollback: finish the rollback.
  if (const StepRecord* rb = c.op().step(RollbackPlan::kStep); rb && !rb->ended)
    return roll_back(c, rb->begin_data.get<RollbackPlan>().reason, Exit::failed);

  for (const StepDef& s : failover_table()) {
    if (const StepRecord* r = c.op().step(s.name); r && r->ended) continue;
    journal_.step_begin(s.name);
    audit_.record(fmt::format("step {}", s.name), "started", "", json::object(), op_id);
    json data;
    try {
      failpoint_("before", s.name);
      data = s.run(c);
    } catch (const StepFailure& f) {
      return fail(c, s.name, f);
    } catch (const std::exception& e) {
      // Unexpected (I/O on the journal or audit log, a client bug, a damaged journal): stop here,
      // leave the op pending. The step has begun without an end, so `resume` runs it again.
      c.say(fmt::format("{}: ERROR: {}", s.name, e.what()));
      throw;
    }
    journal_.step_end(s.name, data);
    audit_.record(fmt::format("step {}", s.name), "ok", "", data, op_id);
    c.say(fmt::format("{}: {}", s.name, data.value("summary", "ok")));
    failpoint_("after", s.name);
  }
  return finish(c);
}

OperationResult Operation::fail(StepContext& c, const std::string& name, const StepFailure& f) {
  journal_.step_failed(name, f.what(), f.data);
  audit_.record("step " + name, f.refuse ? "refused" : "failed", f.what(), f.data, c.op_id);
  c.say(fmt::format("{}: {} {}", name, f.refuse ? "REFUSED:" : "FAILED:", f.what()));
  if (f.refuse) {
    journal_.end_op("refused", {{"reason", f.what()}});
    audit_.record(c.spec.kind, "refused", f.what(), json::object(), c.op_id);
    return {c.op_id, "refused", f.exit, f.what(), json(), ""};
  }
  if (!c.op().step(kPointOfNoReturn)) return roll_back(c, fmt::format("{} failed: {}", name, f.what()), f.exit);
  audit_.record(c.spec.kind, "failed",
                fmt::format("{} failed; the operation stays pending for `ferry-dr resume`: {}", name, f.what()),
                json::object(), c.op_id);
  return {c.op_id, "failed", f.exit,
          fmt::format("{} failed: {} (the operation stays pending: fix it and run `ferry-dr resume`)", name, f.what()),
          json(), ""};
}

// Undoes what a pre-promotion failure left: the rollbacks of the steps that began, newest first.
OperationResult Operation::roll_back(StepContext& c, const std::string& reason, Exit exit) {
  std::vector<const StepDef*> undo;
  const auto& table = failover_table();
  for (auto it = table.rbegin(); it != table.rend(); ++it)
    if (it->rollback && c.op().step(it->name)) undo.push_back(&*it);
  RollbackPlan plan{reason, std::vector<std::string>{}};
  for (const StepDef* s : undo) plan.undo->push_back(s->name);
  journal_.step_begin(RollbackPlan::kStep, plan);
  failpoint_("before", RollbackPlan::kStep);
  RollbackResult done;
  try {
    for (const StepDef* s : undo) s->rollback(c, done);
  } catch (const DrError& e) {
    journal_.step_failed(RollbackPlan::kStep, e.what(), done);
    audit_.record("step rollback", "failed", e.what(), done, c.op_id);
    c.say(fmt::format("rollback FAILED: {}; fix it and run `ferry-dr resume`", e.what()));
    return {c.op_id, "failed", Exit::failed, fmt::format("{}; rollback failed: {}", reason, e.what()), json(), ""};
  }
  journal_.step_end(RollbackPlan::kStep, done);
  audit_.record("step rollback", "ok", reason, done, c.op_id);
  c.say(fmt::format("rolled back: {} is primary again", c.from.name));
  json rep = build_report(c.op(), nullptr);
  rep["outcome"] = "rolled_back";
  rep["reason"] = reason;
  std::string md;
  try {
    md = write_report(cfg_.state_dir / "reports", rep).string();
  } catch (const DrError& e) {
    spdlog::warn("{}", e.what());
  }
  journal_.end_op("rolled_back", {{"reason", reason}});
  audit_.record(c.spec.kind, "failed", "rolled back: " + reason, json::object(), c.op_id);
  return {c.op_id, "rolled_back", exit, reason, rep, md};
}

OperationResult Operation::finish(StepContext& c) {
  const std::string md_path = c.result<ReportResult>().value().path;
  journal_.end_op("ok", {{"rto_ms", c.result<VerifyResult>().value().rto_ms}});
  audit_.record(c.spec.kind, "ok", "", {{"report", md_path}}, c.op_id);
  if (c.final_health.is_null()) {
    // The report step ended in an earlier run: its file has the final health.
    try {
      std::ifstream in(std::filesystem::path(md_path).replace_extension(".json"));
      c.final_health = json::parse(in).value("final_health", json());
    } catch (const std::exception&) {
    }
  }
  // Rewritten with every step ended (the report step was still running when it was first written).
  json full = build_report(c.op(), c.final_health);
  try {
    write_report(cfg_.state_dir / "reports", full);
  } catch (const DrError& e) {
    spdlog::warn("{}", e.what());
  }
  return {c.op_id, "ok", Exit::ok, "", full, md_path};
}

}  // namespace ferry::dr
