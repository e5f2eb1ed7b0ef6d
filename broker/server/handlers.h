// One handler per Kafka API. Every handler has the same shape, checked at compile time in
// dispatcher.cc: `awaitable<R::Response> handle(R&, RequestContext&)`. A handler never throws for
// bad input from the client; it answers with the Kafka error code of the offending item.
// The versions each API serves are declared once, as min_version/max_version of its request
// schema (broker/protocol/messages/*.h); ApiVersions and the dispatcher read them there, so the
// comments below describe behaviour only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>

#include "broker/protocol/apis.h"
#include "broker/server/request_context.h"
#include "common/metrics.h"

namespace ferry::broker {

struct AdminResult;
class Partition;

/// One partition a waiting coroutine watches: done when its watermark reaches `target`.
struct OffsetWait {
  std::shared_ptr<Partition> partition;
  int64_t target;
};

/// Which offset of a partition a wait watches: the high watermark (a consumer's long poll, acks=all
/// replication), the log end offset (a follower's long poll: replicas read past the high
/// watermark), or the fsynced offset (log.flush.acks.all, offset commits).
enum class Watermark { kHighWatermark, kLogEnd, kDurable };

/// Suspends until every wait's watermark reaches its target (or, with `any`, one of them), or
/// `deadline`, or shutdown. kDurable keeps waiting through shutdown, since the flusher outlives the
/// network drain; the others answer at once at shutdown. `flusher`, when given, is asked to fsync.
/// A partition that loses its leadership wakes its waiters (Partition::make_follower): callers
/// re-check is_leader().
boost::asio::awaitable<void> wait_for_offsets(std::vector<OffsetWait> waits, Watermark mark, bool any,
                                              std::chrono::steady_clock::time_point deadline, BrokerServices& s,
                                              ReplicaManager* flusher);

/// The broker's address as published on the connection's listener (Metadata, FindCoordinator):
/// the advertised listener of the same name, else the listener itself; an unspecified host
/// publishes the connection's local IP, a configured port 0 the bound port.
std::pair<std::string, int32_t> advertised_address(const BrokerServices& s, const RequestContext& ctx);

class Handlers {
 public:
  /// Registers the broker's request-level metrics (ferry_broker_standby_rejected_produce_total)
  /// so they are exported from start, before the first event.
  explicit Handlers(BrokerServices& services);
  BrokerServices& services() { return s_; }

