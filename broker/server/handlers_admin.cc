// Cluster-level handlers: ApiVersions, Metadata, DescribeCluster, CreateTopics, DeleteTopics,
// CreatePartitions.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <set>

#include "broker/core/replica_manager.h"
#include "broker/replication/replication.h"
#include "broker/server/handlers.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

// Topic names named more than once in one admin request; Kafka answers each such entry
// INVALID_REQUEST rather than guessing which one the client meant.
template <class Topics>
std::set<std::string> repeated_names(const Topics& topics) {
  std::map<std::string, int> seen;
  std::set<std::string> repeated;
  for (const auto& t : topics)
    if (++seen[t.name] > 1) repeated.insert(t.name);
  return repeated;
}

// Sets a per-topic result's error code and message.
template <class Result>
void set_error(Result& r, ErrorCode code, std::string message) {
  r.error_code = code;
  r.error_message = std::move(message);
}

std::optional<std::string> rack(const BrokerServices& s) {
  const auto& r = s.config.values.get_string("broker.rack");
  if (r.empty()) return std::nullopt;
  return r;
}

// KIP-430's cluster bitfield, as Kafka's KafkaApis computes it for DescribeCluster and Metadata
// v8-v10: 0 without Describe on the cluster; else a bit (1 << AclOperation code) per operation
// Kafka supports on the cluster resource (AclEntry.supportedOperations(CLUSTER)) that the
// principal may perform.
int32_t cluster_operations(const security::Authorizer& a, const security::RequestIdentity& who) {
  const security::Resource cluster{ResourceType::Cluster, security::kClusterResourceName};
  int32_t bits = 0;
  if (!a.authorize(who, Operation::Describe, cluster, security::AuditHint::Quiet)) return 0;
  for (auto op : {Operation::Create, Operation::Alter, Operation::Describe, Operation::ClusterAction,
                  Operation::DescribeConfigs, Operation::AlterConfigs, Operation::IdempotentWrite})
    if (a.authorize(who, op, cluster, security::AuditHint::Quiet)) bits |= 1 << static_cast<int>(op);
  return bits;
}

// KIP-430's topic bitfield for a topic the principal may describe: a bit per operation Kafka
// supports on a topic (AclEntry.supportedOperations(TOPIC)) that the principal may perform.
int32_t topic_operations(const security::Authorizer& a, const security::RequestIdentity& who,
                         const std::string& topic) {
  int32_t bits = 0;
  for (auto op : {Operation::Read, Operation::Write, Operation::Create, Operation::Describe, Operation::Delete,
                  Operation::Alter, Operation::DescribeConfigs, Operation::AlterConfigs})
    if (a.authorize(who, op, {ResourceType::Topic, topic}, security::AuditHint::Quiet)) bits |= 1 << static_cast<int>(op);
  return bits;
}

}  // namespace

std::pair<std::string, int32_t> advertised_address(const BrokerServices& s, const RequestContext& ctx) {
  const Listener* l = ctx.listener;
  for (const auto& a : s.config.advertised_listeners)
    if (l && a.name == l->name) l = &a;
  std::string host = l ? l->host : "";
  if (host.empty() || host == "0.0.0.0" || host == "::") host = ctx.local_address;
  int32_t port = l ? l->port : 0;
  if (port == 0 && ctx.listener) {
    auto it = s.bound_ports.find(ctx.listener->name);
    if (it != s.bound_ports.end()) port = it->second;
  }
  return {host, port};
}

asio::awaitable<ApiVersionsResponse> Handlers::handle(ApiVersionsRequest& req, RequestContext& ctx) {
  ApiVersionsResponse resp;
  if (ctx.header.api_version >= 3) {
    // KIP-511: names and versions must be ASCII alphanumerics with inner '-' and '.'.
    static const std::regex valid("[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?");
    if (!std::regex_match(req.client_software_name, valid) || !std::regex_match(req.client_software_version, valid)) {
      resp.error_code = ErrorCode::INVALID_REQUEST;
      co_return resp;
    }
  }
  for (const auto& a : supported_api_ranges()) resp.api_keys.push_back({a.api_key, a.min_version, a.max_version});
  co_return resp;
}

