// Golden bytes: expected encodings assembled by hand from the field layouts in Apache Kafka's
// message JSON (clients/src/main/resources/common/message/*.json) with a byte builder that shares
// no code with the codec, then compared with what the codec writes and reads.
#include <gtest/gtest.h>

#include <climits>

#include "broker/protocol/apis.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::Bld;
using testing::expect_golden;
using testing::hex;

ApiVersionsResponse two_apis() {
  ApiVersionsResponse r;
  r.api_keys = {{18, 0, 3}, {0, 3, 7}};
  return r;
}

TEST(Golden, ApiVersionsV0) {
  expect_golden(ApiVersionsRequest{}, 0, false, Bytes{});
  // v0: ErrorCode int16, ApiKeys ARRAY(int32 count) of 3 x int16, no throttle time.
  expect_golden(two_apis(), 0, false,
                Bld().i16(0).i32(2).i16(18).i16(0).i16(3).i16(0).i16(3).i16(7).done());
  ApiVersionsResponse unsupported = two_apis();
  unsupported.error_code = ErrorCode::UNSUPPORTED_VERSION;
  unsupported.throttle_time_ms = 5;  // not in v0: must not be written
  Bytes v0 = Bld().i16(35).i32(2).i16(18).i16(0).i16(3).i16(0).i16(3).i16(7).done();
  EXPECT_EQ(hex(testing::encode_body(unsupported, 0, false)), hex(v0));
  // v1 adds ThrottleTimeMs at the end.
  expect_golden(unsupported, 1, false,
                Bld().i16(35).i32(2).i16(18).i16(0).i16(3).i16(0).i16(3).i16(7).i32(5).done());
}

TEST(Golden, ApiVersionsV3Flexible) {
  ApiVersionsRequest req;
  req.client_software_name = "ferry-client";
  req.client_software_version = "1.2.3";
  expect_golden(req, 3, true, Bld().cstr("ferry-client").cstr("1.2.3").notags().done());

  // Compact array (N+1), each entry ends with its own empty tag section, then throttle, then the
  // message's tag section.
  ApiVersionsResponse resp = two_apis();
  resp.throttle_time_ms = 7;
  expect_golden(resp, 3, true,
                Bld()
                    .i16(0)
                    .uv(3)
                    .i16(18).i16(0).i16(3).notags()
                    .i16(0).i16(3).i16(7).notags()
                    .i32(7)
                    .notags()
                    .done());

  // With tagged fields set: SupportedFeatures is tag 0, ZkMigrationReady tag 3, ascending.
  resp.supported_features = {{"x", 1, 2}};
  resp.zk_migration_ready = true;
  Bytes feature = Bld().uv(2).cstr("x").i16(1).i16(2).notags().done();
  ASSERT_EQ(feature.size(), 8u);
  expect_golden(resp, 3, true,
                Bld()
                    .i16(0)
                    .uv(3)
                    .i16(18).i16(0).i16(3).notags()
                    .i16(0).i16(3).i16(7).notags()
                    .i32(7)
                    .uv(2)
                    .uv(0).uv(feature.size()).raw({0x02, 0x02, 'x', 0, 1, 0, 2, 0})
                    .uv(3).uv(1).u8(1)
                    .done());
}

TEST(Golden, MetadataV0EmptyMeansAllTopics) {
  MetadataRequest all;
  all.topics.emplace();  // v0 has no null: an empty array asks for every topic
  expect_golden(all, 0, false, Bld().i32(0).done());

  MetadataRequest two;
  two.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{{}, "a"}, {{}, "bc"}};
  expect_golden(two, 0, false, Bld().i32(2).str("a").str("bc").done());
}

TEST(Golden, MetadataV1NullVersusEmpty) {
  MetadataRequest all;
  all.topics.reset();
  expect_golden(all, 1, false, Bld().i32(-1).done());
  MetadataRequest none;
  none.topics.emplace();
  expect_golden(none, 1, false, Bld().i32(0).done());
  // v4 appends AllowAutoTopicCreation.
  none.allow_auto_topic_creation = false;
  expect_golden(none, 4, false, Bld().i32(0).u8(0).done());
  all.allow_auto_topic_creation = true;
  expect_golden(all, 4, false, Bld().i32(-1).u8(1).done());
}

