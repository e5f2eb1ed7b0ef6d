#include "dr-orchestrator/flow_steps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>

#include "common/clock.h"
#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/flow_view.h"
#include "dr-orchestrator/health.h"
#include "dr-orchestrator/kafka_admin.h"
#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/step_results.h"

namespace ferry::dr {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string tp_key(const std::string& topic, int32_t partition) { return fmt::format("{}-{}", topic, partition); }

json lag_json(const std::vector<FlowPartitionLag>& parts) {
  json a = json::array();
  for (const auto& p : parts)
    a.push_back({{"topic", p.topic}, {"partition", p.partition}, {"remote_topic", p.remote_topic},
                 {"next_offset", p.next_offset}, {"source_end_offset", p.source_end_offset},
                 {"source_end_offset_ms", p.source_end_offset_ms ? json(*p.source_end_offset_ms) : json(nullptr)}});
  return a;
}

// Partitions reported by several processes keep the highest next_offset (as combine_flow does).
void merge_partitions(std::map<std::string, FlowPartitionLag>& into, const std::vector<FlowPartitionLag>& parts) {
  for (const auto& p : parts) {
    auto [it, fresh] = into.emplace(tp_key(p.topic, p.partition), p);
    if (!fresh && p.next_offset > it->second.next_offset) it->second = p;
  }
}

// The partitions of `topics` (source topic -> partition count, as the mirror's /status lists
// them) that `parts` has no position for, as [{"topic", "partition"}].
json unknown_partitions(const std::map<std::string, int32_t>& topics, const std::map<std::string, FlowPartitionLag>& parts) {
  json out = json::array();
  for (const auto& [topic, n] : topics)
    for (int32_t p = 0; p < n; ++p)
      if (!parts.count(tp_key(topic, p))) out.push_back({{"topic", topic}, {"partition", p}});
  return out;
}

// Pauses `flow` on every mirror process (each holds a share of the partitions) and merges their
// answers; each process that did not answer with a pause adds its error to `errors`.
// `source_reachable` becomes false when any process says it could not reach the source, and
// nullopt when one does not say (a mirror without the field).
std::map<std::string, FlowPartitionLag> pause_everywhere(MirrorOps& mirrors, const FlowConfig& flow, milliseconds timeout,
                                                         std::vector<MirrorError>& errors,
                                                         std::optional<bool>* source_reachable = nullptr) {
  std::map<std::string, FlowPartitionLag> parts;
  if (source_reachable) *source_reachable = true;
  for (const auto& url : flow.status_urls) {
    try {
      PauseResult r = mirrors.pause(url, flow, timeout);
      merge_partitions(parts, r.partitions);
      if (source_reachable && r.source_reachable == false)
        *source_reachable = false;  // one process that could not reach the source decides
      else if (source_reachable && !r.source_reachable && *source_reachable != false)
        *source_reachable = std::nullopt;
    } catch (const MirrorError& e) {
      errors.push_back(e);
    }
  }
  return parts;
}

// The records of a compute_loss() result.
int64_t loss_records(const json& loss) {
  int64_t total = 0;
  for (const auto& l : loss) total += l.at("records").get<int64_t>();
  return total;
}

}  // namespace

namespace {

// `topic` is `name` or a remote copy of it: "<alias><separator><name>" (any non-alphanumeric
// separator, as MM2's replication.policy.separator may be).
bool is_or_copies(const std::string& topic, const std::string& name) {
  return topic == name || (topic.size() > name.size() + 1 && topic.ends_with(name) &&
                           !std::isalnum(static_cast<unsigned char>(topic[topic.size() - name.size() - 1])));
}

}  // namespace

bool is_heartbeats_topic(const std::string& topic) {
  // MM2's heartbeats topic, or a remote copy of one ("<alias>.heartbeats", any separator).
  return is_or_copies(topic, "heartbeats");
}

bool is_canary_topic(const std::string& topic) {
  return is_or_copies(topic, kCanaryTopic) || is_or_copies(topic, kLegacyCanaryTopic);
}

bool is_application_topic(const std::string& topic) { return !is_heartbeats_topic(topic) && !is_canary_topic(topic); }