asio::awaitable<MetadataResponse> Handlers::handle(MetadataRequest& req, RequestContext& ctx) {
  MetadataResponse resp;
  const int16_t version = ctx.header.api_version;
  auto [host, port] = advertised_address(s_, ctx);
  resp.cluster_id = s_.cluster_id;
  if (s_.replication) {
    // A region on etcd: every registered broker with an endpoint on this listener, the elected
    // controller (-1 when none is elected within 3 s), and each partition as the controller last
    // wrote it.
    s_.replication->ensure_fresh();
    // First: waiting for an election also lets this broker's own registration arrive.
    resp.controller_id = s_.replication->awaited_controller_id();
    for (const auto& b : s_.replication->live_brokers(ctx.listener->name))
      resp.brokers.push_back(
          {b.node_id, b.host, b.port, b.rack.empty() ? std::nullopt : std::optional<std::string>(b.rack)});
  } else {
    resp.brokers.push_back({s_.config.node_id, host, port, rack(s_)});
    resp.controller_id = s_.config.node_id;
  }
  // KIP-430 as Kafka's KafkaApis.handleTopicMetadataRequest: cluster operations (v8-v10) and each
  // described topic's operations (v8+) only when asked; topics refused for Describe keep INT32_MIN.
  if (version >= 8 && version <= 10 && req.include_cluster_authorized_operations)
    resp.cluster_authorized_operations = cluster_operations(s_.authorizer, ctx.identity);
  const bool topic_ops = version >= 8 && req.include_topic_authorized_operations;

  auto describe = [&](const TopicMetadata& t) {
    MetadataResponse::MetadataResponseTopic out;
    out.name = t.name;
    if (auto id = parse_kafka_uuid(t.topic_id)) out.topic_id.bytes = *id;
    out.is_internal = is_internal_topic(t.name);
    if (s_.replication) {
      // Kafka lists every replica and the ISR (v1+), names replicas of dead brokers offline (v5+),
      // and answers LEADER_NOT_AVAILABLE with leader -1 while the partition has no live leader.
      const auto views = s_.replication->describe(t);
      for (int32_t i = 0; i < t.partitions; ++i) {
        const auto& v = views[static_cast<size_t>(i)];
        MetadataResponse::MetadataResponsePartition p;
        p.partition_index = i;
        p.leader_id = v.leader;
        p.leader_epoch = v.leader_epoch;
        p.replica_nodes = v.replicas;
        p.isr_nodes = v.isr;
        p.offline_replicas = v.offline;
        if (v.leader < 0) p.error_code = ErrorCode::LEADER_NOT_AVAILABLE;
        out.partitions.push_back(std::move(p));
      }
    } else {
      for (int32_t i = 0; i < t.partitions; ++i) {
        MetadataResponse::MetadataResponsePartition p;
        p.partition_index = i;
        p.leader_id = s_.config.node_id;
        p.leader_epoch = 0;  // one broker leads every partition for good: the epoch never moves
        p.replica_nodes = {s_.config.node_id};
        p.isr_nodes = {s_.config.node_id};
        out.partitions.push_back(std::move(p));
      }
    }
    if (topic_ops) out.topic_authorized_operations = topic_operations(s_.authorizer, ctx.identity, t.name);
    return out;
  };
  auto failed = [&](std::optional<std::string> name, const Uuid& id, ErrorCode code) {
    MetadataResponse::MetadataResponseTopic out;
    out.name = std::move(name);
    out.topic_id = id;
    out.error_code = code;
    resp.topics.push_back(std::move(out));
  };

  // v0: an empty list means every topic; v1+: null means every topic and empty means none.
  const bool all_topics = !req.topics || (version == 0 && req.topics->empty());
  if (all_topics) {
    for (const auto& t : s_.replicas.topics())
      if (visible(ctx, Operation::Describe, ResourceType::Topic, t.name)) resp.topics.push_back(describe(t));
    co_return resp;
  }
  const bool may_create = s_.config.values.get_bool("auto.create.topics.enable") &&
                          (version < 4 || req.allow_auto_topic_creation);
  const Uuid zero_id{};
  for (const auto& rt : *req.topics) {
    // Kafka answers INVALID_REQUEST for a null name or a topic id below v12 (names only there).
    if ((!rt.name || rt.topic_id != zero_id) && version < 12) {
      failed(rt.name, rt.topic_id, ErrorCode::INVALID_REQUEST);
      continue;
    }
    std::optional<TopicMetadata> t;
    if (!rt.name) {  // v12: by id alone; never auto-created
      for (const auto& known : s_.replicas.topics())
        if (auto id = parse_kafka_uuid(known.topic_id); id && *id == rt.topic_id.bytes) t = known;
      if (!t || !allowed(ctx, Operation::Describe, ResourceType::Topic, t->name)) {
        // Unknown and undescribable ids look alike, so an id does not reveal a topic's existence.
        failed(std::nullopt, rt.topic_id, ErrorCode::UNKNOWN_TOPIC_ID);
        continue;
      }
      resp.topics.push_back(describe(*t));
      continue;
    }
    const std::string& name = *rt.name;
    if (!allowed(ctx, Operation::Describe, ResourceType::Topic, name)) {
      failed(name, zero_id, ErrorCode::TOPIC_AUTHORIZATION_FAILED);
      continue;
    }
    t = s_.replicas.topic(name);
    if (!t && may_create) {
      // Auto-creation needs CREATE on the cluster, else on the topic (Kafka's
      // handleTopicMetadataRequest); without it the topic is TOPIC_AUTHORIZATION_FAILED.
      if (!allowed_if_not_quiet_denial(ctx, Operation::Create, ResourceType::Cluster, security::kClusterResourceName) &&
          !allowed(ctx, Operation::Create, ResourceType::Topic, name)) {
        failed(name, zero_id, ErrorCode::TOPIC_AUTHORIZATION_FAILED);
        continue;
      }
      if (!topic_name_problem(name).empty()) {
        failed(name, zero_id, ErrorCode::INVALID_TOPIC_EXCEPTION);
        continue;
      }
      auto r = s_.replicas.create_topic(name, -1, -1, {}, false);
      if (!r.ok() && r.code != ErrorCode::TOPIC_ALREADY_EXISTS)
        spdlog::warn("auto-creating topic {} failed: {}", name, r.message);
      else if (r.ok())
        spdlog::info("auto-created topic {} for a Metadata request from {}", name, ctx.identity.client_host);
      t = s_.replicas.topic(name);
    }
    if (t)
      resp.topics.push_back(describe(*t));
    else
      failed(name, zero_id, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  }
  co_return resp;
}

asio::awaitable<InitProducerIdResponse> Handlers::handle(InitProducerIdRequest& req, RequestContext& ctx) {
  InitProducerIdResponse resp;
  if (req.transactional_id && !req.transactional_id->empty()) {
    resp.error_code = ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;  // no transaction coordinator yet
    co_return resp;
  }
  if (!allowed(ctx, Operation::IdempotentWrite, ResourceType::Cluster, security::kClusterResourceName)) {
    resp.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    co_return resp;
  }
  if (req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < INT16_MAX - 1) {
    // KIP-360: the producer keeps its id and moves to a new epoch, fencing its older self.
    resp.producer_id = req.producer_id;
    resp.producer_epoch = static_cast<int16_t>(req.producer_epoch + 1);
    co_return resp;
  }
  try {
    resp.producer_id = s_.replicas.next_producer_id();
    resp.producer_epoch = 0;
  } catch (const std::exception& e) {
    spdlog::error("cannot reserve producer ids: {}", e.what());
    resp.error_code = ErrorCode::KAFKA_STORAGE_ERROR;
  }
  co_return resp;
}

asio::awaitable<DescribeClusterResponse> Handlers::handle(DescribeClusterRequest& req, RequestContext& ctx) {
  DescribeClusterResponse resp;
  auto [host, port] = advertised_address(s_, ctx);
  resp.cluster_id = s_.cluster_id;
  if (s_.replication) {
    s_.replication->ensure_fresh();
    resp.controller_id = s_.replication->awaited_controller_id();
    for (const auto& b : s_.replication->live_brokers(ctx.listener->name))
      resp.brokers.push_back(
          {b.node_id, b.host, b.port, b.rack.empty() ? std::nullopt : std::optional<std::string>(b.rack)});
  } else {
    resp.controller_id = s_.config.node_id;
    resp.brokers.push_back({s_.config.node_id, host, port, rack(s_)});
  }
  if (req.include_cluster_authorized_operations)
    resp.cluster_authorized_operations = cluster_operations(s_.authorizer, ctx.identity);
  co_return resp;
}

asio::awaitable<CreateTopicsResponse> Handlers::handle(CreateTopicsRequest& req, RequestContext& ctx) {
  CreateTopicsResponse resp;
  const auto repeated = repeated_names(req.topics);
  // CREATE on the cluster covers every topic; its denial is no event, the per-topic check decides.
  const bool cluster_create =
      allowed_if_not_quiet_denial(ctx, Operation::Create, ResourceType::Cluster, security::kClusterResourceName);
  for (auto& t : req.topics) {
    auto& r = resp.topics.emplace_back();
    r.name = t.name;
    auto fail = [&](ErrorCode code, std::string msg) { set_error(r, code, std::move(msg)); };
    if (repeated.count(t.name)) {
      fail(ErrorCode::INVALID_REQUEST, fmt::format("topic '{}' appears more than once in the request", t.name));
      continue;
    }
    if (!cluster_create && !allowed(ctx, Operation::Create, ResourceType::Topic, t.name)) {
      fail(ErrorCode::TOPIC_AUTHORIZATION_FAILED, "not authorized to create this topic");
      continue;
    }
    int32_t partitions = t.num_partitions;
    int16_t rf = t.replication_factor;
    std::vector<std::vector<int32_t>> manual;  // a region's manual assignment, by partition
    if (!t.assignments.empty()) {
      // Manual assignment (KIP-4): counts come from the assignment itself.
      if (partitions != -1 || rf != -1) {
        fail(ErrorCode::INVALID_REQUEST, "with replica assignments, num_partitions and replication_factor must be -1");
        continue;
      }
      bool ok = true;
      std::set<int32_t> indexes;
      if (s_.replication) {
        // A region (KIP-4 as Kafka checks it): every list the same length, distinct registered ids.
        std::set<int32_t> live;
        for (const auto& b : s_.replication->live_brokers(ctx.listener->name)) live.insert(b.node_id);
        manual.assign(t.assignments.size(), {});
        for (auto& a : t.assignments) {
          indexes.insert(a.partition_index);
          const std::set<int32_t> distinct(a.broker_ids.begin(), a.broker_ids.end());
          std::string why;
          if (a.broker_ids.empty() || distinct.size() != a.broker_ids.size())
            why = fmt::format("partition {} must list distinct broker ids", a.partition_index);
          else if (a.broker_ids.size() != t.assignments[0].broker_ids.size())
            why = "every partition must have the same number of replicas";
          else if (a.partition_index < 0 || static_cast<size_t>(a.partition_index) >= t.assignments.size())
            why = "partition indexes must be 0..N-1, each once";
          for (int32_t id : a.broker_ids)
            if (why.empty() && !live.count(id))
              why = fmt::format("partition {} names broker {}, which is not a registered broker", a.partition_index, id);
          if (!why.empty()) {
            fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, why);
            ok = false;
            break;
          }
          manual[static_cast<size_t>(a.partition_index)] = a.broker_ids;
        }
        if (!ok) continue;
        partitions = static_cast<int32_t>(t.assignments.size());
        if (indexes.size() != t.assignments.size()) {
          fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, "partition indexes must be 0..N-1, each once");
          continue;
        }
        rf = static_cast<int16_t>(t.assignments[0].broker_ids.size());
      }
      // One broker: every partition on it alone.
      for (auto& a : t.assignments) {
        if (s_.replication) break;
        indexes.insert(a.partition_index);
        if (a.broker_ids.size() > 1) {
          fail(ErrorCode::INVALID_REPLICATION_FACTOR,
               fmt::format("partition {} is assigned {} replicas; this cluster has 1 broker", a.partition_index,
                           a.broker_ids.size()));
          ok = false;
          break;
        }
        if (a.broker_ids.size() != 1 || a.broker_ids[0] != s_.config.node_id) {
          fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT,
               fmt::format("partition {} must be assigned to broker {}", a.partition_index, s_.config.node_id));
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (!s_.replication) {
        partitions = static_cast<int32_t>(t.assignments.size());
        if (indexes.size() != t.assignments.size() || *indexes.begin() != 0 || *indexes.rbegin() != partitions - 1) {
          fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, "partition indexes must be 0..N-1, each once");
          continue;
        }
        rf = 1;
      }
    }
    std::map<std::string, std::string> configs;
    bool null_config = false;
    for (auto& c : t.configs) {
      if (!c.value) {
        fail(ErrorCode::INVALID_REQUEST, fmt::format("config '{}' has a null value", c.name));
        null_config = true;
        break;
      }
      configs[c.name] = *c.value;
    }
    if (null_config) continue;
    auto result = s_.replicas.create_topic(t.name, partitions, rf, configs, req.validate_only, manual);
    if (!result.ok()) fail(result.code, result.message);
  }
  co_return resp;
}

