// One handler per Kafka API. Every handler has the same shape, checked at compile time in
// dispatcher.cc: `awaitable<R::Response> handle(R&, RequestContext&)`. A handler never throws for
// bad input from the client; it answers with the Kafka error code of the offending item.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>

#include "broker/protocol/apis.h"
#include "broker/server/request_context.h"

namespace ferry::broker {

struct AdminResult;

class Handlers {
 public:
  explicit Handlers(BrokerServices& services) : s_(services) {}
  BrokerServices& services() { return s_; }

  /// ApiVersions 0–3 (KIP-35, KIP-511): the supported ranges; v3 validates the client software
  /// name/version (INVALID_REQUEST when malformed). The unsupported-version case is answered by the
  /// dispatcher with the v0 body.
  boost::asio::awaitable<protocol::ApiVersionsResponse> handle(protocol::ApiVersionsRequest& req, RequestContext& ctx);
  /// Metadata 0–6: this broker, the cluster id, controller (this node) and the requested topics,
  /// auto-creating unknown ones when auto.create.topics.enable and (v4+) the client allows it.
  boost::asio::awaitable<protocol::MetadataResponse> handle(protocol::MetadataRequest& req, RequestContext& ctx);
  /// Produce 3–7 with acks 0, 1, -1: validates every batch, appends, and for acks=-1 (with
  /// log.flush.acks.all) waits for the group-commit fsync, up to timeout_ms.
  boost::asio::awaitable<protocol::ProduceResponse> handle(protocol::ProduceRequest& req, RequestContext& ctx);
  /// Fetch 4–11: reads whole batches from each partition up to partition/response max bytes
  /// (KIP-74: the first partition returns at least one batch), long-polls up to max_wait_ms until
  /// min_bytes are available. Fetch sessions (KIP-227) are declined by answering session id 0.
  boost::asio::awaitable<protocol::FetchResponse> handle(protocol::FetchRequest& req, RequestContext& ctx);
  /// ListOffsets 1–3: earliest (-2), latest (-1), max timestamp (-3) and by timestamp (KIP-79).
  boost::asio::awaitable<protocol::ListOffsetsResponse> handle(protocol::ListOffsetsRequest& req, RequestContext& ctx);
  /// CreateTopics 2–4 (KIP-4), including validate_only and topic configs.
  boost::asio::awaitable<protocol::CreateTopicsResponse> handle(protocol::CreateTopicsRequest& req, RequestContext& ctx);
  /// DeleteTopics 1–3.
  boost::asio::awaitable<protocol::DeleteTopicsResponse> handle(protocol::DeleteTopicsRequest& req, RequestContext& ctx);
  /// CreatePartitions 0–1 (KIP-195).
  boost::asio::awaitable<protocol::CreatePartitionsResponse> handle(protocol::CreatePartitionsRequest& req, RequestContext& ctx);
  /// DeleteRecords 0–1 (KIP-107): offset -1 means the high watermark.
  boost::asio::awaitable<protocol::DeleteRecordsResponse> handle(protocol::DeleteRecordsRequest& req, RequestContext& ctx);
  /// InitProducerId 0–4 for idempotent (non-transactional) producers (KIP-98), answered by any
  /// broker without FindCoordinator; v3+ with a known id and epoch bumps the epoch (KIP-360).
  /// A transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED until transactions exist.
  boost::asio::awaitable<protocol::InitProducerIdResponse> handle(protocol::InitProducerIdRequest& req, RequestContext& ctx);
  /// DescribeConfigs 1–2 (KIP-133, KIP-226): topic configs with their source (topic override,
  /// static broker key, default) and, on request, synonyms; broker configs, read-only for now.
  boost::asio::awaitable<protocol::DescribeConfigsResponse> handle(protocol::DescribeConfigsRequest& req, RequestContext& ctx);
  /// AlterConfigs 0–1: replaces a topic's overrides with the given set, applied without restart.
  boost::asio::awaitable<protocol::AlterConfigsResponse> handle(protocol::AlterConfigsRequest& req, RequestContext& ctx);
  /// IncrementalAlterConfigs 0–1 (KIP-339): SET, DELETE, APPEND, SUBTRACT on a topic's overrides.
  boost::asio::awaitable<protocol::IncrementalAlterConfigsResponse> handle(protocol::IncrementalAlterConfigsRequest& req,
                                                                           RequestContext& ctx);
  /// DescribeCluster 0 (KIP-700).
  boost::asio::awaitable<protocol::DescribeClusterResponse> handle(protocol::DescribeClusterRequest& req, RequestContext& ctx);

 private:
  bool allowed(RequestContext& ctx, security::Operation op, security::ResourceType type, const std::string& name);
  AdminResult alter_resource(RequestContext& ctx, int8_t type, const std::string& name,
                             const std::function<AdminResult(std::map<std::string, std::string>&)>& edit,
                             bool validate_only);
  BrokerServices& s_;
};

}  // namespace ferry::broker