MetadataResponse one_broker_one_topic() {
  MetadataResponse r;
  r.brokers = {{1, "h", 9092, std::nullopt}};
  r.controller_id = 1;
  MetadataResponse::MetadataResponsePartition p;
  p.partition_index = 0;
  p.leader_id = 1;
  p.replica_nodes = {1};
  p.isr_nodes = {1};
  MetadataResponse::MetadataResponseTopic t;
  t.name = "t";
  t.partitions = {p};
  r.topics = {t};
  return r;
}

TEST(Golden, MetadataResponseV0AndV1) {
  MetadataResponse r = one_broker_one_topic();
  r.controller_id = -1;  // not in v0
  // v0: Brokers[NodeId, Host, Port], Topics[ErrorCode, Name, Partitions[ErrorCode,
  // PartitionIndex, LeaderId, ReplicaNodes, IsrNodes]].
  expect_golden(r, 0, false,
                Bld()
                    .i32(1).i32(1).str("h").i32(9092)
                    .i32(1).i16(0).str("t")
                    .i32(1).i16(0).i32(0).i32(1).i32(1).i32(1).i32(1).i32(1)
                    .done());
  // v1 adds Rack (nullable) per broker, ControllerId, IsInternal per topic.
  r = one_broker_one_topic();
  expect_golden(r, 1, false,
                Bld()
                    .i32(1).i32(1).str("h").i32(9092).i16(-1)
                    .i32(1)
                    .i32(1).i16(0).str("t").u8(0)
                    .i32(1).i16(0).i32(0).i32(1).i32(1).i32(1).i32(1).i32(1)
                    .done());
}

TEST(Golden, MetadataV8To12AuthorizedOperationsTopicIdsAndFlexibleForm) {
  // v8 request: Topics, AllowAutoTopicCreation, IncludeClusterAuthorizedOperations (v8-10),
  // IncludeTopicAuthorizedOperations.
  MetadataRequest req;
  req.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{{}, "a"}};
  req.include_cluster_authorized_operations = true;
  req.include_topic_authorized_operations = true;
  expect_golden(req, 8, false, Bld().i32(1).str("a").u8(1).u8(1).u8(1).done());
  // v12 (flexible): each topic is TopicId then a nullable Name; no cluster flag after v10.
  MetadataRequest by_id;
  Uuid id;
  for (uint8_t i = 0; i < 16; ++i) id.bytes[i] = i;
  by_id.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{id, std::nullopt}};
  by_id.include_topic_authorized_operations = true;
  Bld id_bytes;
  for (uint8_t i = 0; i < 16; ++i) id_bytes.u8(i);
  Bytes raw_id = id_bytes.done();
  Bld expect;
  expect.uv(2);
  for (auto b : raw_id) expect.u8(b);
  expect_golden(by_id, 12, true, expect.uv(0).notags().u8(1).u8(1).notags().done());

  // v10 response: LeaderEpoch (v7+) per partition, TopicId after Name, TopicAuthorizedOperations
  // after Partitions, ClusterAuthorizedOperations last; v11 drops the cluster field.
  MetadataResponse r;
  r.brokers = {{1, "h", 9092, std::nullopt}};
  r.cluster_id = "c";
  r.controller_id = 1;
  MetadataResponse::MetadataResponsePartition p;
  p.leader_id = 1;
  p.leader_epoch = 0;
  p.replica_nodes = {1};
  p.isr_nodes = {1};
  MetadataResponse::MetadataResponseTopic t;
  t.name = "t";
  t.topic_id = id;
  t.partitions = {p};
  t.topic_authorized_operations = 0x1f8;
  r.topics = {t};
  r.cluster_authorized_operations = 0x1fa0;
  auto body = [&](bool cluster_ops) {
    Bld b;
    b.i32(0)                                                         // throttle_time_ms
        .uv(2).i32(1).cstr("h").i32(9092).uv(0).notags()            // brokers
        .cstr("c").i32(1)                                            // cluster_id, controller_id
        .uv(2).i16(0).cstr("t");                                     // topics[0]: error, name
    for (auto x : raw_id) b.u8(x);                                   // topic_id
    b.u8(0)                                                          // is_internal
        .uv(2).i16(0).i32(0).i32(1).i32(0).uv(2).i32(1).uv(2).i32(1).uv(1).notags()  // partition
        .i32(0x1f8).notags();                                        // topic_authorized_operations
    if (cluster_ops) b.i32(0x1fa0);
    return b.notags().done();
  };
  expect_golden(r, 10, true, body(true));
  r.cluster_authorized_operations = INT32_MIN;  // absent from v11 on, so it decodes to the default
  expect_golden(r, 11, true, body(false));
}

