// topics reassign: kafka-reassign-partitions.sh's --execute / --verify / --cancel / --list (KIP-455)
// over AlterPartitionReassignments (45) and ListPartitionReassignments (46), which librdkafka 2.0.2
// lacks, on client/wire_client with the invocation's client properties. The file format and its
// checks are in reassign_plan.h; current assignments come from Metadata on the same client.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/reassign_plan.h"
#include "admin/session.h"
#include "broker/protocol/messages/describe_cluster.h"
#include "broker/protocol/messages/metadata.h"
#include "broker/protocol/messages/reassignments.h"
#include "client/wire_client.h"

namespace ferry::admin {
namespace {

namespace proto = ferry::protocol;
using AlterRequest = proto::AlterPartitionReassignmentsRequest;
using AlterResponse = proto::AlterPartitionReassignmentsResponse;
using ListRequest = proto::ListPartitionReassignmentsRequest;
using ListResponse = proto::ListPartitionReassignmentsResponse;
using Key = std::pair<std::string, int32_t>;  // (topic, partition)

std::string code_name(proto::ErrorCode code) { return proto::error_name(code); }

Json maybe(const std::optional<std::string>& s) { return s ? Json(*s) : Json(); }

// "host:port" of the controller DescribeCluster names on `c`, or "" when it names none (or the broker
// does not serve DescribeCluster, KIP-700).
std::string controller_address(client::WireConnection& c) {
  if (c.version_for(proto::DescribeClusterRequest::api_key, proto::DescribeClusterRequest::max_version) < 0) return "";
  const auto d = c.call(proto::DescribeClusterRequest{}, 0);
  if (d.error_code != proto::ErrorCode::NONE) return "";
  for (const auto& b : d.brokers) {
    if (b.broker_id != d.controller_id) continue;
    return b.host.find(':') == std::string::npos ? fmt::format("{}:{}", b.host, b.port)
                                                 : fmt::format("[{}]:{}", b.host, b.port);
  }
  return "";
}

// Sends `req` to `servers` (empty: the bootstrap servers). When `not_controller(response)`, also
// returns the controller's address (from DescribeCluster on the same connection) for one retry
// there; otherwise runs `then` on the same connection.
template <class Req>
std::pair<typename Req::Response, std::string> call(Session& s, const Req& req, const std::string& servers,
                                                    bool (*not_controller)(const typename Req::Response&),
                                                    const std::function<void(client::WireConnection&)>& then = {}) {
  std::pair<typename Req::Response, std::string> out;
  on_cluster(
      s,
      [&](client::WireConnection& c) {
        out.first = c.call(req, version_or_throw<Req>(c, "KIP-455"));
        if (not_controller(out.first)) out.second = controller_address(c);
        else if (then) then(c);
      },
      servers);
  return out;
}

// Throws OpError for a request-wide error of `api`'s response (CLUSTER_AUTHORIZATION_FAILED, ...).
void check_request(proto::ErrorCode code, const std::optional<std::string>& message, const char* api) {
  if (code != proto::ErrorCode::NONE)
    throw OpError(code_name(code), fmt::format("{}: {}", api, message.value_or(code_name(code))));
}

// One partition's answer to AlterPartitionReassignments.
struct Outcome {
  proto::ErrorCode code = proto::ErrorCode::NONE;
  std::optional<std::string> message;
};

bool alter_not_controller(const AlterResponse& r) {
  if (r.error_code == proto::ErrorCode::NOT_CONTROLLER) return true;
  for (const auto& t : r.responses)
    for (const auto& p : t.partitions)
      if (p.error_code == proto::ErrorCode::NOT_CONTROLLER) return true;
  return false;
}

// The request for `moves`, one entry per topic in first-appearance order; `cancel` sends null
// replicas (KIP-455: cancels the reassignment in progress).
AlterRequest alter_request(const std::vector<PartitionMove>& moves, bool cancel, int timeout_ms) {
  AlterRequest req;
  req.timeout_ms = timeout_ms;
  for (const auto& m : moves) {
    auto t = std::find_if(req.topics.begin(), req.topics.end(), [&](const auto& x) { return x.name == m.topic; });
    if (t == req.topics.end()) {
      req.topics.push_back({m.topic, {}});
      t = std::prev(req.topics.end());
    }
    t->partitions.push_back({m.partition, cancel ? std::nullopt : std::optional(m.replicas)});
  }
  return req;
}

// Sends AlterPartitionReassignments for `moves`; partitions answered NOT_CONTROLLER (or all, when
// the whole request was) are sent once more to the controller DescribeCluster names. Throws
// OpError for a request-wide error (CLUSTER_AUTHORIZATION_FAILED, ...).
std::map<Key, Outcome> alter(Session& s, const std::vector<PartitionMove>& moves, bool cancel) {
  std::map<Key, Outcome> out;
  for (const auto& m : moves)
    out[{m.topic, m.partition}] = {proto::ErrorCode::UNKNOWN_SERVER_ERROR,
                                   "the broker's answer left this partition out"};
  auto [resp, controller] = call(s, alter_request(moves, cancel, s.timeout_ms()), "", &alter_not_controller);
  std::vector<PartitionMove> again = moves;
  if (resp.error_code != proto::ErrorCode::NOT_CONTROLLER) {
    check_request(resp.error_code, resp.error_message, AlterRequest::name);
    again.clear();
    for (const auto& t : resp.responses)
      for (const auto& p : t.partitions) out[{t.name, p.partition_index}] = {p.error_code, p.error_message};
    for (const auto& m : moves)
      if (out[{m.topic, m.partition}].code == proto::ErrorCode::NOT_CONTROLLER) again.push_back(m);
  }
  if (again.empty()) return out;
  if (controller.empty()) {
    if (resp.error_code == proto::ErrorCode::NOT_CONTROLLER)
      throw OpError("NOT_CONTROLLER", fmt::format("{}: the broker is not the controller and DescribeCluster names none",
                                                  AlterRequest::name));
    return out;
  }
  auto retry = call(s, alter_request(again, cancel, s.timeout_ms()), controller, &alter_not_controller).first;
  check_request(retry.error_code, retry.error_message, AlterRequest::name);
  for (const auto& t : retry.responses)
    for (const auto& p : t.partitions) out[{t.name, p.partition_index}] = {p.error_code, p.error_message};
  return out;
}

bool list_not_controller(const ListResponse& r) { return r.error_code == proto::ErrorCode::NOT_CONTROLLER; }

using Ongoing = ListResponse::OngoingPartitionReassignment;

using Replicas = std::map<Key, std::vector<int32_t>>;

// The replicas Metadata on `c` shows for each of `moves`' partitions that exists. Asks for the
// named topics without auto-creation (v4+, KIP-204), or for all topics from an older broker.
Replicas replicas_on(client::WireConnection& c, const std::vector<PartitionMove>& moves) {
  proto::MetadataRequest req;
  const int16_t v = version_or_throw<proto::MetadataRequest>(c, "the Kafka protocol");
  if (v >= 4) {
    req.topics.emplace();
    req.allow_auto_topic_creation = false;
    for (const auto& m : moves)
      if (std::none_of(req.topics->begin(), req.topics->end(), [&](const auto& t) { return t.name == m.topic; }))
        req.topics->push_back({{}, m.topic});
  } else if (v == 0) {
    req.topics.emplace();  // v0: empty means all topics
  }
  std::set<Key> wanted;
  for (const auto& m : moves) wanted.insert({m.topic, m.partition});
  Replicas out;
  for (const auto& t : c.call(req, v).topics)
    for (const auto& p : t.partitions)
      if (t.name && wanted.count({*t.name, p.partition_index})) out[{*t.name, p.partition_index}] = p.replica_nodes;
  return out;
}

// The reassignments in progress, of `only`'s partitions or (nullopt) of all, sorted by topic and
// partition; a NOT_CONTROLLER answer is retried once against the controller. With `replicas`, also
// fills it from Metadata on the same connection right after: one broker's view, so a partition whose
// move just completed is not judged from a broker that has not heard of it yet.
std::map<Key, Ongoing> in_progress(Session& s, const std::optional<std::vector<PartitionMove>>& only,
                                   Replicas* replicas = nullptr) {
  ListRequest req;
  req.timeout_ms = s.timeout_ms();
  if (only) {
    req.topics.emplace();
    for (const auto& m : *only) {
      auto t = std::find_if(req.topics->begin(), req.topics->end(), [&](const auto& x) { return x.name == m.topic; });
      if (t == req.topics->end()) {
        req.topics->push_back({m.topic, {}});
        t = std::prev(req.topics->end());
      }
      t->partition_indexes.push_back(m.partition);
    }
  }
  const auto then = [&](client::WireConnection& c) {
    if (replicas && only) *replicas = replicas_on(c, *only);
  };
  auto [resp, controller] = call(s, req, "", &list_not_controller, then);
  if (resp.error_code == proto::ErrorCode::NOT_CONTROLLER && !controller.empty())
    resp = call(s, req, controller, &list_not_controller, then).first;
  check_request(resp.error_code, resp.error_message, ListRequest::name);
  std::map<Key, Ongoing> out;
  for (const auto& t : resp.topics)
    for (const auto& p : t.partitions) out[{t.name, p.partition_index}] = p;
  return out;
}

int do_execute(Session& s, const std::vector<PartitionMove>& moves) {
  // Kafka's tool prints the assignment it is about to replace, for a rollback, before changing it.
  Replicas current;
  on_cluster(s, [&](client::WireConnection& c) {
    version_or_throw<AlterRequest>(c, "KIP-455");  // an old broker is named before any rollback is printed
    current = replicas_on(c, moves);
  });
  std::vector<PartitionMove> before;
  std::string missing;
  for (const auto& m : moves) {
    auto it = current.find({m.topic, m.partition});
    if (it == current.end()) missing += fmt::format("{}{}-{}", missing.empty() ? "" : ", ", m.topic, m.partition);
    else before.push_back({m.topic, m.partition, it->second});
  }
  std::string rollback = "Current partition replica assignment\n\n";
  rollback += before.empty() ? "(none of the partitions exists)\n" : reassignment_json(before) + "\n";
  if (!missing.empty()) rollback += fmt::format("(not in Metadata, so not above: {})\n", missing);
  rollback += "\nSave this to use as the --reassignment-json-file option during rollback\n";
  std::fputs(rollback.c_str(), s.json() ? stderr : stdout);
  std::fflush(s.json() ? stderr : stdout);

  const auto outcomes = alter(s, moves, false);
  Json results = Json::array();
  Table table({"TOPIC", "PARTITION", "REPLICAS", "RESULT"});
  size_t failed = 0;
  std::string first_code;
  for (const auto& m : moves) {
    const Outcome& o = outcomes.at({m.topic, m.partition});
    const bool ok = o.code == proto::ErrorCode::NONE;
    if (!ok && failed++ == 0) first_code = code_name(o.code);
    results.push(Json::object().set("topic", m.topic).set("partition", Json(int64_t{m.partition}))
                     .set("replicas", id_array(m.replicas)).set("error", ok ? Json() : Json(code_name(o.code)))
                     .set("message", maybe(o.message)));
    table.add({m.topic, std::to_string(m.partition), join_ids(m.replicas),
               ok ? "started" : fmt::format("{}: {}", code_name(o.code), o.message.value_or("(no message)"))});
  }
  s.print(Json::object().set("reassignments", std::move(results)), "\n" + table.render());
  if (failed)
    throw OpError(first_code, fmt::format("{} of {} partition reassignments were not started", failed, moves.size()));
  return 0;
}

int do_verify(Session& s, const std::vector<PartitionMove>& moves) {
  Replicas current;
  const auto ongoing = in_progress(s, moves, &current);
  Json parts = Json::array();
  Table table({"TOPIC", "PARTITION", "TARGET", "STATUS"});
  size_t running = 0, failed = 0;
  for (const auto& m : moves) {
    const Key k{m.topic, m.partition};
    Json jp = Json::object();
    jp.set("topic", m.topic).set("partition", Json(int64_t{m.partition})).set("target", id_array(m.replicas));
    std::string status;
    if (auto o = ongoing.find(k); o != ongoing.end()) {
      ++running;
      jp.set("status", "in_progress").set("replicas", id_array(o->second.replicas))
          .set("adding", id_array(o->second.adding_replicas)).set("removing", id_array(o->second.removing_replicas));
      status = fmt::format("in progress (replicas {}, adding {}, removing {})", join_ids(o->second.replicas),
                           join_ids(o->second.adding_replicas), join_ids(o->second.removing_replicas));
    } else if (auto c = current.find(k); c != current.end() && c->second == m.replicas) {
      jp.set("status", "complete").set("replicas", id_array(c->second));
      status = "complete";
    } else {
      ++failed;
      jp.set("status", "failed").set("replicas", c == current.end() ? Json() : id_array(c->second));
      status = c == current.end()
                   ? "failed: the partition does not exist"
                   : fmt::format("failed: replicas are {}, not {}, and no reassignment is in progress",
                                 join_ids(c->second), join_ids(m.replicas));
    }
    parts.push(std::move(jp));
    table.add({m.topic, std::to_string(m.partition), join_ids(m.replicas), status});
  }
  s.print(Json::object().set("partitions", std::move(parts)).set("complete", running + failed == 0), table.render());
  if (running + failed == 0) return 0;
  std::fprintf(stderr, "ferry-admin: %zu of %zu reassignments are not complete (%zu in progress, %zu failed)\n",
               running + failed, moves.size(), running, failed);
  return kExitFailed;
}

int do_cancel(Session& s, const std::vector<PartitionMove>& moves) {
  const auto outcomes = alter(s, moves, true);
  Json results = Json::array();
  Table table({"TOPIC", "PARTITION", "RESULT"});
  size_t failed = 0;
  std::string first_code;
  for (const auto& m : moves) {
    const Outcome& o = outcomes.at({m.topic, m.partition});
    const bool none = o.code == proto::ErrorCode::NO_REASSIGNMENT_IN_PROGRESS;
    std::string result = "cancelled";
    if (none) {
      result = fmt::format("NO_REASSIGNMENT_IN_PROGRESS: {}", o.message.value_or("no reassignment in progress"));
    } else if (o.code != proto::ErrorCode::NONE) {
      if (failed++ == 0) first_code = code_name(o.code);
      result = fmt::format("{}: {}", code_name(o.code), o.message.value_or("(no message)"));
    }
    results.push(Json::object().set("topic", m.topic).set("partition", Json(int64_t{m.partition}))
                     .set("error", o.code == proto::ErrorCode::NONE ? Json() : Json(code_name(o.code)))
                     .set("message", maybe(o.message)));
    table.add({m.topic, std::to_string(m.partition), result});
  }
  s.print(Json::object().set("cancellations", std::move(results)), table.render());
  if (failed)
    throw OpError(first_code, fmt::format("{} of {} cancellations failed", failed, moves.size()));
  return 0;
}

int do_list(Session& s) {
  Json list = Json::array();
  Table table({"TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"});
  for (const auto& [k, p] : in_progress(s, std::nullopt)) {
    list.push(Json::object().set("topic", k.first).set("partition", Json(int64_t{k.second}))
                  .set("replicas", id_array(p.replicas)).set("adding", id_array(p.adding_replicas))
                  .set("removing", id_array(p.removing_replicas)));
    table.add({k.first, std::to_string(k.second), join_ids(p.replicas), join_ids(p.adding_replicas),
               join_ids(p.removing_replicas)});
  }
  s.print(Json::object().set("reassignments", std::move(list)),
          table.empty() ? "No partition reassignments in progress.\n" : table.render());
  return 0;
}

int topics_reassign(Session& s, const ParsedArgs& a) {
  const char* modes[] = {"--execute", "--verify", "--cancel", "--list"};
  const auto given = std::count_if(std::begin(modes), std::end(modes), [&](const char* m) { return a.has(m); });
  if (given != 1)
    throw UsageError(a.command(), fmt::format("give exactly one of --execute, --verify, --cancel or --list ({} given)",
                                              given));
  const auto file = a.get("--reassignment-json-file");
  if (a.has("--list")) {
    if (file) throw UsageError(a.command(), "--reassignment-json-file does not apply to --list (it lists every "
                                            "reassignment in progress)");
    return do_list(s);
  }
  if (!file)
    throw UsageError(a.command(), "missing required option --reassignment-json-file (for --execute, --verify and "
                                  "--cancel)");
  const auto moves = read_reassignment_file(a.command(), *file);
  if (a.has("--execute")) return do_execute(s, moves);
  if (a.has("--verify")) return do_verify(s, moves);
  return do_cancel(s, moves);
}

}  // namespace

std::vector<Command> reassign_commands() {
  return {
      {{"topics", "reassign"},
       "move partitions to other brokers, and verify, cancel or list moves (kafka-reassign-partitions.sh)",
       "FILE is Kafka's format:\n"
       "  {\"version\":1,\"partitions\":[{\"topic\":\"t\",\"partition\":0,\"replicas\":[3,2]}]}\n"
       "The first replica is the preferred leader. A bad file is refused before anything is sent (exit 2).\n"
       "--execute prints the current assignment in the same format first (to stderr with --json): save it\n"
       "to roll back. It then starts the moves (AlterPartitionReassignments, KIP-455) and prints each\n"
       "partition's result; exit 1 if any was refused (e.g. INVALID_REPLICA_ASSIGNMENT).\n"
       "--verify: each partition is complete (Metadata shows exactly the file's replicas, in order), in\n"
       "progress (ListPartitionReassignments) or failed; exit 0 only when all are complete, else 1.\n"
       "--cancel stops the moves in progress (null replicas); NO_REASSIGNMENT_IN_PROGRESS is reported per\n"
       "partition and is not a failure (exit 0). --list shows every move in progress.\n"
       "A NOT_CONTROLLER answer is retried once against the controller DescribeCluster names.",
       {{"--reassignment-json-file", "FILE", "the partitions and their target replicas (not with --list)"},
        {"--execute", "", "start the reassignments in FILE"},
        {"--verify", "", "report whether the reassignments in FILE are complete"},
        {"--cancel", "", "cancel the reassignments in FILE that are in progress"},
        {"--list", "", "list every reassignment in progress"}},
       &topics_reassign},
  };
}

}  // namespace ferry::admin
