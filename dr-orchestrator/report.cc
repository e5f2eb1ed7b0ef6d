#include "dr-orchestrator/report.h"

#include <fmt/format.h>

#include <sstream>

#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/failover.h"

namespace ferry::dr {

using json = nlohmann::json;

namespace {

json step_data(const OpRecord& op, const std::string& name) {
  const StepRecord* s = op.step(name);
  return s && s->ended ? s->end_data : json::object();
}

std::string cell(const json& v) {
  if (v.is_null()) return "unknown";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

json build_report(const OpRecord& op, const json& final_health) {
  json steps = json::array();
  std::vector<std::string> names = failover_steps();
  names.push_back("rollback");
  for (const auto& name : names) {
    const StepRecord* s = op.step(name);
    if (!s) continue;
    const std::string result = s->ended ? "ok" : s->failed ? "failed" : "running";
    steps.push_back({{"name", name},
                     {"started", rfc3339_ms(s->began_ms)},
                     {"started_ms", s->began_ms},
                     {"duration_ms", s->ended_ms ? json(s->ended_ms - s->began_ms) : json(nullptr)},
                     {"result", result},
                     {"attempts", s->attempts},
                     {"summary", s->end_data.value("summary", "")},
                     {"reason", s->failure_reason}});
  }
  const json pre = step_data(op, "precheck");
  const json drain = step_data(op, "drain");
  const json verify = step_data(op, "verify");
  const json stop = step_data(op, "stop_flow");
  json groups = json::array();
  for (const auto& g : stop.value("groups", json::array()))
    groups.push_back({{"group", g.at("group")}, {"synced", g.at("synced")}, {"reason", g.at("reason")},
                      {"partitions", g.at("offsets").size()}});
  const int64_t end_ms = op.end_ms ? op.end_ms : (op.steps.empty() ? op.begin_ms : std::max(op.steps.back().ended_ms, op.steps.back().began_ms));
  json r = {{"op_id", op.op_id},
            {"kind", op.spec.kind},
            {"from", op.spec.from},
            {"to", op.spec.to},
            {"mode", pre.contains("planned") ? (pre["planned"].get<bool>() ? "planned" : "unplanned") : "unknown"},
            {"force", op.spec.extra.value("force", false)},
            {"outcome", op.outcome ? json(*op.outcome) : json("running")},
            {"started", rfc3339_ms(op.begin_ms)},
            {"started_ms", op.begin_ms},
            {"ended", rfc3339_ms(end_ms)},
            {"duration_ms", end_ms - op.begin_ms},
            {"steps", steps},
            {"rpo_records", drain.contains("rpo_records") ? drain["rpo_records"] : json(nullptr)},
            {"loss_exact", drain.value("loss_exact", false)},
            {"rpo_records_lower_bound", drain.contains("rpo_records_lower_bound") ? drain["rpo_records_lower_bound"]
                                                                                 : drain.value("rpo_records", json(nullptr))},
            {"source_view_as_of_ms", drain.value("source_view_as_of_ms", json(nullptr))},
            {"source_view_age_ms", drain.value("source_view_age_ms", json(nullptr))},
            {"earlier_loss", step_data(op, "keep_aside").value("earlier_loss", json(nullptr))},
            {"loss", drain.value("loss", json::array())},
            {"loss_unknown_partitions", drain.value("unknown_partitions", json::array())},
            {"loss_bound_from_watch", drain.value("watch_bound", json(nullptr))},
            {"rto_ms", verify.contains("rto_ms") ? verify["rto_ms"] : json(nullptr)},
            {"fenced", step_data(op, "fence").value("fenced", false)},
            {"groups_translated", stop.value("translated", false)},
            {"groups", groups},
            {"kept_aside", step_data(op, "keep_aside").value("kept_aside", json::array())},
            {"reverse_flow", {{"started", step_data(op, "reverse").value("started", false)},
                              {"reason", step_data(op, "reverse").value("reason", "")}}},
            {"final_health", final_health}};
  return r;
}

std::string render_markdown(const json& r) {
  std::ostringstream o;
  o << fmt::format("# ferry-dr {} {} -> {}: {}\n\n", r.value("kind", ""), r.value("from", ""), r.value("to", ""),
                   r.value("outcome", ""));
  o << fmt::format("- operation: `{}`, mode **{}**{}\n", r.value("op_id", ""), r.value("mode", ""),
                   r.value("force", false) ? " (--force)" : "");
  o << fmt::format("- started {}, took {:.2f} s\n", r.value("started", ""), r.value("duration_ms", 0) / 1000.0);
  if (r.value("loss_exact", false) || r.value("rpo_records_lower_bound", json(nullptr)).is_null()) {
    o << fmt::format("- **RPO: {} record(s) lost**{}\n", cell(r["rpo_records"]), r["rpo_records"].is_null() ? "" : " (exact)");
  } else {
    const json& age = r["source_view_age_ms"];
    o << fmt::format("- **RPO: at least {} record(s) lost** (a lower bound: the mirror's view of {}'s log end offsets {}; "
                     "the true loss may be higher, and a failback after {} returns lists the exact figure)\n",
                     cell(r["rpo_records_lower_bound"]), r.value("from", ""),
                     age.is_null() ? std::string("is of unknown age")
                                   : fmt::format("was {} ms old (as of {})", age.get<int64_t>(),
                                                 rfc3339_ms(r["source_view_as_of_ms"].get<int64_t>())),
                     r.value("from", ""));
  }
  if (const json& e = r.value("earlier_loss", json(nullptr)); e.is_object() && e.value("exact", json(nullptr)).is_null())
    o << fmt::format("- **operation {} (unplanned) lost an UNKNOWN number of records**: the mirror knew no position "
                     "for some partitions then, so where {} stopped there is unknown ({} record(s) kept aside where "
                     "it was known; estimated then: at least {})\n",
                     cell(e["op_id"]), r.value("from", ""), cell(e.value("records_in_known_partitions", json(nullptr))),
                     cell(e["estimated_lower_bound"]));
  else if (e.is_object())
    o << fmt::format("- **operation {} (unplanned) lost exactly {} record(s)** (estimated then: at least {}{}), measured "
                     "now on {} as the records kept aside below\n",
                     cell(e["op_id"]), cell(e["exact"]), cell(e["estimated_lower_bound"]),
                     e.value("source_view_age_ms", json(nullptr)).is_null()
                         ? std::string("")
                         : fmt::format(", from a view {} ms old", e["source_view_age_ms"].get<int64_t>()),
                     r.value("to", ""));
  o << fmt::format("- **RTO: {}** (operation start -> first successful produce on {})\n",
                   r["rto_ms"].is_null() ? std::string("not measured") : fmt::format("{} ms", r["rto_ms"].get<int64_t>()),
                   r.value("to", ""));
  o << fmt::format("- old primary fenced: {}\n", r.value("fenced", false) ? "yes" : "NO");
  if (r.contains("reason") && r["reason"].is_string()) o << "- reason: " << r["reason"].get<std::string>() << "\n";
  o << "\n## Steps\n\n| step | started | took (ms) | result | attempts | what happened |\n|---|---|---|---|---|---|\n";
  for (const auto& s : r["steps"])
    o << fmt::format("| {} | {} | {} | {} | {} | {} |\n", s.value("name", ""), s.value("started", ""), cell(s["duration_ms"]),
                     s.value("result", ""), s.value("attempts", 0),
                     s.value("result", "") == "ok" ? s.value("summary", "") : s.value("reason", ""));
  if (!r["loss"].empty()) {
    o << "\n## Records lost (not replicated)\n\n| topic | partition | offsets | records |\n|---|---|---|---|\n";
    for (const auto& l : r["loss"])
      o << fmt::format("| {} | {} | [{}, {}) | {} |\n", cell(l["topic"]), cell(l["partition"]), cell(l["from_offset"]),
                       cell(l["to_offset"]), cell(l["records"]));
  }
  if (const json unknown = r.value("loss_unknown_partitions", json::array()); !unknown.empty()) {
    o << "\n## Loss unknown (the mirror had no position for these partitions)\n\n| topic | partition |\n|---|---|\n";
    for (const auto& l : unknown) o << fmt::format("| {} | {} |\n", cell(l["topic"]), cell(l["partition"]));
    if (const json& b = r["loss_bound_from_watch"]; b.is_object())
      o << "\nFrom ferry-dr watch's last view of the flow: " << b.value("text", "") << ".\n";
  }
  if (!r["kept_aside"].empty()) {
    o << "\n## Kept aside on " << r.value("to", "")
      << " (written after the last replicated offset; left in the log, not replayed to consumers)\n\n"
         "| topic | partition | offsets | records |\n|---|---|---|---|\n";
    for (const auto& l : r["kept_aside"])
      o << fmt::format("| {} | {} | [{}, {}) | {} |\n", cell(l["topic"]), cell(l["partition"]), cell(l["from_offset"]),
                       cell(l["to_offset"]), cell(l["records"]));
  }
  if (!r["groups"].empty()) {
    o << "\n## Consumer groups (translated at the final checkpoint)\n\n| group | applied | partitions | note |\n|---|---|---|---|\n";
    for (const auto& g : r["groups"])
      o << fmt::format("| {} | {} | {} | {} |\n", cell(g["group"]), g.value("synced", false) ? "yes" : "no",
                       cell(g["partitions"]), g["reason"].is_null() ? "" : cell(g["reason"]));
  }
  o << fmt::format("\n- reverse flow: {}\n", r["reverse_flow"].value("started", false)
                                                   ? std::string("started")
                                                   : "not started: " + r["reverse_flow"].value("reason", ""));
  const json& h = r["final_health"];
  if (h.is_object()) {
    o << "\n## Final health\n\n| region/flow | state | detail |\n|---|---|---|\n";
    for (const auto& reg : h.value("regions", json::array()))
      o << fmt::format("| {} | {} | role {} |\n", cell(reg.value("region", json(""))), cell(reg.value("state", json(""))),
                       cell(reg.value("role", json(""))));
    for (const auto& f : h.value("flows", json::array()))
      o << fmt::format("| {} | {} | lag {} record(s) |\n", cell(f.value("flow", json(""))), cell(f.value("state", json(""))),
                       cell(f.value("lag_records", json(0))));
  }
  return o.str();
}

std::filesystem::path write_report(const std::filesystem::path& dir, const json& report) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw DrError(Exit::failed, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const std::string id = report.value("op_id", "report");
  atomic_write_file(dir / (id + ".json"), report.dump(2) + "\n");
  const auto md = dir / (id + ".md");
  atomic_write_file(md, render_markdown(report));
  return md;
}

}  // namespace ferry::dr