const Bytes kRecords{0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3};

ProduceRequest produce(std::optional<std::string> txn) {
  ProduceRequest p;
  p.transactional_id = std::move(txn);
  p.acks = -1;
  p.timeout_ms = 30000;
  p.topic_data = {{"t", {{0, kRecords}, {3, std::nullopt}}}};
  return p;
}

TEST(Golden, ProduceV3) {
  // TransactionalId (nullable), Acks, TimeoutMs, TopicData[Name, PartitionData[Index, Records]].
  expect_golden(produce(std::nullopt), 3, false,
                Bld()
                    .i16(-1).i16(-1).i32(30000)
                    .i32(1).str("t")
                    .i32(2).i32(0).bytes(kRecords).i32(3).i32(-1)
                    .done());
  ProduceResponse r;
  r.responses = {{"t", {{0, ErrorCode::NONE, 42, -1, -1, {}, std::nullopt}}}};
  r.throttle_time_ms = 3;
  // v3 response: no LogStartOffset yet (v5).
  expect_golden(r, 3, false,
                Bld().i32(1).str("t").i32(1).i32(0).i16(0).i64(42).i64(-1).i32(3).done());
}

TEST(Golden, ProduceV7) {
  expect_golden(produce("tx"), 7, false,
                Bld()
                    .str("tx").i16(-1).i32(30000)
                    .i32(1).str("t")
                    .i32(2).i32(0).bytes(kRecords).i32(3).i32(-1)
                    .done());
  ProduceResponse r;
  r.responses = {{"t", {{2, ErrorCode::NOT_LEADER_OR_FOLLOWER, -1, 1700000000000, 12, {}, std::nullopt}}}};
  expect_golden(r, 7, false,
                Bld()
                    .i32(1).str("t")
                    .i32(1).i32(2).i16(6).i64(-1).i64(1700000000000).i64(12)
                    .i32(0)
                    .done());
}

TEST(Golden, ProduceV8Response) {
  // v8 (KIP-467) adds RecordErrors[BatchIndex, BatchIndexErrorMessage (nullable)] and
  // ErrorMessage (nullable) after LogStartOffset; v7 must not carry them.
  ProduceResponse r;
  r.responses = {{"t", {{0, ErrorCode::INVALID_RECORD, -1, -1, 0, {{0, "no key"}, {2, std::nullopt}}, "bad"}}}};
  expect_golden(r, 8, false,
                Bld()
                    .i32(1).str("t")
                    .i32(1).i32(0).i16(87).i64(-1).i64(-1).i64(0)
                    .i32(2).i32(0).str("no key").i32(2).i16(-1)
                    .str("bad")
                    .i32(0)
                    .done());
  EXPECT_EQ(hex(testing::encode_body(r, 7, false)),
            hex(Bld().i32(1).str("t").i32(1).i32(0).i16(87).i64(-1).i64(-1).i64(0).i32(0).done()));
}

TEST(Golden, FetchV4) {
  FetchRequest f;
  f.max_wait_ms = 500;
  f.min_bytes = 1;
  f.max_bytes = 52428800;
  f.isolation_level = 1;
  f.topics = {{"t", {{0, -1, 5, -1, 1048576}}}};
  // ReplicaId, MaxWaitMs, MinBytes, MaxBytes, IsolationLevel, Topics[Topic, Partitions[
  // Partition, FetchOffset, PartitionMaxBytes]] (no LogStartOffset before v5).
  expect_golden(f, 4, false,
                Bld()
                    .i32(-1).i32(500).i32(1).i32(52428800).u8(1)
                    .i32(1).str("t").i32(1).i32(0).i64(5).i32(1048576)
                    .done());

  FetchResponse r;
  r.throttle_time_ms = 9;
  FetchResponse::PartitionData p;
  p.high_watermark = 10;
  p.last_stable_offset = 8;
  p.aborted_transactions = std::vector<FetchResponse::AbortedTransaction>{{7, 3}};
  p.records = kRecords;
  FetchResponse::PartitionData q;
  q.partition_index = 1;
  q.error_code = ErrorCode::OFFSET_OUT_OF_RANGE;
  q.high_watermark = 0;
  q.last_stable_offset = 0;
  r.responses = {{"t", {p, q}}};
  expect_golden(r, 4, false,
                Bld()
                    .i32(9)
                    .i32(1).str("t").i32(2)
                    .i32(0).i16(0).i64(10).i64(8).i32(1).i64(7).i64(3).bytes(kRecords)
                    .i32(1).i16(1).i64(0).i64(0).i32(-1).i32(-1)
                    .done());
}

