// The one list of Kafka APIs Ferry's broker speaks. ApiVersions answers, request dispatch and
// header-version selection are all derived from it: adding an API is one line here plus its
// handler. Version ranges cover what unmodified clients send (pinned by protocol_test's ApiList tests).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "broker/protocol/messages/acls.h"
#include "broker/protocol/messages/api_versions.h"
#include "broker/protocol/messages/configs.h"
#include "broker/protocol/messages/describe_cluster.h"
#include "broker/protocol/messages/fetch.h"
#include "broker/protocol/messages/groups.h"
#include "broker/protocol/messages/init_producer_id.h"
#include "broker/protocol/messages/list_offsets.h"
#include "broker/protocol/messages/metadata.h"
#include "broker/protocol/messages/offset_for_leader_epoch.h"
#include "broker/protocol/messages/offsets.h"
#include "broker/protocol/messages/produce.h"
#include "broker/protocol/messages/reassignments.h"
#include "broker/protocol/messages/sasl.h"
#include "broker/protocol/messages/topics_admin.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

template <RequestSchema... R>
struct ApiList {
  /// Calls f.template operator()<R>() for the request type whose api_key is `key`.
  /// Returns false when no API has that key.
  template <class F>
  static bool visit(int16_t key, F&& f) {
    return ((R::api_key == key ? (f.template operator()<R>(), true) : false) || ...);
  }
  /// Calls f.template operator()<R>() for every request type, in list order.
  template <class F>
  static void for_each(F&& f) {
    (f.template operator()<R>(), ...);
  }
};

using SupportedApis =
    ApiList<ProduceRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, DeleteRecordsRequest,
            OffsetForLeaderEpochRequest,
            ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, CreatePartitionsRequest,
            DescribeClusterRequest, InitProducerIdRequest, DescribeConfigsRequest, AlterConfigsRequest,
            IncrementalAlterConfigsRequest, FindCoordinatorRequest, JoinGroupRequest, SyncGroupRequest,
            HeartbeatRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
            OffsetDeleteRequest, DescribeGroupsRequest, ListGroupsRequest, DeleteGroupsRequest,
            SaslHandshakeRequest, SaslAuthenticateRequest, DescribeUserScramCredentialsRequest,
            AlterUserScramCredentialsRequest,
            DescribeAclsRequest, CreateAclsRequest, DeleteAclsRequest, AlterPartitionReassignmentsRequest,
            ListPartitionReassignmentsRequest>;

/// One supported API: key, name and version range (inclusive), and first flexible version.
struct ApiRange {
  int16_t api_key;
  const char* name;
  int16_t min_version;
  int16_t max_version;
  int16_t flexible_from;
};

/// The supported APIs, in list order.
const std::vector<ApiRange>& supported_api_ranges();

/// The range for `api_key`, or nullopt when Ferry does not implement that API.
std::optional<ApiRange> find_api(int16_t api_key);

/// Whether a request of (api_key, version) uses request header v2 and flexible body encoding.
/// Unknown APIs are treated as non-flexible (header v1), which is enough to read the correlation id.
bool is_flexible_request(int16_t api_key, int16_t version);

}  // namespace ferry::protocol
