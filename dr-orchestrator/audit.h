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
//
// The chain alone cannot show that its tail was cut off: a log truncated after any line is still a
// valid chain. So every append also records the chain head in an anchor file outside the log
// (<state.dir>/audit-anchor.json: {"entries": N, "head": sha256 hex of line N, "ts_ms"}), replaced
// atomically and fsynced; the verifier requires line N to exist and hash to "head". It covers
// someone (or some tool) who can rewrite the log but not ferry-dr's state directory; it does not
// cover an attacker who can write both (docs/dr.md "Audit log").
//
// The chain, the anchor and the verifier are common/hash_chain.h, shared with the broker's
// security audit log; this file adds only ferry-dr's line format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace ferry::hash_chain {
class ChainWriter;
}

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
  /// on every entry. `anchor` is the anchor file every append updates ("" = none). Throws
  /// DrError(Exit::failed) naming the path.
  AuditLog(std::filesystem::path path, std::string command, std::filesystem::path anchor = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Appends one entry; returns it as written (with ts, who, prev, sha256), then moves the anchor
  /// to it. When the log's tail no longer contains the anchored head (the log was cut or
  /// rewritten) the entry is appended but the anchor is left where it is, so `audit verify` keeps
  /// reporting the damage (logged at error). Throws DrError.
  nlohmann::json append(const AuditEvent& e);
  /// Shorthand for append({what, result, reason, details, op_id}).
  nlohmann::json record(const std::string& what, const std::string& result, const std::string& reason = "",
                        const nlohmann::json& details = nlohmann::json::object(), const std::string& op_id = "");

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::string command_;
  std::filesystem::path anchor_;
  Actor actor_;
  std::unique_ptr<hash_chain::ChainWriter> writer_;
};

/// The result of verify_audit_log().
struct AuditVerifyResult {
  bool ok = true;
  int64_t lines = 0;       ///< complete lines read
  int64_t first_bad = 0;   ///< 1-based line number of the first broken link (0 when ok)
  std::string reason;      ///< what is wrong with it
  bool anchored = false;   ///< an anchor file was given, read and matched
  int64_t anchor_entries = 0;  ///< the entry count the anchor records (0: no anchor)
};

/// The anchor file's content: the chain head after the newest append.
struct AuditAnchor {
  int64_t entries = 0;  ///< lines in the log when it was written (1-based number of the head line)
  std::string head;     ///< sha256 hex of that line's bytes (without the newline)
  int64_t ts_ms = 0;
};
/// Reads an anchor file: nullopt when absent; throws DrError(Exit::failed) when unreadable or not
/// of that shape.
std::optional<AuditAnchor> read_audit_anchor(const std::filesystem::path& anchor);

/// Checks every line: valid JSON with the required fields, "sha256" matching the line's content,
/// "prev" matching the previous line's hash. Stops at the first broken link. A missing file is an
/// error (ok=false, line 0); an empty file is ok. With `anchor` ("" = not checked) the log must
/// also hold the anchored head: at least "entries" lines, line "entries" hashing to "head"
/// (lines after it are appends whose anchor update a crash cut off, or a concurrent append); a
/// missing anchor file is ok with anchored = false (a log written before anchors existed).
/// Reads only: never writes the log or the anchor.
AuditVerifyResult verify_audit_log(const std::filesystem::path& path, const std::filesystem::path& anchor = {});

/// RFC 3339 UTC with milliseconds (common/clock.h).
using ferry::rfc3339_ms;
/// Lower-case hex SHA-256 of `data` (OpenSSL EVP).
std::string sha256_hex(const std::string& data);

}  // namespace ferry::dr
