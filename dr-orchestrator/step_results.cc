#include "dr-orchestrator/step_results.h"

#include <fmt/format.h>

#include <algorithm>

namespace ferry::dr {

using json = nlohmann::json;

namespace {

// Reads one step's journal data, or an object inside it, naming the step and the key path in
// every error.
class Reader {
 public:
  Reader(const json& j, std::string step, std::string path = "") : j_(j), step_(std::move(step)), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_.empty() ? "(data)" : path_, "is not an object");
  }

  bool has(const char* key) const { return j_.contains(key); }

  /// A key every shape carries.
  template <class T>
  T req(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail(where(key), "is missing");
    return conv<T>(*it, where(key));
  }
  /// A key every shape carries whose value may be null.
  template <class T>
  std::optional<T> nullable(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail(where(key), "is missing");
    if (it->is_null()) return std::nullopt;
    return conv<T>(*it, where(key));
  }
  /// A key only some shapes carry (absent = nullopt).
  template <class T>
  std::optional<T> opt(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) return std::nullopt;
    return conv<T>(*it, where(key));
  }
  /// A key only some shapes carry, whose value may be null (outer nullopt = absent).
  template <class T>
  std::optional<std::optional<T>> opt_nullable(const char* key) const {
    auto it = j_.find(key);
    std::optional<std::optional<T>> out;
    if (it == j_.end()) return out;
    out.emplace();
    if (!it->is_null()) *out = conv<T>(*it, where(key));
    return out;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw StepDataError(step_, key, fmt::format("step '{}': key \"{}\" {}", step_, key, why));
  }

 private:
  std::string where(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  template <class T>
  T conv(const json& v, const std::string& path) const;

  const json& j_;
  std::string step_;
  std::string path_;
};

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

// Nested objects, each read through a Reader so their keys are named too.
OffsetRange read(const Reader& r, OffsetRange*) {
  return {r.req<std::string>("topic"), r.req<int32_t>("partition"), r.req<int64_t>("from_offset"),
          r.req<int64_t>("to_offset"), r.req<int64_t>("records")};
}
PartitionRef read(const Reader& r, PartitionRef*) { return {r.req<std::string>("topic"), r.req<int32_t>("partition")}; }
EndOffset read(const Reader& r, EndOffset*) {
  return {r.req<std::string>("topic"), r.req<int32_t>("partition"), r.req<int64_t>("end_offset")};
}
UnsettledGroup read(const Reader& r, UnsettledGroup*) {
  return {r.req<std::string>("group"), r.req<int64_t>("records_unconsumed")};
}
EarlierLoss read(const Reader& r, EarlierLoss*) {
  EarlierLoss e;
  e.op_id = r.req<std::string>("op_id");
  e.estimated_lower_bound = r.nullable<int64_t>("estimated_lower_bound");
  e.source_view_age_ms = r.nullable<int64_t>("source_view_age_ms");
  e.exact = r.nullable<int64_t>("exact");
  e.unknown_partitions = r.req<std::vector<PartitionRef>>("unknown_partitions");
  e.records_in_known_partitions = r.req<int64_t>("records_in_known_partitions");
  return e;
}
FlowPartitionLag read(const Reader& r, FlowPartitionLag*) {
  FlowPartitionLag p;
  p.topic = r.req<std::string>("topic");
  p.partition = r.req<int32_t>("partition");
  p.remote_topic = r.req<std::string>("remote_topic");
  p.next_offset = r.req<int64_t>("next_offset");
  p.source_end_offset = r.req<int64_t>("source_end_offset");
  p.lag_records = std::max<int64_t>(0, p.source_end_offset - p.next_offset);
  p.source_end_offset_ms = r.nullable<int64_t>("source_end_offset_ms");
  return p;
}
WatchLossBound read(const Reader& r, WatchLossBound*) {
  return {r.req<int64_t>("records_at_most"), r.req<int64_t>("inputs_as_of_ms"), r.req<std::vector<OffsetRange>>("ranges"),
          r.req<std::vector<PartitionRef>>("not_in_view"), r.req<std::string>("text")};
}
CheckpointGroup::Offset read(const Reader& r, CheckpointGroup::Offset*) {
  return {r.req<std::string>("topic"), r.req<int32_t>("partition"), r.req<int64_t>("upstream"), r.req<int64_t>("downstream")};
}
CheckpointGroup read(const Reader& r, CheckpointGroup*) {
  CheckpointGroup g;
  g.group = r.req<std::string>("group");
  g.synced = r.req<bool>("synced");
  g.reason = r.nullable<std::string>("reason");
  g.offsets = r.req<std::vector<CheckpointGroup::Offset>>("offsets");
  return g;
}

