// Operation reports: what a failover, failback or drill did and measured, as JSON for scripts and
// Markdown for people (written to <state.dir>/reports/<op_id>.{json,md}; shape in docs/dr.md
// "Reports").
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "dr-orchestrator/journal.h"

namespace ferry::dr {

/// Builds an operation's report from its journal record alone (so a resumed run writes the same
/// report as an uninterrupted one):
///   {"op_id","kind","from","to","mode" ("planned"|"unplanned"),"force","outcome",
///    "started","ended" (RFC 3339),"duration_ms",
///    "steps":[{"name","started","duration_ms","result" ("ok"|"failed"|"running"|"skipped"),
///              "attempts","summary","reason"}],
///    "rpo_records" (int, or null when unknown),"loss":[{"topic","partition","from_offset",
///    "to_offset","records"}],"rto_ms" (op start -> canary acknowledged on the new primary, or null),
///    "fenced","groups":[{"group","synced","reason","partitions"}],"kept_aside":[...],
///    "reverse_flow":{"started","reason"},"final_health":{...}}
/// `final_health` is the status document (health.h to_json) taken at the end, or null.
nlohmann::json build_report(const OpRecord& op, const nlohmann::json& final_health);

/// The Markdown rendering of a report (build_report's document).
std::string render_markdown(const nlohmann::json& report);

/// Writes <dir>/<op_id>.json and .md atomically; returns the .md path. Throws DrError.
std::filesystem::path write_report(const std::filesystem::path& dir, const nlohmann::json& report);

}  // namespace ferry::dr
