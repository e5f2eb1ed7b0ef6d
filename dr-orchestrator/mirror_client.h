// The mirror side of ferry-dr: ferry-mirror's HTTP control API (GET /status, POST
// /flows/<source>/<target>/pause|resume|checkpoint; the contract is in docs/dr.md "Mirror
// control API") over libcurl, with connect and total timeouts on every call.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dr-orchestrator/health.h"

namespace ferry::dr {

/// A failed call. `http_status` is 0 when no HTTP answer came (connection refused, timeout, DNS);
/// `body_error` is the response body's "error" field when there was one. For a 504 drain timeout
/// `in_flight` lists the partitions the mirror said were still in flight. what() names the URL,
/// the status and the error.
class MirrorError : public std::runtime_error {
 public:
  MirrorError(const std::string& what, std::string url, long http_status, std::string body_error,
              std::vector<FlowPartitionLag> in_flight = {});
  const std::string& url() const { return url_; }
  long http_status() const { return http_status_; }
  const std::string& body_error() const { return body_error_; }
  const std::vector<FlowPartitionLag>& in_flight() const { return in_flight_; }

 private:
  std::string url_;
  long http_status_;
  std::string body_error_;
  std::vector<FlowPartitionLag> in_flight_;
};

/// The answer to POST .../pause: the flow is paused and everything handed to the producer is
/// acknowledged; `partitions` gives, per partition, the source offset the target holds
/// everything below (next_offset) and the source's end offset, so lag_records is the exact loss
/// if the source were abandoned now.
struct PauseResult {
  std::string flow;
  std::string state;  ///< "paused"
  std::optional<bool> source_reachable;  ///< the mirror reached the source while pausing; nullopt: not said
  std::vector<FlowPartitionLag> partitions;
};

/// One group's translated offsets from POST .../checkpoint.
struct CheckpointGroup {
  struct Offset {
    std::string topic;  ///< the remote (target) topic
    int32_t partition = 0;
    int64_t upstream = 0;
    int64_t downstream = 0;
  };
  std::string group;
  bool synced = false;  ///< applied to the target group (false: e.g. "active group")
  std::optional<std::string> reason;
  std::vector<Offset> offsets;
};

/// The answer to POST .../checkpoint.
struct CheckpointResult {
  std::string flow;
  int64_t checkpoints_emitted = 0;
  std::vector<CheckpointGroup> groups;
};

/// Parses a GET /status body into every flow it lists. The body's shape is ferry-mirror's own
/// declaration (mirror/status_types.h, which says which fields are required and which an older
/// mirror may lack). Throws MirrorError (url "" and status 0 here; the client fills them in)
/// naming the field that is missing or of the wrong type.
std::vector<MirrorFlowStatus> parse_mirror_status(const std::string& body);
/// Parses a pause response body. Throws MirrorError like parse_mirror_status.
PauseResult parse_pause_result(const std::string& body);
/// Parses a checkpoint response body. Throws MirrorError like parse_mirror_status.
CheckpointResult parse_checkpoint_result(const std::string& body);

/// Calls one ferry-mirror process. Each call is a fresh connection (the mirror closes after every
/// response). Thread-compatible: one instance per thread.
class MirrorClient {
 public:
  /// `base_url` is "http://host:port" (a trailing "/" is ignored). `timeout` bounds GET /status
  /// and resume; pause and checkpoint get their own drain timeout plus `timeout`.
  explicit MirrorClient(std::string base_url, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  const std::string& base_url() const { return base_; }

  /// GET /status: every flow this process runs. Throws MirrorError.
  std::vector<MirrorFlowStatus> status();
  /// GET /status, the flow source->target; throws MirrorError (status 404-like, http_status 200)
  /// when this process does not run it.
  MirrorFlowStatus flow_status(const std::string& source, const std::string& target);
  /// POST /flows/<source>/<target>/pause?timeout_ms=<drain>. Idempotent. Throws MirrorError
  /// (http_status 504 with in_flight when the drain did not finish in time).
  PauseResult pause(const std::string& source, const std::string& target, std::chrono::milliseconds drain);
  /// POST /flows/<source>/<target>/resume. Idempotent. Throws MirrorError.
  void resume(const std::string& source, const std::string& target);
  /// POST /flows/<source>/<target>/checkpoint?timeout_ms=<limit>. Throws MirrorError.
  CheckpointResult checkpoint(const std::string& source, const std::string& target, std::chrono::milliseconds limit);

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  // One request; throws MirrorError when no HTTP answer came or the status is not 200.
  Response call(const char* method, const std::string& path, std::chrono::milliseconds total_timeout);

  std::string base_;
  std::chrono::milliseconds timeout_;
};

/// Probes a flow: GET /status on every status URL (sequentially, each bounded by `timeout`) and
/// combine_flow() of the answers.
FlowHealth probe_flow(const FlowConfig& flow, std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// GET of an arbitrary URL (the brokers' metrics.url) with a total timeout; returns the body of
/// a 200, throws MirrorError otherwise.
std::string http_get(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace ferry::dr