template <class T>
T Reader::conv(const json& v, const std::string& path) const {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) fail(path, "is not a boolean");
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) fail(path, "is not an integer");
    return v.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) fail(path, "is not a string");
    return v.get<std::string>();
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) fail(path, "is not an array");
    T out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(conv<typename T::value_type>(v[i], fmt::format("{}[{}]", path, i)));
    return out;
  } else {
    return read(Reader(v, step_, path), static_cast<T*>(nullptr));
  }
}

template <class T>
json opt_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

void to_json(json& j, const OpOptions& v) {
  j = {{"planned", v.planned}, {"force", v.force}, {"max_data_loss", v.max_data_loss}};
}
void from_json(const json& j, OpOptions& v) {
  Reader r(j, OpOptions::kStep, "op.extra");
  v.planned = r.req<bool>("planned");
  v.force = r.req<bool>("force");
  v.max_data_loss = r.req<int64_t>("max_data_loss");
}
void to_json(json& j, const RollbackPlan& v) {
  j = {{"reason", v.reason}};
  if (v.undo) j["undo"] = *v.undo;
}
void from_json(const json& j, RollbackPlan& v) {
  Reader r(j, RollbackPlan::kStep);
  v.reason = r.req<std::string>("reason");
  v.undo = r.opt<std::vector<std::string>>("undo");
}

void to_json(json& j, const OffsetRange& v) {
  j = {{"topic", v.topic}, {"partition", v.partition}, {"from_offset", v.from_offset}, {"to_offset", v.to_offset},
       {"records", v.records}};
}
void from_json(const json& j, OffsetRange& v) { v = read(Reader(j, "loss"), static_cast<OffsetRange*>(nullptr)); }
void to_json(json& j, const WatchLossBound& v) {
  j = {{"records_at_most", v.records_at_most}, {"inputs_as_of_ms", v.inputs_as_of_ms}, {"ranges", v.ranges},
       {"not_in_view", v.not_in_view}, {"text", v.text}};
}
void to_json(json& j, const PartitionRef& v) { j = {{"topic", v.topic}, {"partition", v.partition}}; }
void to_json(json& j, const EndOffset& v) { j = {{"topic", v.topic}, {"partition", v.partition}, {"end_offset", v.end_offset}}; }
void to_json(json& j, const UnsettledGroup& v) { j = {{"group", v.group}, {"records_unconsumed", v.records_unconsumed}}; }
void to_json(json& j, const EarlierLoss& v) {
  j = {{"op_id", v.op_id}, {"estimated_lower_bound", opt_json(v.estimated_lower_bound)},
       {"source_view_age_ms", opt_json(v.source_view_age_ms)}, {"exact", opt_json(v.exact)},
       {"unknown_partitions", v.unknown_partitions}, {"records_in_known_partitions", v.records_in_known_partitions}};
}
void to_json(json& j, const FlowPartitionLag& p) {
  j = {{"topic", p.topic}, {"partition", p.partition}, {"remote_topic", p.remote_topic}, {"next_offset", p.next_offset},
       {"source_end_offset", p.source_end_offset}, {"source_end_offset_ms", opt_json(p.source_end_offset_ms)}};
}
void to_json(json& j, const CheckpointGroup& g) {
  json offs = json::array();
  for (const auto& o : g.offsets)
    offs.push_back({{"topic", o.topic}, {"partition", o.partition}, {"upstream", o.upstream}, {"downstream", o.downstream}});
  j = {{"group", g.group}, {"synced", g.synced}, {"reason", opt_json(g.reason)}, {"offsets", offs}};
}

