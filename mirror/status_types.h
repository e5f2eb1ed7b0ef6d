// The JSON bodies of ferry-mirror's HTTP API (GET /status; POST /flows/<source>/<target>/pause |
// resume | checkpoint; their error answers) as typed structs, declared once for both sides:
// ferry-mirror writes them (to_json) and ferry-dr's mirror client reads them (from_json), so the
// two cannot drift. The contract is docs/mirror.md "Control API" and docs/dr.md "Mirror control
// API"; key names and JSON shape are on-wire and must not change.
//
// Field kinds, named in each field's comment:
//  - required: present in every ferry-mirror that served the body at all (for /status: since the
//    first /status, commit 99d5de4). from_json throws StatusFormatError naming the object and key
//    when it is missing or of another JSON type; never a silent default.
//  - optional (std::optional): added to the body later, so an older ferry-mirror lacks the key;
//    from_json gives nullopt for a missing key. The comment says which change added it. The
//    reader decides what an absent value means (e.g. ferry-dr treats a flow without "state" as
//    running, since mirrors without the control API cannot pause).
//  - nullable (std::optional): the key is written with JSON null for "none". to_json writes null
//    for nullopt; from_json gives nullopt for null (and, when the key is also optional, for a
//    missing key).
// An optional, non-nullable field is omitted by to_json when nullopt (ferry-mirror always sets it).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ferry::mirror {

