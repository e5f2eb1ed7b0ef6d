// audit verify: checks the hash chain of Ferry's audit logs — the broker's security audit log
// (security/audit_log.h) and ferry-dr's operations log (dr-orchestrator/audit.h) — with the
// verifier both writers share (common/hash_chain.h). No cluster is contacted.
#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "admin/cli.h"
#include "admin/commands.h"
#include "common/hash_chain.h"

namespace ferry::admin {

namespace {

namespace fs = std::filesystem;

// Whether `p` is a rotated file, <name>.N.
bool is_rotated(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext.size() > 1 && ext.find_first_not_of("0123456789", 1) == std::string::npos;
}

// The format of the first JSON line found in `files` (nullptr: none recognized).
const hash_chain::LineFormat* detect(const std::vector<fs::path>& files) {
  for (const auto& f : files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      try {
        return hash_chain::detect_format(nlohmann::json::parse(line));
      } catch (const std::exception&) {
        continue;  // a torn or edited line: verify() reports it
      }
    }
  }
  return nullptr;
}

int verify(const ParsedArgs& a) {
  std::vector<fs::path> files;
  for (const auto& f : a.all("FILE")) files.emplace_back(f);
  if (files.empty()) throw UsageError(a.command(), "give at least one FILE");
  files = hash_chain::chain_order(files);
  const hash_chain::LineFormat* format = detect(files);
  hash_chain::VerifyOptions o;
  if (auto anchor = a.get("--anchor")) o.anchor = *anchor;
  if (format) o.check_line = format->checker();
  // The oldest file given is a rotated one: its first line may chain into a file rotation removed.
  o.allow_rotated_start = is_rotated(files.front());
  const auto r = hash_chain::verify(files, o);
  if (a.has("--json")) {
    nlohmann::ordered_json j{{"ok", r.ok},
                             {"format", format ? format->name : "unknown"},
                             {"files", nlohmann::json::array()},
                             {"lines", r.lines},
                             {"anchored", r.anchored}};
    for (const auto& f : files) j["files"].push_back(f.string());
    if (!r.ok) {
      j["file"] = r.file.string();
      j["line"] = r.first_bad;
      j["reason"] = r.reason;
    }
    std::puts(j.dump(2).c_str());
  } else if (r.ok) {
    std::string anchor_note = o.anchor.empty() ? "no anchor given"
                              : r.anchored     ? fmt::format("anchor {} matched", o.anchor.string())
                                               : fmt::format("anchor {} absent", o.anchor.string());
    std::puts(fmt::format("OK: {} line(s) in {} file(s), {} format, chain intact; {}", r.lines, files.size(),
                          format ? format->name : "unknown", anchor_note)
                  .c_str());
  } else {
    std::puts(fmt::format("BAD: {}:{}: {}", r.file.string(), r.first_bad, r.reason).c_str());
  }
  return r.ok ? 0 : kExitFailed;
}

}  // namespace

std::vector<Command> audit_commands() {
  return {
      {{"audit", "verify"},
       "check the hash chain of audit logs (broker security log, ferry-dr log)",
       "Reads FILE... (in any order: rotated files <name>.N are put oldest first, the active file last)\n"
       "and checks that every line's \"sha256\" matches its content and its \"prev\" the line before,\n"
       "across files. With --anchor, the log must also still hold the head the anchor records (a cut\n"
       "tail is otherwise invisible). Prints OK, or BAD with FILE:LINE and the reason for the first\n"
       "bad line. Exit 0 when intact, 1 when not. No cluster is contacted. See docs/security.md\n"
       "\"Audit log\".",
       {{"FILE", "...", "audit log files (security-audit.log*, ferry-dr's audit.jsonl)", true, true},
        {"--anchor", "FILE", "the anchor file (security-audit-anchor.json, ferry-dr's audit-anchor.json)"}},
       nullptr,
       &verify},
  };
}

}  // namespace ferry::admin
