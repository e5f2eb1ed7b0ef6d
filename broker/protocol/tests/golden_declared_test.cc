// Golden bytes for the group, offset and config APIs, assembled by hand from the
// field layouts in Apache Kafka's message JSON (clients/src/main/resources/common/message/*.json)
// with a byte builder that shares no code with the codec. Each case picks a version where the
// layout changes: a nullable field appears, a field is removed, or the encoding turns flexible.
#include <gtest/gtest.h>

#include "broker/protocol/apis.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::Bld;
using testing::expect_golden;
using testing::hex;

const Bytes kSubscription{0, 1, 0, 0, 0, 1, 0, 1, 't'};

JoinGroupRequest join(std::optional<std::string> instance) {
  JoinGroupRequest j;
  j.group_id = "g";
  j.session_timeout_ms = 10000;
  j.rebalance_timeout_ms = 300000;
  j.group_instance_id = std::move(instance);
  j.protocol_type = "consumer";
  j.protocols = {{"range", kSubscription}, {"roundrobin", {}}};
  return j;
}

TEST(GoldenDeclared, JoinGroupV5Request) {
  // GroupId, SessionTimeoutMs, RebalanceTimeoutMs, MemberId, GroupInstanceId (nullable, v5+),
  // ProtocolType, Protocols[Name, Metadata (BYTES)].
  auto tail = [](Bld b) {
    return b.str("consumer").i32(2).str("range").bytes(kSubscription).str("roundrobin").i32(0);
  };
  expect_golden(join(std::nullopt), 5, false,
                tail(Bld().str("g").i32(10000).i32(300000).str("").i16(-1)).done());
  expect_golden(join("host-1"), 5, false,
                tail(Bld().str("g").i32(10000).i32(300000).str("").str("host-1")).done());
  // v2–4 have no GroupInstanceId: a static member's id must not leak into the bytes.
  EXPECT_EQ(hex(testing::encode_body(join("host-1"), 2, false)),
            hex(tail(Bld().str("g").i32(10000).i32(300000).str("")).done()));
}

TEST(GoldenDeclared, JoinGroupV5Response) {
  JoinGroupResponse r;
  r.generation_id = 3;
  r.protocol_name = "range";
  r.leader = "m-1";
  r.member_id = "m-1";
  r.members = {{"m-1", "host-1", kSubscription}, {"m-2", std::nullopt, {}}};
  // ThrottleTimeMs (v2+), ErrorCode, GenerationId, ProtocolName, Leader, MemberId,
  // Members[MemberId, GroupInstanceId (nullable, v5+), Metadata].
  expect_golden(r, 5, false,
                Bld()
                    .i32(0).i16(0).i32(3).str("range").str("m-1").str("m-1")
                    .i32(2)
                    .str("m-1").str("host-1").bytes(kSubscription)
                    .str("m-2").i16(-1).i32(0)
                    .done());
}

OffsetCommitRequest commit() {
  OffsetCommitRequest c;
  c.group_id = "g";
  c.generation_id_or_member_epoch = 4;
  c.member_id = "m-1";
  OffsetCommitRequest::OffsetCommitRequestPartition p0;
  p0.partition_index = 0;
  p0.committed_offset = 42;
  p0.committed_metadata = "meta";
  OffsetCommitRequest::OffsetCommitRequestPartition p1;
  p1.partition_index = 1;
  p1.committed_offset = 7;
  c.topics = {{"t", {p0, p1}}};
  return c;
}

TEST(GoldenDeclared, OffsetCommitV7RequestIsClassic) {
  // v7 is the last classic version (flexible from 8). GroupId, GenerationIdOrMemberEpoch,
  // MemberId, GroupInstanceId (nullable, v7+), no RetentionTimeMs (v2–4 only),
  // Topics[Name, Partitions[PartitionIndex, CommittedOffset, CommittedLeaderEpoch (v6+),
  // CommittedMetadata (nullable)]].
  OffsetCommitRequest c = commit();
  c.topics[0].partitions[0].committed_leader_epoch = 5;
  expect_golden(c, 7, false,
                Bld()
                    .str("g").i32(4).str("m-1").i16(-1)
                    .i32(1).str("t").i32(2)
                    .i32(0).i64(42).i32(5).str("meta")
                    .i32(1).i64(7).i32(-1).i16(-1)
                    .done());
  c.group_instance_id = "host-1";
  const Bytes static_member = Bld()
                                  .str("g").i32(4).str("m-1").str("host-1")
                                  .i32(1).str("t").i32(2)
                                  .i32(0).i64(42).i32(5).str("meta")
                                  .i32(1).i64(7).i32(-1).i16(-1)
                                  .done();
  expect_golden(c, 7, false, static_member);
  c.retention_time_ms = 86400000;  // v2–4 only: must not be written at v7
  EXPECT_EQ(hex(testing::encode_body(c, 7, false)), hex(static_member));
}