asio::awaitable<DeleteTopicsResponse> Handlers::handle(DeleteTopicsRequest& req, RequestContext& ctx) {
  DeleteTopicsResponse resp;
  for (auto& name : req.topic_names) {
    auto& r = resp.responses.emplace_back();
    r.name = name;
    if (!allowed(ctx, Operation::Delete, ResourceType::Topic, name)) {
      r.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
      continue;
    }
    auto result = s_.replicas.delete_topic(name);
    r.error_code = result.code;
    if (!result.ok()) spdlog::info("DeleteTopics {} from {}: {}", name, ctx.identity.client_host, result.message);
  }
  co_return resp;
}

asio::awaitable<CreatePartitionsResponse> Handlers::handle(CreatePartitionsRequest& req, RequestContext& ctx) {
  CreatePartitionsResponse resp;
  const auto repeated = repeated_names(req.topics);
  for (auto& t : req.topics) {
    auto& r = resp.results.emplace_back();
    r.name = t.name;
    auto fail = [&](ErrorCode code, std::string msg) { set_error(r, code, std::move(msg)); };
    if (repeated.count(t.name)) {
      fail(ErrorCode::INVALID_REQUEST, fmt::format("topic '{}' appears more than once in the request", t.name));
      continue;
    }
    if (!allowed(ctx, Operation::Alter, ResourceType::Topic, t.name)) {
      fail(ErrorCode::TOPIC_AUTHORIZATION_FAILED, "not authorized to alter this topic");
      continue;
    }
    if (t.assignments) {
      auto current = s_.replicas.topic(t.name);
      size_t expected = current && t.count > current->partitions ? static_cast<size_t>(t.count - current->partitions) : 0;
      bool ok = t.assignments->size() == expected;
      for (auto& a : *t.assignments) ok &= a.broker_ids.size() == 1 && a.broker_ids[0] == s_.config.node_id;
      if (current && !ok) {
        fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT,
             fmt::format("expected {} assignments, each to broker {}", expected, s_.config.node_id));
        continue;
      }
    }
    auto result = s_.replicas.create_partitions(t.name, t.count, req.validate_only);
    if (!result.ok()) fail(result.code, result.message);
  }
  co_return resp;
}

}  // namespace ferry::broker