json describe_unplanned_loss(const json& loss, const json& mirror_partitions, std::optional<bool> source_reachable,
                             int64_t paused_at_ms, int64_t now_ms) {
  int64_t total = 0;
  for (const auto& l : loss) total += l.at("records").get<int64_t>();
  std::optional<int64_t> oldest;
  bool all_timed = true;
  for (const auto& p : mirror_partitions) {
    if (!is_application_topic(p.at("topic"))) continue;
    const json& ms = p.contains("source_end_offset_ms") ? p["source_end_offset_ms"] : json(nullptr);
    if (!ms.is_number_integer()) {
      all_timed = false;
      continue;
    }
    oldest = oldest ? std::min(*oldest, ms.get<int64_t>()) : ms.get<int64_t>();
  }
  const bool known_age = all_timed && oldest.has_value();
  const bool exact = source_reachable == true && known_age && *oldest >= paused_at_ms;
  json out = {{"loss_exact", exact},
              {"rpo_records", exact ? json(total) : json(nullptr)},
              {"rpo_records_lower_bound", total},
              {"source_view_as_of_ms", known_age ? json(*oldest) : json(nullptr)},
              {"source_view_age_ms", known_age ? json(std::max<int64_t>(0, now_ms - *oldest)) : json(nullptr)},
              {"source_reachable", source_reachable ? json(*source_reachable) : json(nullptr)}};
  out["loss_text"] =
      exact ? fmt::format("{} record(s) (exact: the source's log end offsets were read after the pause)", total)
      : known_age
          ? fmt::format("at least {} record(s) (a lower bound: the mirror's view of the source's log end offsets is "
                        "as of {}, {} ms old; what the source acknowledged after that is unknown until it returns)",
                        total, rfc3339_ms(*oldest), std::max<int64_t>(0, now_ms - *oldest))
          : fmt::format("at least {} record(s) (a lower bound: the mirror's view of the source's log end offsets, "
                        "of unknown age; what the source acknowledged after it is unknown until it returns)",
                        total);
  return out;
}

json compute_loss(const json& mirror_partitions, const json& source_end) {
  std::map<std::string, int64_t> end;
  for (const auto& e : source_end) end[tp_key(e.at("topic"), e.at("partition"))] = e.at("end_offset");
  json out = json::array();
  for (const auto& p : mirror_partitions) {
    if (!is_application_topic(p.at("topic"))) continue;  // MM2's or ferry-dr's own records
    const std::string key = tp_key(p.at("topic"), p.at("partition"));
    const int64_t next = p.at("next_offset");
    int64_t to = p.at("source_end_offset");
    if (auto it = end.find(key); it != end.end()) to = it->second;
    if (to > next)
      out.push_back({{"topic", p.at("topic")}, {"partition", p.at("partition")}, {"from_offset", next},
                     {"to_offset", to}, {"records", to - next}});
  }
  return out;
}

