#include "mirror/status_types.h"

#include <fmt/format.h>

#include <type_traits>

namespace ferry::mirror {
namespace {

using nlohmann::json;

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

// Reads the keys of one JSON object named `where` ("flow", "partition", ...), strictly: a JSON
// value of another type than the field's is an error (nlohmann would turn true into 1).
class Reader {
 public:
  Reader(const json& j, const char* where) : j_(j), where_(where) {
    if (!j.is_object()) throw StatusFormatError(fmt::format("{} is not an object ({})", where, j.type_name()));
  }

  /// A required key.
  template <class T>
  T req(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) throw StatusFormatError(fmt::format("{} has no \"{}\"", where_, key));
    return convert<T>(*it, key);
  }
  /// An optional key: nullopt when missing or null.
  template <class T>
  std::optional<T> opt(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return std::nullopt;
    return convert<T>(*it, key);
  }
  /// A required key that may be null.
  template <class T>
  std::optional<T> nullable(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) throw StatusFormatError(fmt::format("{} has no \"{}\"", where_, key));
    if (it->is_null()) return std::nullopt;
    return convert<T>(*it, key);
  }

 private:
  template <class T>
  T convert(const json& v, const char* key) const {
    if constexpr (IsVector<T>::value) {
      if (!v.is_array()) throw wrong(v, key);
      T out;
      for (size_t i = 0; i < v.size(); ++i) {
        try {
          out.push_back(convert<typename T::value_type>(v[i], key));
        } catch (const StatusFormatError& e) {
          // Name the element's place; the inner message names the object and key.
          throw StatusFormatError(fmt::format("{}.{}[{}]: {}", where_, key, i, e.what()));
        }
      }
      return out;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw wrong(v, key);
      return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) throw wrong(v, key);
      return v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) throw wrong(v, key);
      return v.get<std::string>();
    } else {
      return v.get<T>();  // one of this file's structs: its from_json names its own fields
    }
  }
  StatusFormatError wrong(const json& v, const char* key) const {
    return StatusFormatError(fmt::format("{}.{} has the wrong type ({})", where_, key, v.type_name()));
  }

  const json& j_;
  const char* where_;
};

// JSON null for nullopt.
template <class T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Sets j[key] only when `v` holds a value.
template <class T>
void set_if(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

}  // namespace

void to_json(json& j, const PartitionStatus& v) {
  j = {{"topic", v.topic},
       {"partition", v.partition},
       {"remote_topic", v.remote_topic},
       {"next_offset", v.next_offset},
       {"source_end_offset", v.source_end_offset},
       {"lag_records", v.lag_records},
       {"source_end_offset_ms", or_null(v.source_end_offset_ms)},
       {"error", or_null(v.error)}};
  set_if(j, "in_flight", v.in_flight);
}

void from_json(const json& j, PartitionStatus& v) {
  Reader r(j, "partition");
  v.topic = r.req<std::string>("topic");
  v.partition = r.req<int32_t>("partition");
  v.remote_topic = r.req<std::string>("remote_topic");
  v.next_offset = r.req<int64_t>("next_offset");
  v.source_end_offset = r.req<int64_t>("source_end_offset");
  v.lag_records = r.req<int64_t>("lag_records");
  v.source_end_offset_ms = r.opt<int64_t>("source_end_offset_ms");
  v.error = r.opt<std::string>("error");
  v.in_flight = r.opt<int64_t>("in_flight");
}

void to_json(json& j, const TopicStatus& v) {
  j = {{"source", v.source}, {"remote", v.remote}, {"partitions", v.partitions}};
}

void from_json(const json& j, TopicStatus& v) {
  Reader r(j, "topic");
  v.source = r.req<std::string>("source");
  v.remote = r.req<std::string>("remote");
  v.partitions = r.req<int32_t>("partitions");
}

void to_json(json& j, const HeartbeatStatus& v) {
  j = {{"last_replicated_ms", or_null(v.last_replicated_ms)}, {"age_ms", or_null(v.age_ms)}};
}

void from_json(const json& j, HeartbeatStatus& v) {
  Reader r(j, "heartbeat");
  v.last_replicated_ms = r.nullable<int64_t>("last_replicated_ms");
  v.age_ms = r.nullable<int64_t>("age_ms");
}

void to_json(json& j, const FlowStatus& v) {
  j = {{"flow", v.flow},
       {"source", v.source},
       {"target", v.target},
       {"records_replicated", v.records_replicated},
       {"records_skipped_as_loops", v.records_skipped_as_loops},
       {"topics", v.topics},
       {"last_error", or_null(v.last_error)},
       {"last_error_ms", v.last_error_ms},
       {"partitions", v.partitions},
       {"last_checkpoint_ms", or_null(v.last_checkpoint_ms)}};
  set_if(j, "state", v.state);
  set_if(j, "checkpoints_emitted", v.checkpoints_emitted);
  set_if(j, "group_offsets_synced", v.group_offsets_synced);
  set_if(j, "source_anomalies", v.source_anomalies);
  set_if(j, "heartbeat", v.heartbeat);
  set_if(j, "current_errors", v.current_errors);
  set_if(j, "healthy", v.healthy);
  set_if(j, "source_reachable", v.source_reachable);
}