void to_json(json& j, const PrecheckResult& v) {
  j = {{"planned", v.planned},     {"from_reachable", v.from_reachable}, {"from_error", v.from_error},
       {"to_state", v.to_state},   {"to_reasons", v.to_reasons},         {"from_role", v.from_role},
       {"to_role", v.to_role},     {"summary", v.summary}};
  if (v.estimated_loss_lower_bound) j["estimated_loss_lower_bound"] = opt_json(*v.estimated_loss_lower_bound);
  if (v.source_view_age_ms) j["source_view_age_ms"] = opt_json(*v.source_view_age_ms);
}
void from_json(const json& j, PrecheckResult& v) {
  Reader r(j, PrecheckResult::kStep);
  v.planned = r.req<bool>("planned");
  v.from_reachable = r.req<bool>("from_reachable");
  v.from_error = r.req<std::string>("from_error");
  v.to_state = r.req<std::string>("to_state");
  v.to_reasons = r.req<std::vector<std::string>>("to_reasons");
  v.from_role = r.req<std::string>("from_role");
  v.to_role = r.req<std::string>("to_role");
  v.summary = r.req<std::string>("summary");
  if (!v.from_reachable) {
    v.estimated_loss_lower_bound.emplace(r.nullable<int64_t>("estimated_loss_lower_bound"));
    v.source_view_age_ms.emplace(r.nullable<int64_t>("source_view_age_ms"));
  } else {
    v.estimated_loss_lower_bound = r.opt_nullable<int64_t>("estimated_loss_lower_bound");
    v.source_view_age_ms = r.opt_nullable<int64_t>("source_view_age_ms");
  }
}

void to_json(json& j, const KeepAsideResult& v) {
  j = {{"kept_aside", v.kept_aside}, {"summary", v.summary}};
  if (v.earlier) {
    j["records"] = v.earlier->records;
    j["from_op"] = v.earlier->from_op;
    j["earlier_loss"] = v.earlier->loss;
  }
}
void from_json(const json& j, KeepAsideResult& v) {
  Reader r(j, KeepAsideResult::kStep);
  v.kept_aside = r.req<std::vector<OffsetRange>>("kept_aside");
  v.summary = r.req<std::string>("summary");
  v.earlier.reset();
  if (r.has("from_op") || r.has("records") || r.has("earlier_loss"))
    v.earlier = KeepAsideResult::Earlier{r.req<int64_t>("records"), r.req<std::string>("from_op"),
                                         r.req<EarlierLoss>("earlier_loss")};
}

