// Consumer-group handlers: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups, ListGroups, DeleteGroups.
// Wire message → groups::GroupCoordinator (membership) and GroupMetadataManager (committed offsets
// in __consumer_offsets). This broker is the coordinator of every group: it owns every partition.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <set>

#include "common/clock.h"
#include "broker/core/group_metadata.h"
#include "broker/core/replica_manager.h"
#include "broker/replication/replication.h"
#include "broker/core/replica_manager.h"
#include "broker/groups/coordinator.h"
#include "broker/server/handlers.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

// Runs `start(callback)` and suspends until the coordinator invokes the callback, possibly later
// and from another thread. The result is handed over on this coroutine's executor (one thread
// per io_context), so checking it and starting the wait cannot race with its arrival.
template <class T, class Start>
asio::awaitable<T> await_callback(Start start) {
  auto executor = co_await asio::this_coro::executor;
  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    std::optional<T> result;
  };
  auto st = std::make_shared<State>(executor);
  start([st](T r) {
    asio::post(st->timer.get_executor(), [st, r = std::move(r)]() mutable {
      st->result = std::move(r);
      st->timer.cancel();
    });
  });
  while (!st->result) {
    boost::system::error_code ec;
    co_await st->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(*st->result);
}

// Kafka reports a member's host as Java's InetAddress.toString() of an address without a name.
std::string client_host(const RequestContext& ctx) { return "/" + ctx.identity.client_host; }

std::string client_id(const RequestContext& ctx) { return ctx.header.client_id.value_or(""); }

// KIP-430 bitfield of what the principal may do with a group (DescribeGroups v3+).
int32_t group_operations(const security::Authorizer& a, const security::RequestIdentity& who, const std::string& group) {
  int32_t bits = 0;
  for (auto op : {Operation::Read, Operation::Delete, Operation::Describe})
    if (a.authorize(who, op, {ResourceType::Group, group}, security::AuditHint::Quiet)) bits |= 1 << static_cast<int>(op);
  return bits;
}