namespace ferry::broker {

asio::awaitable<AlterPartitionReassignmentsResponse> Handlers::handle(AlterPartitionReassignmentsRequest& req,
                                                                      RequestContext& ctx) {
  AlterPartitionReassignmentsResponse resp;
  if (!allowed(ctx, Operation::Alter, ResourceType::Cluster, security::kClusterResourceName)) {
    resp.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    resp.error_message = "reassigning partitions needs ALTER on the cluster";
    co_return resp;
  }
  for (const auto& topic : req.topics) {
    auto& out = resp.responses.emplace_back();
    out.name = topic.name;
    std::vector<replication::ReassignmentError> errors;
    if (s_.replication) {
      std::vector<std::pair<int32_t, std::optional<std::vector<int32_t>>>> moves;
      for (const auto& p : topic.partitions) moves.emplace_back(p.partition_index, p.replicas);
      errors = s_.replication->reassign(topic.name, moves);
    } else {
      // One broker: its partitions can only stay where they are.
      const auto t = s_.replicas.topic(topic.name);
      const int32_t me = s_.config.node_id;
      for (const auto& p : topic.partitions) {
        auto& e = errors.emplace_back();
        if (!t || p.partition_index < 0 || p.partition_index >= t->partitions)
          e = {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
               fmt::format("topic '{}' has no partition {}", topic.name, p.partition_index)};
        else if (!p.replicas)
          e = {ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
               fmt::format("{}-{} has no reassignment in progress to cancel", topic.name, p.partition_index)};
        else if (*p.replicas != std::vector<int32_t>{me})
          e = {ErrorCode::INVALID_REPLICA_ASSIGNMENT,
               fmt::format("this region is one broker ({}); replicas can only be [{}]", me, me)};
      }
    }
    for (size_t i = 0; i < topic.partitions.size(); ++i) {
      auto& r = out.partitions.emplace_back();
      r.partition_index = topic.partitions[i].partition_index;
      r.error_code = errors[i].code;
      if (errors[i].code != ErrorCode::NONE) r.error_message = errors[i].message;
    }
  }
  co_return resp;
}

asio::awaitable<ListPartitionReassignmentsResponse> Handlers::handle(ListPartitionReassignmentsRequest& req,
                                                                     RequestContext& ctx) {
  ListPartitionReassignmentsResponse resp;
  if (!allowed(ctx, Operation::Describe, ResourceType::Cluster, security::kClusterResourceName)) {
    resp.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    resp.error_message = "listing reassignments needs DESCRIBE on the cluster";
    co_return resp;
  }
  auto add = [&](const TopicMetadata& t, const std::set<int32_t>* only) {
    ListPartitionReassignmentsResponse::OngoingTopicReassignment out;
    out.name = t.name;
    for (const auto& [p, move] : t.reassignments) {
      if (only && !only->count(p)) continue;
      out.partitions.push_back({p, t.assignment.at(static_cast<size_t>(p)), move.adding, move.removing});
    }
    if (!out.partitions.empty()) resp.topics.push_back(std::move(out));
  };
  std::map<std::string, TopicMetadata> topics;
  for (auto& t : s_.replication ? s_.replication->topics() : s_.replicas.topics()) topics[t.name] = std::move(t);
  if (!req.topics) {
    for (const auto& [name, t] : topics) add(t, nullptr);
  } else {
    // Unknown topics and partitions are simply not in progress (Kafka answers them the same way).
    for (const auto& want : *req.topics) {
      std::set<int32_t> only(want.partition_indexes.begin(), want.partition_indexes.end());
      if (auto it = topics.find(want.name); it != topics.end()) add(it->second, &only);
    }
  }
  co_return resp;
}

}  // namespace ferry::broker
