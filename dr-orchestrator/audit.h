// The audit log: every ferry-dr command, step, decision and outcome as one JSON line, hash-chained
// so that an edited, removed or reordered line is detected (format in docs/dr.md "Audit log").
//
//   {"command": argv joined, "details": {...}, "op_id": "...", "prev": sha256 hex of the previous
//    line's bytes (64 zeros for the first), "reason": "...", "result": "ok|refused|failed|started",
//    "sha256": sha256 hex of this object serialized without "sha256", "ts": RFC 3339 UTC with ms,
//    "what": "...", "who": {"host", "pid", "uid", "user"}}
//
// Keys are serialized sorted (nlohmann::json's std::map order), which makes the hashed form
// canonical and reproducible by the verifier.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace ferry::dr {

/// Who ran the command: the login name ($SUDO_USER when run through sudo, else the passwd entry
/// of the uid), the real uid, the host name and the process id.
struct Actor {
  std::string user;
  int64_t uid = 0;
  std::string host;
  int64_t pid = 0;
};
Actor current_actor();

/// One entry's variable part.
struct AuditEvent {
  std::string what;    ///< e.g. "command", "step fence", "decision data-loss"
  std::string result;  ///< "ok" | "refused" | "failed" | "started"
  std::string reason;  ///< why (empty for plain successes)
  nlohmann::json details = nlohmann::json::object();
  std::string op_id;   ///< the journal op this belongs to, "" outside an operation
};

/// Appends to one audit log file. Appends are serialized across processes with flock on the log
/// file (the chain needs the true previous line), written with O_APPEND in one write() and
/// fsync'ed before returning. Failing closed is the point: every error throws.
class AuditLog {
 public:
  /// Opens (creating it and its directory, mode 0640) `path`. `command` is argv joined, stamped
  /// on every entry. Throws DrError(Exit::failed) naming the path.
  AuditLog(std::filesystem::path path, std::string command);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Appends one entry; returns it as written (with ts, who, prev, sha256). Throws DrError.
  nlohmann::json append(const AuditEvent& e);
  /// Shorthand for append({what, result, reason, details, op_id}).
  nlohmann::json record(const std::string& what, const std::string& result, const std::string& reason = "",
                        const nlohmann::json& details = nlohmann::json::object(), const std::string& op_id = "");

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::string command_;
  Actor actor_;
  int fd_ = -1;
};

/// The result of verify_audit_log().
struct AuditVerifyResult {
  bool ok = true;
  int64_t lines = 0;       ///< complete lines read
  int64_t first_bad = 0;   ///< 1-based line number of the first broken link (0 when ok)
  std::string reason;      ///< what is wrong with it
};

/// Checks every line: valid JSON with the required fields, "sha256" matching the line's content,
/// "prev" matching the previous line's hash. Stops at the first broken link. A missing file is an
/// error (ok=false, line 0); an empty file is ok.
AuditVerifyResult verify_audit_log(const std::filesystem::path& path);

/// RFC 3339 UTC with milliseconds (common/clock.h).
using ferry::rfc3339_ms;
/// Lower-case hex SHA-256 of `data` (OpenSSL EVP).
std::string sha256_hex(const std::string& data);

}  // namespace ferry::dr
