#include "dr-orchestrator/audit.h"

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "common/clock.h"
#include "common/hash_chain.h"
#include "dr-orchestrator/errors.h"

namespace ferry::dr {

namespace fs = std::filesystem;

std::optional<AuditAnchor> read_audit_anchor(const fs::path& anchor) {
  try {
    auto a = hash_chain::read_anchor(anchor);
    if (!a) return std::nullopt;
    return AuditAnchor{a->entries, a->head, a->ts_ms};
  } catch (const hash_chain::ChainError& e) {
    throw DrError(Exit::failed, e.what());
  }
}

std::string sha256_hex(const std::string& data) {
  try {
    return hash_chain::sha256_hex(data);
  } catch (const hash_chain::ChainError& e) {
    throw DrError(Exit::failed, e.what());
  }
}

Actor current_actor() {
  Actor a;
  a.uid = ::getuid();
  a.pid = ::getpid();
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
    a.user = sudo;
  } else if (const passwd* pw = ::getpwuid(::getuid())) {
    a.user = pw->pw_name;
  } else {
    a.user = std::to_string(a.uid);
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) a.host = host;
  return a;
}

AuditLog::AuditLog(fs::path path, std::string command, fs::path anchor)
    : path_(std::move(path)), command_(std::move(command)), anchor_(std::move(anchor)), actor_(current_actor()) {
  try {
    // No rotation: ferry-dr's log is one file, appended by several processes under flock.
    writer_ = std::make_unique<hash_chain::ChainWriter>(hash_chain::WriterOptions{path_, anchor_, 0, 1});
  } catch (const hash_chain::ChainError& e) {
    throw DrError(Exit::failed, e.what());
  }
}

AuditLog::~AuditLog() = default;

nlohmann::json AuditLog::append(const AuditEvent& e) {
  nlohmann::json entry{{"ts", rfc3339_ms(wall_clock_ms())},
                       {"who", {{"user", actor_.user}, {"uid", actor_.uid}, {"host", actor_.host}, {"pid", actor_.pid}}},
                       {"command", command_},
                       {"op_id", e.op_id},
                       {"what", e.what},
                       {"result", e.result},
                       {"reason", e.reason},
                       {"details", e.details.is_null() ? nlohmann::json::object() : e.details}};
  try {
    return writer_->append({std::move(entry)}).front();
  } catch (const hash_chain::ChainError& err) {
    throw DrError(Exit::failed, err.what());
  }
}

nlohmann::json AuditLog::record(const std::string& what, const std::string& result, const std::string& reason,
                                const nlohmann::json& details, const std::string& op_id) {
  return append(AuditEvent{what, result, reason, details, op_id});
}

AuditVerifyResult verify_audit_log(const fs::path& path, const fs::path& anchor_path) {
  hash_chain::VerifyOptions opt;
  opt.anchor = anchor_path;
  opt.check_line = hash_chain::kFerryDrFormat.checker();
  const auto v = hash_chain::verify({path}, opt);
  AuditVerifyResult r;
  r.ok = v.ok;
  r.lines = v.lines;
  r.first_bad = v.first_bad;
  r.reason = v.reason;
  r.anchored = v.anchored;
  r.anchor_entries = v.anchor_entries;
  return r;
}

}  // namespace ferry::dr