void from_json(const json& j, FlowStatus& v) {
  Reader r(j, "flow");
  v.flow = r.req<std::string>("flow");
  v.source = r.req<std::string>("source");
  v.target = r.req<std::string>("target");
  v.records_replicated = r.req<int64_t>("records_replicated");
  v.records_skipped_as_loops = r.req<int64_t>("records_skipped_as_loops");
  v.topics = r.req<std::vector<TopicStatus>>("topics");
  v.last_error = r.nullable<std::string>("last_error");
  v.last_error_ms = r.req<int64_t>("last_error_ms");
  v.partitions = r.req<std::vector<PartitionStatus>>("partitions");
  v.state = r.opt<std::string>("state");
  v.checkpoints_emitted = r.opt<int64_t>("checkpoints_emitted");
  v.group_offsets_synced = r.opt<int64_t>("group_offsets_synced");
  v.source_anomalies = r.opt<int64_t>("source_anomalies");
  v.last_checkpoint_ms = r.opt<int64_t>("last_checkpoint_ms");
  v.heartbeat = r.opt<HeartbeatStatus>("heartbeat");
  v.current_errors = r.opt<std::vector<std::string>>("current_errors");
  v.healthy = r.opt<bool>("healthy");
  v.source_reachable = r.opt<bool>("source_reachable");
}

void to_json(json& j, const MirrorStatus& v) {
  j = {{"flow_control_state", or_null(v.flow_control_state)}, {"flows", v.flows}};
}

void from_json(const json& j, MirrorStatus& v) {
  Reader r(j, "status");
  v.flow_control_state = r.opt<std::string>("flow_control_state");
  v.flows = r.req<std::vector<FlowStatus>>("flows");
}

void to_json(json& j, const PauseReply& v) {
  j = {{"flow", v.flow}, {"state", v.state}, {"partitions", v.partitions}};
  set_if(j, "source_reachable", v.source_reachable);
}

void from_json(const json& j, PauseReply& v) {
  Reader r(j, "pause");
  v.flow = r.req<std::string>("flow");
  v.state = r.req<std::string>("state");
  v.source_reachable = r.opt<bool>("source_reachable");
  v.partitions = r.req<std::vector<PartitionStatus>>("partitions");
}

void to_json(json& j, const ResumeReply& v) { j = {{"flow", v.flow}, {"state", v.state}}; }

void from_json(const json& j, ResumeReply& v) {
  Reader r(j, "resume");
  v.flow = r.req<std::string>("flow");
  v.state = r.req<std::string>("state");
}

void to_json(json& j, const CheckpointOffset& v) {
  j = {{"topic", v.topic}, {"partition", v.partition}, {"upstream", v.upstream}, {"downstream", v.downstream}};
}

void from_json(const json& j, CheckpointOffset& v) {
  Reader r(j, "offset");
  v.topic = r.req<std::string>("topic");
  v.partition = r.req<int32_t>("partition");
  v.upstream = r.req<int64_t>("upstream");
  v.downstream = r.req<int64_t>("downstream");
}

void to_json(json& j, const CheckpointGroupStatus& v) {
  j = {{"group", v.group}, {"synced", v.synced}, {"reason", or_null(v.reason)}, {"offsets", v.offsets}};
}

void from_json(const json& j, CheckpointGroupStatus& v) {
  Reader r(j, "group");
  v.group = r.req<std::string>("group");
  v.synced = r.req<bool>("synced");
  v.reason = r.nullable<std::string>("reason");
  v.offsets = r.req<std::vector<CheckpointOffset>>("offsets");
}

void to_json(json& j, const CheckpointReply& v) {
  j = {{"flow", v.flow}, {"checkpoints_emitted", v.checkpoints_emitted}, {"groups", v.groups}};
}

void from_json(const json& j, CheckpointReply& v) {
  Reader r(j, "checkpoint");
  v.flow = r.req<std::string>("flow");
  v.checkpoints_emitted = r.req<int64_t>("checkpoints_emitted");
  v.groups = r.req<std::vector<CheckpointGroupStatus>>("groups");
}

void to_json(json& j, const ErrorReply& v) {
  j = {{"error", v.error}};
  set_if(j, "partitions", v.partitions);
}

void from_json(const json& j, ErrorReply& v) {
  Reader r(j, "error reply");
  v.error = r.req<std::string>("error");
  v.partitions = r.opt<std::vector<PartitionStatus>>("partitions");
}

}  // namespace ferry::mirror