void to_json(json& j, const SyncFlowResult& v) {
  if (v.skipped)
    j = {{"skipped", true}, {"summary", v.summary}};
  else
    j = {{"fenced_target", v.fenced_target}, {"flow_running", v.flow_running}, {"summary", v.summary}};
}
void from_json(const json& j, SyncFlowResult& v) {
  Reader r(j, SyncFlowResult::kStep);
  v.skipped = r.opt<bool>("skipped").value_or(false);
  if (!v.skipped) {
    v.fenced_target = r.req<bool>("fenced_target");
    v.flow_running = r.req<bool>("flow_running");
  }
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const FenceResult& v) {
  j = {{"fenced", v.fenced}, {"summary", v.summary}};
  if (!v.fenced) j["reason"] = v.reason;
}
void from_json(const json& j, FenceResult& v) {
  Reader r(j, FenceResult::kStep);
  v.fenced = r.req<bool>("fenced");
  v.reason = v.fenced ? "" : r.req<std::string>("reason");
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const DrainResult& v) {
  j = {{"planned", v.planned},
       {"loss_exact", v.loss_exact},
       {"loss", v.loss_error ? json::array({{{"error", *v.loss_error}}}) : json(v.loss)},
       {"rpo_records", opt_json(v.rpo_records)},
       {"rpo_records_lower_bound", opt_json(v.rpo_records_lower_bound)},
       {"summary", v.summary}};
  if (v.end_offsets) j["end_offsets"] = *v.end_offsets;
  if (v.groups_waited_for) j["groups_waited_for"] = *v.groups_waited_for;
  if (v.groups_unsettled) j["groups_unsettled"] = *v.groups_unsettled;
  if (v.source_view_as_of_ms) j["source_view_as_of_ms"] = opt_json(*v.source_view_as_of_ms);
  if (v.source_view_age_ms) j["source_view_age_ms"] = opt_json(*v.source_view_age_ms);
  if (v.source_reachable) j["source_reachable"] = opt_json(*v.source_reachable);
  if (v.loss_text) j["loss_text"] = *v.loss_text;
  if (v.partitions) j["partitions"] = *v.partitions;
  if (v.paused_everywhere) j["paused_everywhere"] = *v.paused_everywhere;
  if (v.loss_unknown) j["loss_unknown"] = *v.loss_unknown;
  if (v.unknown_partitions) j["unknown_partitions"] = *v.unknown_partitions;
  if (v.watch_bound) j["watch_bound"] = *v.watch_bound;
  if (v.reason) j["reason"] = *v.reason;
}
void from_json(const json& j, DrainResult& v) {
  Reader r(j, DrainResult::kStep);
  v = DrainResult{};
  v.planned = r.req<bool>("planned");
  v.loss_exact = r.req<bool>("loss_exact");
  const json& loss = j.contains("loss") ? j["loss"] : json();
  if (loss.is_array() && loss.size() == 1 && loss[0].is_object() && loss[0].contains("error"))
    v.loss_error = Reader(loss[0], DrainResult::kStep, "loss[0]").req<std::string>("error");
  else
    v.loss = r.req<std::vector<OffsetRange>>("loss");
  v.rpo_records = r.nullable<int64_t>("rpo_records");
  v.rpo_records_lower_bound = r.nullable<int64_t>("rpo_records_lower_bound");
  v.summary = r.req<std::string>("summary");
  // A planned drain that reached lag 0 carries all three; one without the others is damaged.
  if (r.has("end_offsets") || r.has("groups_waited_for") || r.has("groups_unsettled")) {
    v.end_offsets = r.req<std::vector<EndOffset>>("end_offsets");
    v.groups_waited_for = r.req<std::vector<std::string>>("groups_waited_for");
    v.groups_unsettled = r.req<std::vector<UnsettledGroup>>("groups_unsettled");
  }
  v.source_view_as_of_ms = r.opt_nullable<int64_t>("source_view_as_of_ms");
  v.source_view_age_ms = r.opt_nullable<int64_t>("source_view_age_ms");
  v.source_reachable = r.opt_nullable<bool>("source_reachable");
  v.loss_text = r.opt<std::string>("loss_text");
  v.partitions = r.opt<std::vector<FlowPartitionLag>>("partitions");
  v.paused_everywhere = r.opt<bool>("paused_everywhere");
  v.loss_unknown = r.opt<bool>("loss_unknown");
  v.unknown_partitions = r.opt<std::vector<PartitionRef>>("unknown_partitions");
  if (v.loss_unknown.value_or(false) && !v.unknown_partitions) r.fail("unknown_partitions", "is missing");
  v.watch_bound = r.opt<WatchLossBound>("watch_bound");
  v.reason = r.opt<std::string>("reason");
}

void to_json(json& j, const StopFlowResult& v) {
  j = {{"groups", v.groups}, {"translated", v.translated}, {"summary", v.summary}};
  if (v.paused) j["paused"] = *v.paused;
  if (v.pause_pending) j["pause_pending"] = *v.pause_pending;
  if (v.pause_errors) j["pause_errors"] = *v.pause_errors;
  if (v.reason) j["reason"] = *v.reason;
  if (v.checkpoints_emitted) j["checkpoints_emitted"] = *v.checkpoints_emitted;
}
void from_json(const json& j, StopFlowResult& v) {
  Reader r(j, StopFlowResult::kStep);
  v = StopFlowResult{};
  v.groups = r.req<std::vector<CheckpointGroup>>("groups");
  v.translated = r.req<bool>("translated");
  v.summary = r.req<std::string>("summary");
  v.paused = r.opt<bool>("paused");
  if (v.paused) {  // a flow was stopped: these come with it
    v.pause_errors = r.req<std::vector<std::string>>("pause_errors");
    v.reason = r.req<std::string>("reason");
  }
  v.pause_pending = r.opt<bool>("pause_pending");
  v.checkpoints_emitted = r.opt<int64_t>("checkpoints_emitted");
}

