// The broker's security audit log: authentication results, authorization denials and allowed
// management operations as CloudEvents 1.0 JSON lines in the shape of Confluent's structured audit
// logs, on the hash chain of common/hash_chain.h (tamper-evident, rotated, anchored). Format,
// events, keys and durability: docs/security.md "Audit log".
//
// One line (keys sorted, as written):
//   {"data": {"authenticationInfo": {"principal": "User:alice"},
//             "authorizationInfo": {"granted": false, "operation": "Delete", "patternType": "LITERAL",
//                                   "reason": "...", "resourceName": "orders", "resourceType": "Topic"},
//             "methodName": "kafka.DeleteTopics", "resourceName": "crn:///kafka=<cluster>/topic=orders",
//             "requestMetadata": {"clientAddress": "10.0.0.7", "clientId": "admin-1", "listener": "PLAINTEXT"}},
//    "datacontenttype": "application/json", "id": "<uuid>", "prev": "<sha256>", "sha256": "<sha256>",
//    "source": "crn:///kafka=<cluster>", "specversion": "1.0", "subject": "crn:///kafka=<cluster>/topic=orders",
//    "time": "2026-01-01T00:00:00.000Z", "type": "io.confluent.kafka.server/authorization"}
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "security/authorizer.h"

namespace ferry::hash_chain {
class ChainWriter;
}

namespace ferry::security {

/// One authentication attempt, reported by the connection code (SASL or TLS handshake end). There
/// is deliberately no field for a password, token or SCRAM proof: secrets cannot reach the log.
struct AuthenticationEvent {
  bool success = false;
  Principal principal;      ///< the authenticated principal; on failure the one the client claimed
  std::string mechanism;    ///< SASL mechanism ("PLAIN", "SCRAM-SHA-256") or "SSL"
  std::string listener;     ///< listener name
  std::string client_host;  ///< client IP address string
  std::string reason;       ///< why it failed ("" on success)
};

/// Event categories selected by `audit.log.events` (names as written there).
enum class AuditCategory : uint8_t {
  Authentication,       ///< "authentication": every login, success or failure
  AuthorizationDenied,  ///< "authorization-denied": every denied Normal authorization check
  Management,           ///< "management": allowed checks of management requests (kManagementMethods)
  Produce,              ///< "produce": allowed checks of kafka.Produce
  Fetch,                ///< "fetch": allowed checks of kafka.Fetch
  Other,                ///< "other": every other allowed check (Metadata, group and offset requests, describes)
};
/// The `audit.log.events` name of a category.
const char* to_string(AuditCategory c);
/// Parses `audit.log.events` entries into a bit set (1 << category). Throws std::invalid_argument
/// naming an unknown entry and the accepted names.
uint32_t parse_audit_categories(const std::vector<std::string>& names);
/// `audit.log.events`'s default: authentication, authorization-denied, management (Confluent's
/// default too: produce/consume successes are off for volume).
std::vector<std::string> default_audit_categories();

/// Methods whose allowed authorization checks are "management" events: topic create/delete and
/// partitions, DeleteRecords, configs (incl. ferry.cluster.role), ACLs, SCRAM credentials, group
/// and committed-offset deletes.
bool is_management_method(const std::string& method);

/// How a SecurityAuditLog writes.
struct AuditLogOptions {
  std::filesystem::path file;    ///< active file, rotated to file.1 … (audit.log.dir/security-audit.log)
  std::filesystem::path anchor;  ///< anchor file, kept outside the log's directory ("" = none)
  uint32_t categories = 0;       ///< parse_audit_categories(audit.log.events)
  int64_t max_bytes = 104857600; ///< audit.log.max.bytes: rotate at this size
  int max_files = 10;            ///< audit.log.max.files: files kept, the active one included
  std::string cluster_id;        ///< names the source and resources (crn:///kafka=<cluster_id>)
  int64_t repeat_window_ms = 1000;  ///< identical events within this window fold into one count
  size_t queue_capacity = 10000;    ///< events waiting for the writer; more are dropped and counted
  size_t max_tracked = 10000;       ///< distinct events whose repeats are being counted
  std::function<int64_t()> now_ms;  ///< wall clock in ms (tests inject one); empty = real clock
};

/// Writes the security audit log. Thread-safe: network threads call on_decision()/authentication(),
/// which only filter, fold repeats and queue (no I/O); one writer thread appends what is queued as
/// one batch (one write(), one fsync) and then moves the anchor. An event is durable once the
/// batch it joined is fsynced — normally milliseconds after the request, never before its
/// response is sent (responses do not wait for the audit log). stop() (or the destructor) writes
/// everything queued and every pending repeat count.
///
/// Repeats: the first of identical events (same type, method, principal, client host, operation,
/// resource, decision and reason) is written at once; the identical ones within repeat_window_ms
/// after it become a single follow-up line with data.repeats = {"count", "firstTime", "lastTime"}.
/// A failing-login loop therefore writes about two lines per window, and memory stays bounded by
/// queue_capacity and max_tracked (events past either are written unfolded or dropped and counted,
/// the count written as a "ferry.audit/dropped" line).
class SecurityAuditLog final : public AuthorizationObserver {
 public:
  /// Opens the log (creating its directory) and starts the writer. Throws hash_chain::ChainError.
  explicit SecurityAuditLog(AuditLogOptions options);
  ~SecurityAuditLog() override;
  SecurityAuditLog(const SecurityAuditLog&) = delete;
  SecurityAuditLog& operator=(const SecurityAuditLog&) = delete;

  /// AuthorizationObserver: records a denial, or an allowed decision whose category is enabled.
  void on_decision(const RequestIdentity& who, Operation op, const Resource& resource,
                   const Decision& decision) override;
  /// Records an authentication attempt (category "authentication").
  void authentication(const AuthenticationEvent& event);
  /// Blocks until everything recorded before the call is written and fsynced, repeat counts
  /// included (their windows are closed early).
  void flush();
  /// flush(), then stops the writer; later events are ignored. Idempotent.
  void stop();

  /// Counters since start.
  struct Stats {
    uint64_t lines = 0;    ///< lines written
    uint64_t folded = 0;   ///< events counted into a repeats line instead of written
    uint64_t dropped = 0;  ///< events lost: queue full or a failed write
  };
  Stats stats() const;

 private:
  struct Window {
    nlohmann::json sample;  ///< the first event's line, without chain fields
    int64_t opened_ms = 0;
    int64_t first_repeat_ms = 0;
    int64_t last_repeat_ms = 0;
    uint64_t count = 0;
  };
  void record(const std::string& key, const std::function<nlohmann::json()>& make, int64_t now);
  void take_due(int64_t now, bool all, std::vector<nlohmann::json>& out);
  static nlohmann::json repeats_line(const Window& w);
  void run();
  int64_t now() const;
  std::string resource_crn(ResourceType type, const std::string& name) const;

  AuditLogOptions opt_;
  std::unique_ptr<hash_chain::ChainWriter> writer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // writer wake-up
  std::condition_variable done_cv_;  // flush() waiters
  std::deque<nlohmann::json> queue_;
  std::map<std::string, Window> windows_;
  uint64_t flush_requests_ = 0, flushed_ = 0;
  uint64_t unreported_drops_ = 0;
  Stats stats_;
  bool stopping_ = false, stopped_ = false;
  std::thread thread_;
};

}  // namespace ferry::security