TEST(GoldenDeclared, OffsetCommitV2RequestCarriesRetention) {
  // v2: RetentionTimeMs after MemberId; no GroupInstanceId, no CommittedLeaderEpoch.
  OffsetCommitRequest c = commit();
  c.retention_time_ms = 86400000;
  expect_golden(c, 2, false,
                Bld()
                    .str("g").i32(4).str("m-1").i64(86400000)
                    .i32(1).str("t").i32(2)
                    .i32(0).i64(42).str("meta")
                    .i32(1).i64(7).i16(-1)
                    .done());
}

TEST(GoldenDeclared, OffsetFetchV6RequestIsFlexible) {
  OffsetFetchRequest f;
  f.group_id = "g";
  f.topics = std::vector<OffsetFetchRequest::OffsetFetchRequestTopic>{{"t", {0, 2}}};
  // GroupId, Topics[Name, PartitionIndexes] as compact forms, a tag section per topic and one
  // for the message; RequireStable only from v7.
  expect_golden(f, 6, true,
                Bld().cstr("g").uv(2).cstr("t").uv(3).i32(0).i32(2).notags().notags().done());
  // The same request at v1 (classic) for contrast.
  expect_golden(f, 1, false, Bld().str("g").i32(1).str("t").i32(2).i32(0).i32(2).done());

  // Null Topics (all committed partitions) is a compact length of 0.
  OffsetFetchRequest all;
  all.group_id = "g";
  all.topics.reset();
  expect_golden(all, 6, true, Bld().cstr("g").uv(0).notags().done());
  all.require_stable = true;
  expect_golden(all, 7, true, Bld().cstr("g").uv(0).u8(1).notags().done());
}

TEST(GoldenDeclared, OffsetFetchV6Response) {
  OffsetFetchResponse r;
  r.topics = {{"t", {{0, 42, 5, "meta", ErrorCode::NONE}, {1, -1, -1, std::nullopt, ErrorCode::NONE}}}};
  r.error_code = ErrorCode::NOT_COORDINATOR;
  // ThrottleTimeMs, Topics[Name, Partitions[PartitionIndex, CommittedOffset,
  // CommittedLeaderEpoch (v5+), Metadata (compact nullable), ErrorCode]], ErrorCode (v2+).
  expect_golden(r, 6, true,
                Bld()
                    .i32(0)
                    .uv(2).cstr("t").uv(3)
                    .i32(0).i64(42).i32(5).cstr("meta").i16(0).notags()
                    .i32(1).i64(-1).i32(-1).uv(0).i16(0).notags()
                    .notags()
                    .i16(16)
                    .notags()
                    .done());
}

TEST(GoldenDeclared, ListGroupsV4RequestStatesFilter) {
  ListGroupsRequest l;
  l.states_filter = {"Stable", "Empty"};
  expect_golden(l, 4, true, Bld().uv(3).cstr("Stable").cstr("Empty").notags().done());
  expect_golden(ListGroupsRequest{}, 4, true, Bld().uv(1).notags().done());
  // v3 is flexible but has no filter: only the tag section; v1–2 have an empty body.
  EXPECT_EQ(hex(testing::encode_body(l, 3, true)), hex(Bld().notags().done()));
  EXPECT_EQ(hex(testing::encode_body(l, 1, false)), "");

  ListGroupsResponse r;
  r.groups = {{"g", "consumer", "Stable"}};
  expect_golden(r, 4, true,
                Bld().i32(0).i16(0).uv(2).cstr("g").cstr("consumer").cstr("Stable").notags().notags().done());
}

TEST(GoldenDeclared, DescribeConfigsV1) {
  DescribeConfigsRequest q;
  q.resources = {{2, "t", std::nullopt}};
  q.include_synonyms = true;
  // Resources[ResourceType (int8), ResourceName, ConfigurationKeys (nullable)], IncludeSynonyms.
  expect_golden(q, 1, false, Bld().i32(1).u8(2).str("t").i32(-1).u8(1).done());

  using R = DescribeConfigsResponse;
  R r;
  R::DescribeConfigsResourceResult retention;
  retention.name = "retention.ms";
  retention.value = "1000";
  retention.config_source = 1;
  retention.synonyms = {{"retention.ms", "1000", 1}, {"log.retention.ms", std::nullopt, 5}};
  R::DescribeConfigsResourceResult secret;
  secret.name = "sasl.jaas.config";
  secret.read_only = true;
  secret.config_source = 4;
  secret.is_sensitive = true;
  r.results = {{ErrorCode::NONE, std::nullopt, 2, "t", {retention, secret}},
               {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "no such topic", 2, "x", {}}};
  // ThrottleTimeMs, Results[ErrorCode, ErrorMessage, ResourceType, ResourceName,
  // Configs[Name, Value, ReadOnly, ConfigSource (v1+; IsDefault was v0 only), IsSensitive,
  // Synonyms (v1+)[Name, Value, Source]]].
  const Bytes want = Bld()
                         .i32(0)
                         .i32(2)
                         .i16(0).i16(-1).u8(2).str("t")
                         .i32(2)
                         .str("retention.ms").str("1000").u8(0).u8(1).u8(0)
                         .i32(2)
                         .str("retention.ms").str("1000").u8(1)
                         .str("log.retention.ms").i16(-1).u8(5)
                         .str("sasl.jaas.config").i16(-1).u8(1).u8(4).u8(1).i32(0)
                         .i16(3).str("no such topic").u8(2).str("x").i32(0)
                         .done();
  expect_golden(r, 1, false, want);
  r.results[0].configs[0].is_default = true;  // v0 only: must not be written at v1
  EXPECT_EQ(hex(testing::encode_body(r, 1, false)), hex(want));
}