void to_json(json& j, const PromoteResult& v) { j = {{"role", v.role}, {"summary", v.summary}}; }
void from_json(const json& j, PromoteResult& v) {
  Reader r(j, PromoteResult::kStep);
  v.role = r.req<std::string>("role");
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const RedirectResult& v) {
  j = {{"bootstrap_file", v.bootstrap_file}, {"servers", v.servers}};
  if (v.hook_exit) j["hook_exit"] = *v.hook_exit;
  if (v.hook_output) j["hook_output"] = *v.hook_output;
  if (!v.summary.empty()) j["summary"] = v.summary;  // absent in a failed attempt's data
}
void from_json(const json& j, RedirectResult& v) {
  Reader r(j, RedirectResult::kStep);
  v.bootstrap_file = r.req<std::string>("bootstrap_file");
  v.servers = r.req<std::string>("servers");
  v.hook_exit = r.opt<int>("hook_exit");
  v.hook_output = v.hook_exit ? std::optional(r.req<std::string>("hook_output")) : std::nullopt;
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const ReverseResult& v) {
  j = {{"started", v.started}, {"summary", v.summary}};
  if (v.flow) j["flow"] = *v.flow;
  if (v.reason) j["reason"] = *v.reason;
}
void from_json(const json& j, ReverseResult& v) {
  Reader r(j, ReverseResult::kStep);
  v.started = r.req<bool>("started");
  v.flow = v.started ? std::optional(r.req<std::string>("flow")) : r.opt<std::string>("flow");
  v.reason = v.started ? r.opt<std::string>("reason") : std::optional(r.req<std::string>("reason"));
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const VerifyResult& v) {
  j = {{"topic", v.topic},        {"partition", v.partition},     {"offset", v.offset}, {"acked_ms", v.acked_ms},
       {"consumed_ms", v.consumed_ms}, {"rto_ms", v.rto_ms}, {"summary", v.summary}};
}
void from_json(const json& j, VerifyResult& v) {
  Reader r(j, VerifyResult::kStep);
  v.topic = r.req<std::string>("topic");
  v.partition = r.req<int32_t>("partition");
  v.offset = r.req<int64_t>("offset");
  v.acked_ms = r.req<int64_t>("acked_ms");
  v.consumed_ms = r.req<int64_t>("consumed_ms");
  v.rto_ms = r.req<int64_t>("rto_ms");
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const ReportResult& v) {
  j = {{"path", v.path}, {"final_healthy", v.final_healthy}, {"summary", v.summary}};
}
void from_json(const json& j, ReportResult& v) {
  Reader r(j, ReportResult::kStep);
  v.path = r.req<std::string>("path");
  v.final_healthy = r.req<bool>("final_healthy");
  v.summary = r.req<std::string>("summary");
}

void to_json(json& j, const RollbackResult& v) {
  j = json::object();
  if (v.unfenced) j["unfenced"] = *v.unfenced;
  if (v.flow_resumed) j["flow_resumed"] = *v.flow_resumed;
  if (v.flow_not_resumed) j["flow_not_resumed"] = *v.flow_not_resumed;
}
void from_json(const json& j, RollbackResult& v) {
  Reader r(j, RollbackResult::kStep);
  v.unfenced = r.opt<std::string>("unfenced");
  v.flow_resumed = r.opt<std::string>("flow_resumed");
  v.flow_not_resumed = r.opt<std::string>("flow_not_resumed");
}

}  // namespace ferry::dr