namespace {

// The unplanned loss from the mirror's positions (`parts`, merged over processes) against its
// last view of the source's end, for a flow replicating `topics`. A partition of those topics
// without a position has an unknown loss, never a zero one (the mirror restarted after the source
// died, or a rebalance was under way): refused unless --force. `how` starts the summary.
// A DrainResult carrying describe_unplanned_loss()'s answer.
DrainResult with_view(const json& d) {
  auto nullable_int = [&](const char* k) { return d.at(k).is_null() ? std::nullopt : std::optional<int64_t>(d.at(k).get<int64_t>()); };
  DrainResult out;
  out.loss_exact = d.at("loss_exact").get<bool>();
  out.rpo_records = nullable_int("rpo_records");
  out.rpo_records_lower_bound = nullable_int("rpo_records_lower_bound");
  out.source_view_as_of_ms.emplace(nullable_int("source_view_as_of_ms"));
  out.source_view_age_ms.emplace(nullable_int("source_view_age_ms"));
  out.source_reachable.emplace(d.at("source_reachable").is_null() ? std::nullopt
                                                                 : std::optional<bool>(d.at("source_reachable").get<bool>()));
  out.loss_text = d.at("loss_text").get<std::string>();
  return out;
}

DrainResult unplanned_loss(const StepContext& c, const std::map<std::string, FlowPartitionLag>& parts,
                           const std::map<std::string, int32_t>& topics, const std::string& how,
                           std::optional<bool> source_reachable, int64_t paused_at_ms) {
  const FlowConfig& flow = *c.flow;
  std::vector<FlowPartitionLag> v;
  for (const auto& [k, p] : parts) v.push_back(p);
  const json loss = compute_loss(lag_json(v), json::array());
  const int64_t total = loss_records(loss);
  std::map<std::string, int32_t> app_topics;
  for (const auto& [t, n] : topics)
    if (is_application_topic(t)) app_topics[t] = n;
  const json unknown = unknown_partitions(app_topics, parts);
  DrainResult out = with_view(describe_unplanned_loss(loss, lag_json(v), source_reachable, paused_at_ms, wall_clock_ms()));
  out.planned = false;
  out.loss = loss.get<std::vector<OffsetRange>>();
  out.partitions = v;
  if (!unknown.empty() || parts.empty()) {
    const std::string why =
        parts.empty() ? fmt::format("the mirror of flow {} knows no partition's position", flow.name())
                      : fmt::format("the mirror of flow {} knows no position for {} partition(s): {}", flow.name(),
                                    unknown.size(), unknown.dump());
    // What watch saw of them before the mirror lost its positions (a restart after the source died).
    std::vector<PartitionRef> asked;
    for (const auto& u : unknown) asked.push_back({u.at("topic"), u.at("partition")});
    const std::vector<ViewedPartition> view = load_flow_view(c.cfg.state_dir, flow.name());
    if (asked.empty())
      for (const auto& v : view)
        if (is_application_topic(v.position.topic) && !parts.count(tp_key(v.position.topic, v.position.partition)))
          asked.push_back({v.position.topic, v.position.partition});
    const std::optional<WatchLossBound> bound = watch_loss_bound(view, asked, wall_clock_ms());
    const std::string bounded = bound ? "; ferry-dr watch's last view bounds it: " + bound->text : "";
    if (!c.force)
      throw StepFailure(why + "; their loss is unknown" + bounded + " (use --force to accept)", Exit::failed,
                        {{"unknown", unknown}, {"watch_bound", bound ? json(*bound) : json(nullptr)}});
    c.audit.record("decision data-loss", "ok", "--force: loss unknown for some partitions",
                   {{"loss", loss}, {"unknown", unknown}, {"reason", why}, {"watch_bound", bound ? json(*bound) : json(nullptr)}},
                   c.op_id);
    out.watch_bound = bound;
    out.loss_exact = false;
    out.rpo_records.reset();
    out.loss_unknown = true;
    out.unknown_partitions.emplace();
    for (const auto& u : unknown) out.unknown_partitions->push_back({u.at("topic"), u.at("partition")});
    out.reason = why;
    for (const auto& a : asked)
      if (std::none_of(out.unknown_partitions->begin(), out.unknown_partitions->end(),
                       [&](const PartitionRef& u) { return u == a; }))
        out.unknown_partitions->push_back(a);
    out.summary = bound ? fmt::format("{}{} record(s) known lost; not known exactly: {}{} (--force)", how, total, why, bounded)
                        : fmt::format("{}{} record(s) known lost; loss UNKNOWN: {} (--force)", how, total, why);
    return out;
  }
  // --max-data-loss against a lower bound: refused when the bound alone is over the budget; when
  // it passes, the true loss may still be higher, and the report says so.
  if (total > c.max_data_loss && !c.force)
    throw StepFailure(fmt::format("failing over would lose {}: more than --max-data-loss {}{}; --force to accept",
                                  *out.loss_text, c.max_data_loss, out.loss_exact ? "" : " already"),
                      Exit::failed, {{"loss", loss}, {"rpo_records_lower_bound", total}, {"loss_exact", out.loss_exact}});
  c.audit.record("decision data-loss", "ok", "unplanned failover: records the target never received",
                 {{"loss", loss}, {"records_lower_bound", total}, {"loss_exact", out.loss_exact},
                  {"source_view_age_ms", out.source_view_age_ms && *out.source_view_age_ms ? json(**out.source_view_age_ms) : json(nullptr)}},
                 c.op_id);
  out.summary = fmt::format("{}lost in {} partition(s): {}", how, loss.size(), *out.loss_text);
  return out;
}

}  // namespace