/// A body that does not have the contract's shape. what() names the object (with its place, e.g.
/// "flows[0].partitions[2]: partition has no \"next_offset\"") and the key.
class StatusFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One source partition of a flow, as this process holds it (a "partitions" entry of /status, of
/// a pause answer and of a drain-timeout error).
struct PartitionStatus {
  std::string topic;         ///< required: the source topic
  int32_t partition = 0;     ///< required
  std::string remote_topic;  ///< required: the topic on the target
  /// Required: the target holds every source record below this source offset.
  int64_t next_offset = 0;
  /// Required: the source's log end offset as the mirror last read it.
  int64_t source_end_offset = 0;
  int64_t lag_records = 0;  ///< required: max(0, source_end_offset - next_offset)
  /// Optional and nullable (added with the source end-offset view, issue 13): wall-clock ms since
  /// the epoch when source_end_offset was at most the source's log end offset; null: never read.
  std::optional<int64_t> source_end_offset_ms;
  /// Optional and nullable (added with refused records, issue 13): why the target refuses a record
  /// of this partition for good, so its replication stopped; null: none.
  std::optional<std::string> error;
  /// Optional: records handed to the producer and not yet acknowledged. Only in the partitions of
  /// a pause's drain-timeout (504) answer; omitted elsewhere.
  std::optional<int64_t> in_flight;
};

/// A source topic the flow replicates (a /status "topics" entry), assigned or not.
struct TopicStatus {
  std::string source;      ///< required: the source topic
  std::string remote;      ///< required: the remote topic on the target
  int32_t partitions = 0;  ///< required: its partition count on the source
};

/// The newest heartbeat record this flow replicated (/status "heartbeat"). Both keys are
/// required inside the object and nullable (null: none replicated yet).
struct HeartbeatStatus {
  std::optional<int64_t> last_replicated_ms;  ///< the record's timestamp field, wall ms
  std::optional<int64_t> age_ms;              ///< now - last_replicated_ms, at the answer
};

/// One flow of one ferry-mirror process (a /status "flows" entry).
struct FlowStatus {
  std::string flow;    ///< required: "source->target"
  std::string source;  ///< required: the source cluster alias
  std::string target;  ///< required: the target cluster alias
  int64_t records_replicated = 0;        ///< required: acknowledged by the target since start
  int64_t records_skipped_as_loops = 0;  ///< required: records not copied back to their origin
  std::vector<TopicStatus> topics;       ///< required
  std::optional<std::string> last_error;  ///< required, nullable: the newest one-off error
  int64_t last_error_ms = 0;              ///< required: wall ms of last_error, 0: none
  /// Required: the partitions this process holds (kept while paused).
  std::vector<PartitionStatus> partitions;
  /// Optional (added with the control API, issue 5): "running" | "paused".
  std::optional<std::string> state;
  std::optional<int64_t> checkpoints_emitted;   ///< optional (added with checkpoints)
  std::optional<int64_t> group_offsets_synced;  ///< optional (added with group offset sync)
  std::optional<int64_t> source_anomalies;      ///< optional (added with source anomaly detection)
  /// Optional and nullable (added with the control API): wall ms of the last completed checkpoint
  /// pass; null: none yet.
  std::optional<int64_t> last_checkpoint_ms;
  /// Optional (added with the control API): absent in older mirrors, which do not report heartbeats.
  std::optional<HeartbeatStatus> heartbeat;
  /// Optional (added with "healthy"): conditions present now, unlike last_error's history.
  std::optional<std::vector<std::string>> current_errors;
  /// Optional (added with current_errors): true when current_errors is empty.
  std::optional<bool> healthy;
  /// Optional (added with the source end-offset view, issue 13): the source answered just now.
  std::optional<bool> source_reachable;
};

/// The body of GET /status.
struct MirrorStatus {
  /// Optional and nullable (added with mirror.state.dir): the file the control decisions are kept
  /// in; null: not kept (mirror.state.dir unset).
  std::optional<std::string> flow_control_state;
  std::vector<FlowStatus> flows;  ///< required
};

/// The 200 answer of POST .../pause: the flow is paused and drained.
struct PauseReply {
  std::string flow;   ///< required
  std::string state;  ///< required: "paused"
  /// Optional (added with the source end-offset view, issue 13): every source partition's end
  /// offset was read afresh after the drain (false: the source is unreachable, lag uses the last
  /// known end offsets with their source_end_offset_ms).
  std::optional<bool> source_reachable;
  std::vector<PartitionStatus> partitions;  ///< required
};

/// The 200 answer of POST .../resume.
struct ResumeReply {
  std::string flow;   ///< required
  std::string state;  ///< required: "running"
};

/// One translated committed offset of a checkpoint pass. Every key is required.
struct CheckpointOffset {
  std::string topic;  ///< the remote (target) topic
  int32_t partition = 0;
  int64_t upstream = 0;    ///< the group's committed offset on the source
  int64_t downstream = 0;  ///< its translation on the target
};

/// One consumer group of a checkpoint pass.
struct CheckpointGroupStatus {
  std::string group;   ///< required
  bool synced = false;  ///< required: the offsets were applied to the target group (or already there)
  /// Required, nullable: why not synced ("active group", "nothing translated", ...); null when synced.
  std::optional<std::string> reason;
  std::vector<CheckpointOffset> offsets;  ///< required
};

/// The 200 answer of POST .../checkpoint.
struct CheckpointReply {
  std::string flow;                           ///< required
  int64_t checkpoints_emitted = 0;            ///< required: in this pass
  std::vector<CheckpointGroupStatus> groups;  ///< required
};

/// Every non-200 answer of the HTTP API (400, 404, 500, 504).
struct ErrorReply {
  std::string error;  ///< required
  /// Optional: only in a 504 (a pause's drain timeout: the partitions still in flight, with
  /// in_flight; a checkpoint timeout: empty); omitted elsewhere.
  std::optional<std::vector<PartitionStatus>> partitions;
};

// nlohmann/json ADL conversions. from_json throws StatusFormatError (never json::exception).
void to_json(nlohmann::json& j, const PartitionStatus& v);
void from_json(const nlohmann::json& j, PartitionStatus& v);
void to_json(nlohmann::json& j, const TopicStatus& v);
void from_json(const nlohmann::json& j, TopicStatus& v);
void to_json(nlohmann::json& j, const HeartbeatStatus& v);
void from_json(const nlohmann::json& j, HeartbeatStatus& v);
void to_json(nlohmann::json& j, const FlowStatus& v);
void from_json(const nlohmann::json& j, FlowStatus& v);
void to_json(nlohmann::json& j, const MirrorStatus& v);
void from_json(const nlohmann::json& j, MirrorStatus& v);
void to_json(nlohmann::json& j, const PauseReply& v);
void from_json(const nlohmann::json& j, PauseReply& v);
void to_json(nlohmann::json& j, const ResumeReply& v);
void from_json(const nlohmann::json& j, ResumeReply& v);
void to_json(nlohmann::json& j, const CheckpointOffset& v);
void from_json(const nlohmann::json& j, CheckpointOffset& v);
void to_json(nlohmann::json& j, const CheckpointGroupStatus& v);
void from_json(const nlohmann::json& j, CheckpointGroupStatus& v);
void to_json(nlohmann::json& j, const CheckpointReply& v);
void from_json(const nlohmann::json& j, CheckpointReply& v);
void to_json(nlohmann::json& j, const ErrorReply& v);
void from_json(const nlohmann::json& j, ErrorReply& v);

/// Parses `body` as JSON and then as T. Throws StatusFormatError ("not JSON (...)" or the field).
template <class T>
T parse_status_body(const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw StatusFormatError(std::string("not JSON (") + e.what() + ")");
  }
  return j.get<T>();
}

}  // namespace ferry::mirror