TEST(Golden, FetchV11) {
  FetchRequest f;
  f.max_wait_ms = 500;
  f.min_bytes = 1;
  f.session_id = 77;
  f.session_epoch = 2;
  f.topics = {{"t", {{0, 4, 5, 0, 1048576}}}};
  f.forgotten_topics_data = {{"old", {3, 4}}};
  f.rack_id = "r1";
  expect_golden(f, 11, false,
                Bld()
                    .i32(-1).i32(500).i32(1).i32(0x7fffffff).u8(0)
                    .i32(77).i32(2)
                    .i32(1).str("t").i32(1).i32(0).i32(4).i64(5).i64(0).i32(1048576)
                    .i32(1).str("old").i32(2).i32(3).i32(4)
                    .str("r1")
                    .done());

  FetchResponse r;
  r.session_id = 123;
  FetchResponse::PartitionData p;
  p.high_watermark = 10;
  p.last_stable_offset = 10;
  p.log_start_offset = 0;
  p.aborted_transactions = std::vector<FetchResponse::AbortedTransaction>{};
  p.preferred_read_replica = 2;
  p.records = kRecords;
  r.responses = {{"t", {p}}};
  // ThrottleTimeMs, ErrorCode, SessionId, Responses[Topic, Partitions[PartitionIndex, ErrorCode,
  // HighWatermark, LastStableOffset, LogStartOffset, AbortedTransactions, PreferredReadReplica,
  // Records]].
  expect_golden(r, 11, false,
                Bld()
                    .i32(0).i16(0).i32(123)
                    .i32(1).str("t").i32(1)
                    .i32(0).i16(0).i64(10).i64(10).i64(0).i32(0).i32(2).bytes(kRecords)
                    .done());
}

TEST(Golden, DescribeClusterV0) {
  DescribeClusterRequest req;
  req.include_cluster_authorized_operations = true;
  expect_golden(req, 0, true, Bld().u8(1).notags().done());

  DescribeClusterResponse r;
  r.cluster_id = "cid";
  r.controller_id = 1;
  r.brokers = {{1, "h", 9092, std::nullopt}, {2, "g", 9093, "rack-b"}};
  // Flexible from v0: compact strings, a compact nullable ErrorMessage, a tag section per
  // broker and one for the message.
  expect_golden(r, 0, true,
                Bld()
                    .i32(0).i16(0).uv(0).cstr("cid").i32(1)
                    .uv(3)
                    .i32(1).cstr("h").i32(9092).uv(0).notags()
                    .i32(2).cstr("g").i32(9093).cstr("rack-b").notags()
                    .i32(INT32_MIN)
                    .notags()
                    .done());
  r.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
  r.error_message = "denied";
  r.brokers.clear();
  expect_golden(r, 0, true,
                Bld()
                    .i32(0).i16(31).cstr("denied").cstr("cid").i32(1)
                    .uv(1)
                    .i32(INT32_MIN)
                    .notags()
                    .done());
}

TEST(Golden, CreateTopicsV4AndDeleteTopicsV3) {
  CreateTopicsRequest c;
  c.topics = {{"t", 3, 1, {}, {{"retention.ms", "1000"}, {"cleanup.policy", std::nullopt}}}};
  c.timeout_ms = 5000;
  c.validate_only = true;
  expect_golden(c, 4, false,
                Bld()
                    .i32(1).str("t").i32(3).i16(1).i32(0)
                    .i32(2).str("retention.ms").str("1000").str("cleanup.policy").i16(-1)
                    .i32(5000).u8(1)
                    .done());
  DeleteTopicsRequest d;
  d.topic_names = {"a", "b"};
  d.timeout_ms = 100;
  expect_golden(d, 3, false, Bld().i32(2).str("a").str("b").i32(100).done());
}

}  // namespace
}  // namespace ferry::protocol