// Topic names a consumer-protocol member subscribes to, from its ConsumerProtocolSubscription
// (version int16, then an array of int16-length strings; later fields do not matter here).
// nullopt when the bytes do not parse.
std::optional<std::set<std::string>> subscribed_topics(const Bytes& metadata) {
  try {
    Reader r(metadata);
    r.i16();
    int32_t n = r.i32();
    if (n < 0) return std::set<std::string>{};
    r.checked_count(n, 2);
    std::set<std::string> topics;
    for (int32_t i = 0; i < n; ++i) {
      int16_t len = r.i16();
      if (len < 0) return std::nullopt;
      auto s = r.take(static_cast<size_t>(len));
      topics.emplace(reinterpret_cast<const char*>(s.data()), s.size());
    }
    return topics;
  } catch (const DecodeError&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<ErrorCode> Handlers::group_gate(RequestContext& ctx, const std::string& group_id) {
  if (!allowed(ctx, Operation::Read, ResourceType::Group, group_id)) return ErrorCode::GROUP_AUTHORIZATION_FAILED;
  // During shutdown pending rebalances are answered NOT_COORDINATOR; new ones must not start.
  if (s_.stopping) return ErrorCode::NOT_COORDINATOR;
  if (!s_.group_metadata.coordinates(group_id)) return ErrorCode::NOT_COORDINATOR;
  return std::nullopt;
}

asio::awaitable<FindCoordinatorResponse> Handlers::handle(FindCoordinatorRequest& req, RequestContext& ctx) {
  FindCoordinatorResponse resp;
  resp.node_id = -1;
  if (req.key_type == 1) {
    // DESCRIBE on the transactional id comes first, as in Kafka's handleFindCoordinatorRequest.
    if (!allowed(ctx, Operation::Describe, ResourceType::TransactionalId, req.key)) {
      resp.error_code = ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      co_return resp;
    }
    resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    resp.error_message = "transactions are not supported by this broker yet";
    co_return resp;
  }
  if (req.key_type != 0) {
    resp.error_code = ErrorCode::INVALID_REQUEST;
    resp.error_message = fmt::format("unknown coordinator key type {}", req.key_type);
    co_return resp;
  }
  if (!allowed(ctx, Operation::Describe, ResourceType::Group, req.key)) {
    resp.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
    co_return resp;
  }
  if (s_.stopping) {
    resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    co_return resp;
  }
  if (s_.replication) {
    // A region on etcd: the coordinator is the live leader of the group's partition of
    // __consumer_offsets (Kafka's KafkaApis.getCoordinator); none yet is COORDINATOR_NOT_AVAILABLE,
    // which clients retry (the controller creates the topic once enough brokers are registered).
    s_.replication->ensure_fresh();
    const int32_t p = s_.group_metadata.partition_of(req.key);
    const int32_t leader = p >= 0 ? s_.replication->leader_of(std::string(kConsumerOffsetsTopic), p) : -1;
    for (const auto& b : s_.replication->live_brokers(ctx.listener->name)) {
      if (b.node_id != leader) continue;
      resp.node_id = b.node_id;
      resp.host = b.host;
      resp.port = b.port;
      co_return resp;
    }
    resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    co_return resp;
  }
  auto [host, port] = advertised_address(s_, ctx);
  resp.node_id = s_.config.node_id;
  resp.host = host;
  resp.port = port;
  co_return resp;
}

asio::awaitable<JoinGroupResponse> Handlers::handle(JoinGroupRequest& req, RequestContext& ctx) {
  JoinGroupResponse resp;
  resp.member_id = req.member_id;
  if (auto refused = group_gate(ctx, req.group_id)) {
    resp.error_code = *refused;
    co_return resp;
  }
  groups::JoinRequest jr;
  jr.group_id = req.group_id;
  jr.member_id = req.member_id;
  jr.group_instance_id = req.group_instance_id;
  jr.client_id = client_id(ctx);
  jr.client_host = client_host(ctx);
  jr.session_timeout_ms = req.session_timeout_ms;
  // JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout for both.
  jr.rebalance_timeout_ms = ctx.header.api_version == 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
  jr.protocol_type = req.protocol_type;
  for (auto& p : req.protocols) jr.protocols.push_back({std::move(p.name), std::move(p.metadata)});
  jr.api_version = ctx.header.api_version;
  auto& gc = s_.coordinator;
  auto r = co_await await_callback<groups::JoinResult>([&](groups::JoinCallback cb) { gc.join(jr, std::move(cb)); });
  resp.error_code = r.error;
  resp.generation_id = r.generation_id;
  resp.protocol_name = r.protocol_name;
  resp.leader = r.leader_id;
  resp.member_id = r.member_id;
  for (auto& m : r.members) resp.members.push_back({std::move(m.member_id), std::move(m.group_instance_id), std::move(m.metadata)});
  co_return resp;
}

asio::awaitable<SyncGroupResponse> Handlers::handle(SyncGroupRequest& req, RequestContext& ctx) {
  SyncGroupResponse resp;
  if (auto refused = group_gate(ctx, req.group_id)) {
    resp.error_code = *refused;
    co_return resp;
  }
  groups::SyncRequest sr;
  sr.group_id = req.group_id;
  sr.generation_id = req.generation_id;
  sr.member_id = req.member_id;
  sr.group_instance_id = req.group_instance_id;
  for (auto& a : req.assignments) sr.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
  auto& gc = s_.coordinator;
  auto r = co_await await_callback<groups::SyncResult>([&](groups::SyncCallback cb) { gc.sync(sr, std::move(cb)); });
  resp.error_code = r.error;
  resp.assignment = std::move(r.assignment);
  co_return resp;
}

asio::awaitable<HeartbeatResponse> Handlers::handle(HeartbeatRequest& req, RequestContext& ctx) {
  HeartbeatResponse resp;
  if (!allowed(ctx, Operation::Read, ResourceType::Group, req.group_id))
    resp.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
  else if (!s_.group_metadata.coordinates(req.group_id))
    resp.error_code = ErrorCode::NOT_COORDINATOR;
  else
    resp.error_code = s_.coordinator.heartbeat({req.group_id, req.generation_id, req.member_id, req.group_instance_id});
  co_return resp;
}

asio::awaitable<LeaveGroupResponse> Handlers::handle(LeaveGroupRequest& req, RequestContext& ctx) {
  LeaveGroupResponse resp;
  if (!allowed(ctx, Operation::Read, ResourceType::Group, req.group_id)) {
    resp.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
    co_return resp;
  }
  if (!s_.group_metadata.coordinates(req.group_id)) {
    resp.error_code = ErrorCode::NOT_COORDINATOR;
    co_return resp;
  }
  groups::LeaveRequest lr;
  lr.group_id = req.group_id;
  const bool batch = ctx.header.api_version >= 3;  // KIP-345: several members per request
  if (batch) {
    for (auto& m : req.members) lr.members.push_back({m.member_id, m.group_instance_id});
  } else {
    lr.members.push_back({req.member_id, std::nullopt});
  }
  auto r = s_.coordinator.leave(lr);
  resp.error_code = r.error;
  if (batch) {
    for (auto& m : r.members) resp.members.push_back({m.member_id, m.group_instance_id, m.error});
  } else if (r.error == ErrorCode::NONE && !r.members.empty()) {
    resp.error_code = r.members.front().error;
  }
  co_return resp;
}

asio::awaitable<OffsetCommitResponse> Handlers::handle(OffsetCommitRequest& req, RequestContext& ctx) {
  OffsetCommitResponse resp;
  const int64_t now = wall_clock_ms();
  const bool group_ok = allowed(ctx, Operation::Read, ResourceType::Group, req.group_id);
  // Per-partition checks first (Kafka's order): authorization, topic existence, metadata size.
  std::vector<TopicPartitionOffset> commits;
  std::vector<std::pair<size_t, size_t>> pending;  // (topic, partition) positions in resp of `commits`
  for (auto& t : req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    const bool topic_ok = allowed(ctx, Operation::Read, ResourceType::Topic, t.name);
    for (auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      if (!group_ok) {
        pr.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
      } else if (!topic_ok) {
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
      } else if (!partition_exists(t.name, p.partition_index)) {
        pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      } else if (p.committed_metadata && p.committed_metadata->size() > s_.group_metadata.max_metadata_bytes()) {
        pr.error_code = ErrorCode::OFFSET_METADATA_TOO_LARGE;
      } else {
        groups::OffsetValue v;
        v.offset = p.committed_offset;
        v.leader_epoch = p.committed_leader_epoch;
        v.metadata = p.committed_metadata.value_or(std::string());
        v.commit_timestamp = now;
        // OffsetCommit v2-v4 may ask for a retention of its own; -1 means the broker's.
        if (req.retention_time_ms >= 0) v.expire_timestamp = now + req.retention_time_ms;
        commits.push_back({t.name, p.partition_index, std::move(v)});
        pending.emplace_back(resp.topics.size() - 1, tr.partitions.size() - 1);
      }
    }
  }
  if (commits.empty()) co_return resp;

  auto fail_all = [&](ErrorCode e) {
    for (auto [t, p] : pending) resp.topics[t].partitions[p].error_code = e;
  };
  if (s_.stopping || !s_.group_metadata.coordinates(req.group_id)) {
    fail_all(ErrorCode::NOT_COORDINATOR);
    co_return resp;
  }
  ErrorCode membership =
      s_.coordinator.check_offset_commit({req.group_id, req.generation_id_or_member_epoch, req.member_id, req.group_instance_id});
  if (membership != ErrorCode::NONE) {
    fail_all(membership);
    co_return resp;
  }
  auto w = s_.group_metadata.commit(req.group_id, commits);
  if (w.error != ErrorCode::NONE) {
    // Kafka answers a failed offsets append with a retriable coordinator error, never the raw
    // storage error: the client retries the commit.
    fail_all(w.error == ErrorCode::NOT_COORDINATOR ? w.error : ErrorCode::COORDINATOR_NOT_AVAILABLE);
    co_return resp;
  }
  // Answered once appended, as Kafka answers after the append to __consumer_offsets (it never
  // fsyncs for it); the flusher was asked to fsync the append at once. Holding the answer for the
  // fsync (as log.flush.acks.all does for produce) held every later response on the connection
  // with it — the member's heartbeats included, and librdkafka counts a heartbeat unanswered for
  // session.timeout.ms as a lost session — so on a slow disk members lost their sessions while
  // committing (issue 13, defect 8). A commit lost to a power cut before the fsync means records
  // delivered again, never records skipped.
  co_return resp;
}

asio::awaitable<OffsetFetchResponse> Handlers::handle(OffsetFetchRequest& req, RequestContext& ctx) {
  OffsetFetchResponse resp;
  const int16_t version = ctx.header.api_version;
  if (!allowed(ctx, Operation::Describe, ResourceType::Group, req.group_id)) {
    if (version >= 2) {
      resp.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
    } else if (req.topics) {
      for (auto& t : *req.topics) {
        auto& tr = resp.topics.emplace_back();
        tr.name = t.name;
        for (int32_t p : t.partition_indexes)
          tr.partitions.push_back({p, -1, -1, std::string(), ErrorCode::GROUP_AUTHORIZATION_FAILED});
      }
    }
    co_return resp;
  }
  if (!s_.group_metadata.coordinates(req.group_id)) {
    // v2+ carries a top-level error; v0-1 one per partition asked for.
    if (version >= 2) {
      resp.error_code = ErrorCode::NOT_COORDINATOR;
    } else if (req.topics) {
      for (auto& t : *req.topics) {
        auto& tr = resp.topics.emplace_back();
        tr.name = t.name;
        for (int32_t p : t.partition_indexes)
          tr.partitions.push_back({p, -1, -1, std::string(), ErrorCode::NOT_COORDINATOR});
      }
    }
    co_return resp;
  }
  auto committed = s_.group_metadata.offsets(req.group_id);
  auto entry = [&](const std::string& topic, int32_t p) {
    OffsetFetchResponse::OffsetFetchResponsePartition out{p, -1, -1, std::string(), ErrorCode::NONE};
    if (auto it = committed.find({topic, p}); it != committed.end()) {
      out.committed_offset = it->second.offset;
      out.committed_leader_epoch = it->second.leader_epoch;
      out.metadata = it->second.metadata;
    }
    return out;
  };
  if (!req.topics) {
    // v2+: a null topic list asks for every partition the group has an offset for.
    std::map<std::string, OffsetFetchResponse::OffsetFetchResponseTopic> by_topic;
    for (const auto& [tp, _] : committed) {
      if (!visible(ctx, Operation::Describe, ResourceType::Topic, tp.first)) continue;  // a listing filter
      auto& tr = by_topic[tp.first];
      tr.name = tp.first;
      tr.partitions.push_back(entry(tp.first, tp.second));
    }
    for (auto& [_, tr] : by_topic) resp.topics.push_back(std::move(tr));
    co_return resp;
  }
  for (auto& t : *req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    const bool topic_ok = allowed(ctx, Operation::Describe, ResourceType::Topic, t.name);
    for (int32_t p : t.partition_indexes) {
      auto e = entry(t.name, p);
      if (!topic_ok) {
        e = {p, -1, -1, std::string(), ErrorCode::TOPIC_AUTHORIZATION_FAILED};
      }
      tr.partitions.push_back(std::move(e));
    }
  }
  co_return resp;
}

asio::awaitable<OffsetDeleteResponse> Handlers::handle(OffsetDeleteRequest& req, RequestContext& ctx) {
  OffsetDeleteResponse resp;
  if (!allowed(ctx, Operation::Delete, ResourceType::Group, req.group_id)) {
    resp.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
    co_return resp;
  }
  if (!s_.group_metadata.coordinates(req.group_id)) {
    resp.error_code = ErrorCode::NOT_COORDINATOR;
    co_return resp;
  }
  auto desc = s_.coordinator.describe({req.group_id}).at(0);
  const bool known = desc.state != "Dead";
  if (!known) {
    resp.error_code = ErrorCode::GROUP_ID_NOT_FOUND;
    co_return resp;
  }
  // A group with members keeps the offsets of topics it consumes (KIP-496): only a consumer-protocol
  // group can say which topics those are, and only once Stable, when its subscriptions are known.
  std::set<std::string> subscribed;
  if (desc.state != "Empty") {
    if (desc.protocol_type != "consumer") {
      resp.error_code = ErrorCode::NON_EMPTY_GROUP;
      co_return resp;
    }
    if (desc.state != "Stable") {
      resp.error_code = ErrorCode::REBALANCE_IN_PROGRESS;
      co_return resp;
    }
    for (const auto& m : desc.members) {
      auto topics = subscribed_topics(m.metadata);
      if (!topics) {
        resp.error_code = ErrorCode::NON_EMPTY_GROUP;  // cannot tell what it consumes: keep everything
        co_return resp;
      }
      subscribed.insert(topics->begin(), topics->end());
    }
  }
  std::vector<std::pair<std::string, int32_t>> to_delete;
  for (auto& t : req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    const bool topic_ok = allowed(ctx, Operation::Read, ResourceType::Topic, t.name);
    for (auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      if (!topic_ok)
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
      else if (!partition_exists(t.name, p.partition_index))
        pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      else if (subscribed.contains(t.name))
        pr.error_code = ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC;
      else
        to_delete.emplace_back(t.name, p.partition_index);
    }
  }
  auto w = s_.group_metadata.delete_offsets(req.group_id, to_delete);
  if (w.error != ErrorCode::NONE) {
    resp.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    resp.topics.clear();
  }
  co_return resp;
}

asio::awaitable<DescribeGroupsResponse> Handlers::handle(DescribeGroupsRequest& req, RequestContext& ctx) {
  DescribeGroupsResponse resp;
  for (const auto& id : req.groups) {
    auto& out = resp.groups.emplace_back();
    out.group_id = id;
    if (!allowed(ctx, Operation::Describe, ResourceType::Group, id)) {
      out.error_code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
      continue;
    }
    if (!s_.group_metadata.coordinates(id)) {
      out.error_code = ErrorCode::NOT_COORDINATOR;
      continue;
    }
    auto d = s_.coordinator.describe({id}, wall_clock_ms()).at(0);
    out.error_code = d.error;
    out.group_state = d.state;
    out.protocol_type = d.protocol_type;
    out.protocol_data = d.protocol;
    for (auto& m : d.members)
      out.members.push_back({m.member_id, m.group_instance_id, m.client_id, m.client_host, m.metadata, m.assignment});
    if (req.include_authorized_operations) out.authorized_operations = group_operations(s_.authorizer, ctx.identity, id);
  }
  co_return resp;
}

asio::awaitable<ListGroupsResponse> Handlers::handle(ListGroupsRequest& req, RequestContext& ctx) {
  ListGroupsResponse resp;
  std::vector<groups::GroupState> states;
  for (const auto& name : req.states_filter)
    if (auto s = groups::parse_state(name)) states.push_back(*s);
  // Names Kafka does not know match no group (its parser maps them to UNKNOWN).
  if (!req.states_filter.empty() && states.empty()) co_return resp;
  // DESCRIBE on the cluster lists every group; else each group is filtered, quietly, by DESCRIBE
  // on it (Kafka's handleListGroupsRequest).
  const bool all =
      allowed_if_not_quiet_denial(ctx, Operation::Describe, ResourceType::Cluster, security::kClusterResourceName);
  for (const auto& g : s_.coordinator.list(states, wall_clock_ms())) {
    if (!all && !visible(ctx, Operation::Describe, ResourceType::Group, g.group_id)) continue;
    resp.groups.push_back({g.group_id, g.protocol_type, std::string(groups::state_name(g.state))});
  }
  co_return resp;
}

asio::awaitable<DeleteGroupsResponse> Handlers::handle(DeleteGroupsRequest& req, RequestContext& ctx) {
  DeleteGroupsResponse resp;
  std::vector<std::string> permitted;
  for (const auto& id : req.groups_names) {
    if (!allowed(ctx, Operation::Delete, ResourceType::Group, id))
      resp.results.push_back({id, ErrorCode::GROUP_AUTHORIZATION_FAILED});
    else if (!s_.group_metadata.coordinates(id))
      resp.results.push_back({id, ErrorCode::NOT_COORDINATOR});
    else
      permitted.push_back(id);
  }
  for (auto& r : s_.coordinator.delete_groups(permitted, wall_clock_ms())) resp.results.push_back({r.group_id, r.error});
  co_return resp;
}

}  // namespace ferry::broker