TEST(GoldenDeclared, IncrementalAlterConfigsV1IsFlexible) {
  IncrementalAlterConfigsRequest q;
  q.resources = {{2, "t", {{"retention.ms", 0, "1000"}, {"cleanup.policy", 1, std::nullopt}}}};
  // Resources[ResourceType, ResourceName, Configs[Name, ConfigOperation, Value]], ValidateOnly.
  expect_golden(q, 0, false,
                Bld()
                    .i32(1).u8(2).str("t")
                    .i32(2).str("retention.ms").u8(0).str("1000").str("cleanup.policy").u8(1).i16(-1)
                    .u8(0)
                    .done());
  expect_golden(q, 1, true,
                Bld()
                    .uv(2).u8(2).cstr("t")
                    .uv(3)
                    .cstr("retention.ms").u8(0).cstr("1000").notags()
                    .cstr("cleanup.policy").u8(1).uv(0).notags()
                    .notags()
                    .u8(0)
                    .notags()
                    .done());
}

TEST(GoldenDeclared, LeaveGroupV3Batches) {
  LeaveGroupRequest l;
  l.group_id = "g";
  l.member_id = "m-1";
  // v1–2: GroupId, MemberId.
  expect_golden(l, 2, false, Bld().str("g").str("m-1").done());
  // v3: MemberId is gone; Members[MemberId, GroupInstanceId (nullable)].
  l.member_id.clear();
  l.members = {{"m-1", std::nullopt}, {"", "host-2"}};
  expect_golden(l, 3, false,
                Bld().str("g").i32(2).str("m-1").i16(-1).str("").str("host-2").done());
}

TEST(GoldenDeclared, FindCoordinatorV0AndV1) {
  FindCoordinatorRequest q;
  q.key = "g";
  expect_golden(q, 0, false, Bld().str("g").done());
  q.key = "txn-1";
  q.key_type = 1;  // transaction coordinator (v1+)
  expect_golden(q, 1, false, Bld().str("txn-1").u8(1).done());

  FindCoordinatorResponse r;
  r.node_id = 1;
  r.host = "h";
  r.port = 9092;
  // v0: ErrorCode, NodeId, Host, Port.
  expect_golden(r, 0, false, Bld().i16(0).i32(1).str("h").i32(9092).done());
  // v1 adds ThrottleTimeMs first and a nullable ErrorMessage after ErrorCode.
  r.error_code = ErrorCode::COORDINATOR_NOT_AVAILABLE;
  r.error_message = "loading";
  expect_golden(r, 1, false, Bld().i32(0).i16(15).str("loading").i32(1).str("h").i32(9092).done());
}

TEST(GoldenDeclared, OffsetForLeaderEpochAcrossItsLayouts) {
  // v0: Topics[Topic, Partitions[Partition, LeaderEpoch]]; no ReplicaId, no CurrentLeaderEpoch.
  OffsetForLeaderEpochRequest v0;
  v0.topics = {{"t", {{1, -1, 4}}}};
  expect_golden(v0, 0, false, Bld().i32(1).str("t").i32(1).i32(1).i32(4).done());
  OffsetForLeaderEpochRequest q;
  q.replica_id = 3;
  q.topics = {{"t", {{1, 5, 4}}}};
  // v3: ReplicaId first, CurrentLeaderEpoch before LeaderEpoch (v2+).
  expect_golden(q, 3, false, Bld().i32(3).i32(1).str("t").i32(1).i32(1).i32(5).i32(4).done());
  // v4: the same, compact and tagged.
  expect_golden(q, 4, true,
                Bld().i32(3).uv(2).cstr("t").uv(2).i32(1).i32(5).i32(4).notags().notags().notags().done());

  // v0: ErrorCode before Partition, then EndOffset; no LeaderEpoch, no ThrottleTimeMs.
  OffsetForLeaderEpochResponse r0;
  r0.topics = {{"t", {{ErrorCode::FENCED_LEADER_EPOCH, 1, -1, 100}}}};
  expect_golden(r0, 0, false, Bld().i32(1).str("t").i32(1).i16(74).i32(1).i64(100).done());
  OffsetForLeaderEpochResponse r;
  r.throttle_time_ms = 7;
  r.topics = {{"t", {{ErrorCode::FENCED_LEADER_EPOCH, 1, 2, 100}}}};
  // v2: ThrottleTimeMs, and LeaderEpoch (v1+) between Partition and EndOffset.
  expect_golden(r, 2, false, Bld().i32(7).i32(1).str("t").i32(1).i16(74).i32(1).i32(2).i64(100).done());
  expect_golden(r, 4, true,
                Bld().i32(7).uv(2).cstr("t").uv(2).i16(74).i32(1).i32(2).i64(100).notags().notags().notags().done());
}

}  // namespace
}  // namespace ferry::protocol