  /// ApiVersions (KIP-35, KIP-511): the supported ranges; v3 validates the client software
  /// name/version (INVALID_REQUEST when malformed). The unsupported-version case is answered by the
  /// dispatcher with the v0 body.
  boost::asio::awaitable<protocol::ApiVersionsResponse> handle(protocol::ApiVersionsRequest& req, RequestContext& ctx);
  /// Metadata: this broker, the cluster id, controller (this node) and the requested topics,
  /// auto-creating unknown ones when auto.create.topics.enable and (v4+) the client allows it.
  /// v7+ leader epoch 0 (one leader for good); v8+ authorized operations when asked (KIP-430);
  /// v10+ topic ids; v12 topics asked by id alone (UNKNOWN_TOPIC_ID when unknown or not
  /// describable). A null name or an id below v12 is INVALID_REQUEST, as Kafka answers. Topics the
  /// caller may not DESCRIBE are left out of an all-topics listing and TOPIC_AUTHORIZATION_FAILED
  /// when named; auto-creation also needs CREATE on the cluster, else on the topic.
  boost::asio::awaitable<protocol::MetadataResponse> handle(protocol::MetadataRequest& req, RequestContext& ctx);
  /// Produce with acks 0, 1, -1: validates every batch, appends, and for acks=-1 (with
  /// log.flush.acks.all) waits for the group-commit fsync, up to timeout_ms. In the standby role
  /// (ferry.cluster.role) every partition fails with POLICY_VIOLATION and nothing is appended,
  /// unless the header client.id starts with a ferry.standby.allowed.client.id.prefixes entry.
  /// Needs WRITE on each topic, and for idempotent batches IDEMPOTENT_WRITE on the cluster (else
  /// every partition CLUSTER_AUTHORIZATION_FAILED, checked first, as Kafka does).
  boost::asio::awaitable<protocol::ProduceResponse> handle(protocol::ProduceRequest& req, RequestContext& ctx);
  /// Fetch: reads whole batches from each partition up to partition/response max bytes
  /// (KIP-74: the first partition returns at least one batch), long-polls up to max_wait_ms until
  /// min_bytes are available. Fetch sessions (KIP-227) are declined by answering session id 0.
  boost::asio::awaitable<protocol::FetchResponse> handle(protocol::FetchRequest& req, RequestContext& ctx);
  /// ListOffsets: earliest (-2), latest (-1), max timestamp (-3) and by timestamp (KIP-79).
  boost::asio::awaitable<protocol::ListOffsetsResponse> handle(protocol::ListOffsetsRequest& req, RequestContext& ctx);
  boost::asio::awaitable<protocol::OffsetForLeaderEpochResponse> handle(protocol::OffsetForLeaderEpochRequest& req,
                                                                         RequestContext& ctx);
  /// CreateTopics (KIP-4), including validate_only and topic configs.
  boost::asio::awaitable<protocol::CreateTopicsResponse> handle(protocol::CreateTopicsRequest& req, RequestContext& ctx);
  /// DeleteTopics 1–3.
  boost::asio::awaitable<protocol::DeleteTopicsResponse> handle(protocol::DeleteTopicsRequest& req, RequestContext& ctx);
  /// CreatePartitions (KIP-195).
  boost::asio::awaitable<protocol::CreatePartitionsResponse> handle(protocol::CreatePartitionsRequest& req, RequestContext& ctx);
  /// DeleteRecords (KIP-107): offset -1 means the high watermark.
  boost::asio::awaitable<protocol::DeleteRecordsResponse> handle(protocol::DeleteRecordsRequest& req, RequestContext& ctx);
  /// InitProducerId for idempotent (non-transactional) producers (KIP-98), answered by any
  /// broker without FindCoordinator; v3+ with a known id and epoch bumps the epoch (KIP-360).
  /// A transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED until transactions exist.
  boost::asio::awaitable<protocol::InitProducerIdResponse> handle(protocol::InitProducerIdRequest& req, RequestContext& ctx);
  /// DescribeConfigs (KIP-133, KIP-226): topic configs with their source (topic override,
  /// dynamic broker config, static broker key, default) and, on request, synonyms; broker configs,
  /// where the dynamic ones (is_dynamic_broker_key) are not read-only.
  boost::asio::awaitable<protocol::DescribeConfigsResponse> handle(protocol::DescribeConfigsRequest& req, RequestContext& ctx);
  /// AlterConfigs: replaces a topic's overrides, or a broker's (node id) or the cluster's ("")
  /// dynamic configs, with the given set, applied without restart.
  boost::asio::awaitable<protocol::AlterConfigsResponse> handle(protocol::AlterConfigsRequest& req, RequestContext& ctx);
  /// IncrementalAlterConfigs (KIP-339): SET, DELETE, APPEND, SUBTRACT on a topic's overrides
  /// or on dynamic broker configs.
  boost::asio::awaitable<protocol::IncrementalAlterConfigsResponse> handle(protocol::IncrementalAlterConfigsRequest& req,
                                                                           RequestContext& ctx);
  /// FindCoordinator: this broker coordinates every group; transaction coordinators
  /// (key type 1) do not exist yet (COORDINATOR_NOT_AVAILABLE, after DESCRIBE on the transactional
  /// id: else TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
  boost::asio::awaitable<protocol::FindCoordinatorResponse> handle(protocol::FindCoordinatorRequest& req, RequestContext& ctx);
  /// JoinGroup (KIP-62, KIP-394, KIP-345): suspends until the rebalance completes.
  boost::asio::awaitable<protocol::JoinGroupResponse> handle(protocol::JoinGroupRequest& req, RequestContext& ctx);
  /// SyncGroup: followers wait for the leader's assignment.
  boost::asio::awaitable<protocol::SyncGroupResponse> handle(protocol::SyncGroupRequest& req, RequestContext& ctx);
  /// Heartbeat 0–3.
  boost::asio::awaitable<protocol::HeartbeatResponse> handle(protocol::HeartbeatRequest& req, RequestContext& ctx);
  /// LeaveGroup (v3: a batch of members by id or group.instance.id, KIP-345).
  boost::asio::awaitable<protocol::LeaveGroupResponse> handle(protocol::LeaveGroupRequest& req, RequestContext& ctx);
  /// OffsetCommit: checks each partition (topic exists, metadata within
  /// offset.metadata.max.bytes), then the membership (generation -1 = a standalone commit to a
  /// group without members), appends to __consumer_offsets and answers once fsynced.
  boost::asio::awaitable<protocol::OffsetCommitResponse> handle(protocol::OffsetCommitRequest& req, RequestContext& ctx);
  /// OffsetFetch: committed offsets (-1 when none); a null topic list (v2+) returns all.
  boost::asio::awaitable<protocol::OffsetFetchResponse> handle(protocol::OffsetFetchRequest& req, RequestContext& ctx);
  /// OffsetDelete (KIP-496): refused per partition for topics an active consumer group reads.
  boost::asio::awaitable<protocol::OffsetDeleteResponse> handle(protocol::OffsetDeleteRequest& req, RequestContext& ctx);
  /// DescribeGroups: state, protocol, members (metadata and assignment while Stable).
  boost::asio::awaitable<protocol::DescribeGroupsResponse> handle(protocol::DescribeGroupsRequest& req, RequestContext& ctx);
  /// ListGroups (v4 filters by state, KIP-518): every group with DESCRIBE on the cluster, else the
  /// groups the caller may DESCRIBE.
  boost::asio::awaitable<protocol::ListGroupsResponse> handle(protocol::ListGroupsRequest& req, RequestContext& ctx);
  /// DeleteGroups: only groups without members; their offsets go with them.
  boost::asio::awaitable<protocol::DeleteGroupsResponse> handle(protocol::DeleteGroupsRequest& req, RequestContext& ctx);
  /// SaslHandshake reaching a handler: the connection is on a listener without SASL, or already
  /// authenticated without a re-authentication in progress — ILLEGAL_SASL_STATE, as Kafka
  /// answers (SASL listeners handle the exchange in the connection, sasl_authenticator.h).
  boost::asio::awaitable<protocol::SaslHandshakeResponse> handle(protocol::SaslHandshakeRequest& req, RequestContext& ctx);
  /// SaslAuthenticate reaching a handler: ILLEGAL_SASL_STATE (see SaslHandshake).
  boost::asio::awaitable<protocol::SaslAuthenticateResponse> handle(protocol::SaslAuthenticateRequest& req,
                                                                    RequestContext& ctx);
  /// DescribeUserScramCredentials (KIP-554): mechanism and iterations per user, never the keys.
  /// DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED; a named user without a
  /// credential is RESOURCE_NOT_FOUND, a name asked twice DUPLICATE_RESOURCE.
  boost::asio::awaitable<protocol::DescribeUserScramCredentialsResponse> handle(
      protocol::DescribeUserScramCredentialsRequest& req, RequestContext& ctx);
  /// AlterUserScramCredentials (KIP-554): upserts (from the client's salted password) and
  /// deletes, one result per user, stored durably in one write. ALTER on the cluster.
  boost::asio::awaitable<protocol::AlterUserScramCredentialsResponse> handle(
      protocol::AlterUserScramCredentialsRequest& req, RequestContext& ctx);
  /// DescribeCluster (KIP-700).
  boost::asio::awaitable<protocol::DescribeClusterResponse> handle(protocol::DescribeClusterRequest& req, RequestContext& ctx);
  /// AlterPartitionReassignments (KIP-455): needs ALTER on the cluster. Accepted on any broker of
  /// the region (the topic's etcd key is written by compare-and-set; Kafka routes it to the
  /// controller), completed by the controller once the target replicas are in the ISR. In a
  /// one-broker region only the current replica list [this broker] is accepted (a no-op).
  boost::asio::awaitable<protocol::AlterPartitionReassignmentsResponse> handle(
      protocol::AlterPartitionReassignmentsRequest& req, RequestContext& ctx);
  /// ListPartitionReassignments: the moves in progress (all with topics null); DESCRIBE on the cluster.
  boost::asio::awaitable<protocol::ListPartitionReassignmentsResponse> handle(
      protocol::ListPartitionReassignmentsRequest& req, RequestContext& ctx);
  /// DescribeAcls (KIP-11): the ACLs matching one filter, grouped by resource pattern; needs
  /// DESCRIBE on the cluster. Defined in handlers_acls.cc.
  boost::asio::awaitable<protocol::DescribeAclsResponse> handle(protocol::DescribeAclsRequest& req, RequestContext& ctx);
  /// CreateAcls: validates each binding as Kafka does (INVALID_REQUEST per binding), stores the
  /// valid ones durably and applies them to the next decision; needs ALTER on the cluster.
  boost::asio::awaitable<protocol::CreateAclsResponse> handle(protocol::CreateAclsRequest& req, RequestContext& ctx);
  /// DeleteAcls: removes every ACL each filter matches (listed per filter); ALTER on the cluster.
  boost::asio::awaitable<protocol::DeleteAclsResponse> handle(protocol::DeleteAclsRequest& req, RequestContext& ctx);