DrainResult drain_unplanned(const StepContext& c) {
  const FlowConfig& flow = *c.flow;
  // The source is gone. Pausing makes the mirror stop reading and answer once everything it
  // already read has landed on the target: the loss is then exact against the mirror's last
  // view of the source's end (its newest fetch response's high watermark).
  {
    std::vector<MirrorError> errors;
    std::optional<bool> reachable;
    const int64_t paused_at = wall_clock_ms();
    const auto parts = pause_everywhere(c.io.mirrors, flow, c.drain_timeout, errors, &reachable);
    for (const auto& e : errors) spdlog::warn("drain: pausing {} at {}: {}", flow.name(), e.url(), e.what());
    if (errors.empty()) {
      DrainResult out = unplanned_loss(c, parts, c.io.mirrors.probe_flow(flow).topics, "flow paused; ", reachable, paused_at);
      out.paused_everywhere = true;
      return out;
    }
  }
  // A mirror that could not pause: wait until no partition's next_offset moves for a second.
  const auto deadline = std::chrono::steady_clock::now() + c.drain_timeout;
  std::map<std::string, int64_t> last;
  auto stable_since = std::chrono::steady_clock::now();
  FlowHealth fh;
  while (true) {
    fh = c.io.mirrors.probe_flow(flow);
    std::map<std::string, int64_t> now;
    for (const auto& p : fh.partitions) now[tp_key(p.topic, p.partition)] = p.next_offset;
    if (!fh.reachable || now != last) stable_since = std::chrono::steady_clock::now();
    last = now;
    if (fh.reachable && std::chrono::steady_clock::now() - stable_since >= std::chrono::seconds(1)) break;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  if (!fh.reachable) {
    const std::string why = fmt::format("{}", fmt::join(fh.errors, "; "));
    if (!c.force) throw StepFailure(fmt::format("the mirror of flow {} does not answer, so the loss is unknown: {}", flow.name(), why));
    c.audit.record("decision data-loss", "ok", "--force: loss unknown, the mirror did not answer", {{"reason", why}}, c.op_id);
    DrainResult out;
    out.planned = false;
    out.loss_exact = false;
    out.source_view_age_ms.emplace(std::nullopt);
    out.reason = why;
    out.summary = "loss UNKNOWN: the mirror did not answer (--force)";
    return out;
  }
  std::map<std::string, FlowPartitionLag> parts;
  merge_partitions(parts, fh.partitions);
  return unplanned_loss(c, parts, fh.topics, "", std::nullopt, wall_clock_ms());
}

namespace {

// Waits (until `deadline`) for every active consumer group on FROM to commit up to `leo`, so the
// final checkpoint holds their true position and nothing they read here is read again on the new
// primary. Fills the groups it waited for and those still behind; a region whose groups cannot
// be read is logged and not waited for.
void wait_for_groups(const StepContext& c, const std::map<TopicPartition, int64_t>& leo,
                     std::chrono::steady_clock::time_point deadline, std::vector<std::string>& waited,
                     std::vector<UnsettledGroup>& unsettled) {
  try {
    while (true) {
      unsettled.clear();
      for (const auto& g : c.io.regions.list_groups(c.from)) {
        if (g.group_id.starts_with("ferry-mirror.") || g.group_id.starts_with("ferry-dr.canary")) continue;
        if (g.state != "Stable" && g.state != "PreparingRebalance" && g.state != "CompletingRebalance") continue;
        int64_t remaining = 0;
        for (const auto& o : c.io.regions.group_offsets(c.from, g.group_id)) {
          auto it = leo.find({o.topic, o.partition});
          if (it != leo.end() && o.offset >= 0 && o.offset < it->second) remaining += it->second - o.offset;
        }
        if (remaining > 0) unsettled.push_back({g.group_id, remaining});
        if (remaining > 0 && std::find(waited.begin(), waited.end(), g.group_id) == waited.end()) waited.push_back(g.group_id);
      }
      if (unsettled.empty() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
  } catch (const std::exception& e) {
    spdlog::warn("drain: consumer groups on {} not checked: {}", c.from.name, e.what());
  }
}

}  // namespace

DrainResult drain_planned(const StepContext& c) {
  const FlowConfig& flow = *c.flow;
  const auto deadline = std::chrono::steady_clock::now() + c.drain_timeout;
  std::map<TopicPartition, int64_t> leo;
  int64_t lag = 0;
  std::vector<OffsetRange> behind;
  std::optional<std::string> leo_error;
  while (true) {
    FlowHealth fh = c.io.mirrors.probe_flow(flow);
    // Every partition of every topic the flow replicates, assigned to a process yet or not;
    // except the canary's: the previous operation's canary record, written on `from` after the
    // flow had started, is one the mirror copies only once its next topic scan finds the topic
    // (refresh.topics.interval.seconds), and it is no application's record.
    std::set<std::string> topics;
    for (const auto& p : fh.partitions)
      if (!is_canary_topic(p.topic)) topics.insert(p.topic);
    for (const auto& [t, n] : fh.topics)
      if (!is_canary_topic(t)) topics.insert(t);
    std::map<std::string, int64_t> next;
    for (const auto& p : fh.partitions) next[tp_key(p.topic, p.partition)] = p.next_offset;
    lag = 0;
    behind.clear();
    leo_error.reset();
    try {
      leo = topics.empty() ? std::map<TopicPartition, int64_t>{}
                           : c.io.regions.log_end_offsets(c.from, {topics.begin(), topics.end()});
      for (const auto& [tp, end] : leo) {
        const int64_t n = next.count(tp_key(tp.first, tp.second)) ? next[tp_key(tp.first, tp.second)] : 0;
        if (end > n) {
          lag += end - n;
          behind.push_back({tp.first, tp.second, n, end, end - n});
        }
      }
    } catch (const DrError& e) {
      lag = -1;
      behind.clear();
      leo_error = e.what();
    }
    if (fh.reachable && lag == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      const json behind_json = leo_error ? json::array({{{"error", *leo_error}}}) : json(behind);
      if (!c.force)
        throw StepFailure(fmt::format("drain timed out after {} s: {} ({}); raise policy drain.timeout.seconds or "
                                      "use --force to accept the loss",
                                      c.drain_timeout.count() / 1000, lag < 0 ? "log end offsets unreadable" : fmt::format("{} record(s) not replicated", lag),
                                      fh.reachable ? behind_json.dump() : fmt::format("mirror: {}", fmt::join(fh.errors, "; "))),
                          Exit::failed, {{"behind", behind_json}});
      c.audit.record("decision data-loss", "ok", "--force: drain timed out, remaining lag accepted as loss", {{"loss", behind_json}}, c.op_id);
      DrainResult out;
      out.planned = true;
      out.loss_exact = lag >= 0;
      out.loss = behind;
      out.loss_error = leo_error;
      if (lag >= 0) out.rpo_records = out.rpo_records_lower_bound = lag;
      out.summary = fmt::format("drain timed out; {} record(s) accepted as loss (--force)", lag);
      return out;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::vector<std::string> waited;
  std::vector<UnsettledGroup> unsettled;
  wait_for_groups(c, leo, deadline, waited, unsettled);
  if (!unsettled.empty())
    c.audit.record("decision groups", "ok", "drain timeout: active groups had not consumed everything; they may re-read "
                  "on the new primary what they read here after the final checkpoint",
                  {{"groups", unsettled}}, c.op_id);
  DrainResult out;
  out.planned = true;
  out.loss_exact = true;
  out.rpo_records = out.rpo_records_lower_bound = 0;
  out.end_offsets.emplace();
  for (const auto& [tp, end] : leo) out.end_offsets->push_back({tp.first, tp.second, end});
  out.groups_waited_for = waited;
  out.groups_unsettled = unsettled;
  out.summary = fmt::format("lag 0 on {} partition(s){}", leo.size(),
                            unsettled.empty() ? (waited.empty() ? "" : fmt::format("; {} active group(s) caught up", waited.size()))
                                              : fmt::format("; {} group(s) still behind", unsettled.size()));
  return out;
}

StopFlowResult stop_flow(const StepContext& c, bool planned, const DrainResult& drain) {
  const FlowConfig& flow = *c.flow;
  std::vector<MirrorError> failed;
  std::map<std::string, FlowPartitionLag> parts;
  // Unplanned: the drain already paused every process and had each answer once what it read
  // had landed (pauses persist across mirror restarts, so a resumed operation finds them too).
  // Pausing again would only make every process wait again for the dead source (up to 2 s).
  const bool already_paused = !planned && drain.paused_everywhere.value_or(false);
  if (!already_paused) parts = pause_everywhere(c.io.mirrors, flow, planned ? c.drain_timeout : milliseconds(3000), failed);
  std::vector<std::string> errors;
  bool pause_pending = false;
  for (const auto& e : failed) {
    // Unplanned: the mirror stops reading at once; leaving the dead source's consumer group may
    // take long, and a 504 says exactly that (the flow stays paused).
    if (!planned && e.http_status() == 504)
      pause_pending = true;
    else
      errors.push_back(e.what());
  }
  StopFlowResult out;
  out.paused = errors.empty();
  out.pause_errors = errors;
  if (!planned) {
    // Checkpoints translate the groups' committed offsets on the source, which is gone: the
    // groups keep what the mirror's last periodic checkpoint applied.
    std::optional<double> age;
    try {
      age = c.io.mirrors.probe_flow(flow).checkpoint_age_s;
    } catch (const std::exception&) {
    }
    const std::string why = fmt::format("{} unreachable: no final checkpoint; groups keep the mirror's last periodic "
                                        "checkpoint{}",
                                        c.from.name, age ? fmt::format(" ({:.1f} s old)", *age) : "");
    c.audit.record("decision groups", "ok", why, json::object(), c.op_id);
    if (!errors.empty() && !c.force)
      throw StepFailure(fmt::format("cannot pause flow {}: {}", flow.name(), fmt::join(errors, "; ")));
    out.pause_pending = pause_pending;
    out.translated = false;
    out.reason = why;
    out.summary = fmt::format("flow {} {}; {}", flow.name(), errors.empty() ? "paused" : "NOT paused", why);
    return out;
  }
  if (!errors.empty() && !c.force)
    throw StepFailure(fmt::format("cannot pause flow {}: {}", flow.name(), fmt::join(errors, "; ")));
  if (errors.empty()) {
    std::map<std::string, int64_t> ends;
    for (const auto& e : drain.end_offsets.value_or(std::vector<EndOffset>{})) ends[tp_key(e.topic, e.partition)] = e.end_offset;
    for (const auto& [k, p] : parts)
      if (ends.count(k) && p.next_offset < ends[k] && !c.force)
        throw StepFailure(fmt::format("after the pause the target holds {} below offset {} only, but {} ends at {}",
                                      k, p.next_offset, c.from.name, ends[k]));
  }
  std::string why;
  int64_t emitted = 0;
  bool translated = false;
  for (const auto& url : flow.status_urls) {
    try {
      CheckpointResult cr = c.io.mirrors.checkpoint(url, flow, c.drain_timeout);
      emitted = cr.checkpoints_emitted;
      out.groups.insert(out.groups.end(), cr.groups.begin(), cr.groups.end());
      translated = true;
      break;
    } catch (const MirrorError& e) {
      why += (why.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!translated && !c.force)
    throw StepFailure(fmt::format("final checkpoint of flow {} failed: {}", flow.name(), why));
  int synced = 0;
  for (const auto& g : out.groups) synced += g.synced ? 1 : 0;
  if (!translated)
    c.audit.record("decision groups", "ok", "final checkpoint failed; groups keep the mirror's last periodic checkpoint",
                  {{"reason", why}}, c.op_id);
  out.translated = translated;
  out.reason = why;
  out.checkpoints_emitted = emitted;
  out.summary = translated ? fmt::format("flow {} paused; final checkpoint: {} group(s), {} applied to {}", flow.name(),
                                         out.groups.size(), synced, c.to.name)
                           : fmt::format("flow {} {}; final checkpoint FAILED ({}); groups keep the last periodic "
                                         "checkpoint",
                                         flow.name(), errors.empty() ? "paused" : "not paused", why);
  return out;
}

}  // namespace ferry::dr