 private:
  bool allowed(RequestContext& ctx, security::Operation op, security::ResourceType type, const std::string& name);
  /// The error for a partition with no replica on this broker: NOT_LEADER_OR_FOLLOWER when the
  /// topic has it (its replicas are on other brokers of the region; the client refreshes its
  /// metadata), UNKNOWN_TOPIC_OR_PARTITION when the topic or the index does not exist.
  protocol::ErrorCode not_here(const std::string& topic, int32_t partition) const;
  /// Whether the topic exists with this partition (hosted here or not): OffsetCommit and
  /// OffsetDelete name partitions of the whole region.
  bool partition_exists(const std::string& topic, int32_t partition) const {
    return not_here(topic, partition) == protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER;
  }
  /// A check whose denial is not an event (Kafka's logIfDenied = false: a cluster-wide shortcut
  /// such as CREATE on the cluster before per-topic CREATE, or a listing filter): decided quietly,
  /// and reported to the audit observer only when it allows.
  bool allowed_if_not_quiet_denial(RequestContext& ctx, security::Operation op, security::ResourceType type,
                                   const std::string& name);
  /// A listing filter (Kafka's logIfAllowed = logIfDenied = false): never an audit event.
  bool visible(RequestContext& ctx, security::Operation op, security::ResourceType type, const std::string& name);
  /// Why a JoinGroup/SyncGroup for `group_id` may not proceed (GROUP_AUTHORIZATION_FAILED,
  /// NOT_COORDINATOR while stopping), or nullopt.
  std::optional<protocol::ErrorCode> group_gate(RequestContext& ctx, const std::string& group_id);
  AdminResult alter_resource(RequestContext& ctx, int8_t type, const std::string& name,
                             const std::function<AdminResult(std::map<std::string, std::string>&)>& edit,
                             bool validate_only);
  /// Counts a Produce refused by the standby role and logs it, at most once a minute per client.
  void note_fenced_produce(const RequestContext& ctx);
  BrokerServices& s_;
  metrics::Counter& fenced_produce_total_;
  std::mutex fenced_log_mu_;
  std::map<std::string, int64_t> fenced_logged_ms_;  // client.id -> steady-clock ms of its last log line
};

}  // namespace ferry::broker
