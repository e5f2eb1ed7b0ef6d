// Members leaving, expiring and failing to rejoin; protocol selection; request validation.
#include <gtest/gtest.h>

#include "broker/groups/tests/harness.h"

namespace ferry::groups::testing {
namespace {

TEST(GroupMembership, MemberThatStopsHeartbeatingExpiresAndTheRestRebalanceWithoutIt) {
  Harness h;
  Formed f = form_group(h, "g", 3);
  h.advance(6000);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[0]), ErrorCode::NONE);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[1]), ErrorCode::NONE);
  h.advance(4000);  // ids[2]'s last sign of life was 10 s ago: its session has expired
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[2]), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[0]), ErrorCode::REBALANCE_IN_PROGRESS);

  auto a = h.join(join_req("g", f.ids[0]));
  EXPECT_FALSE(a.ready());
  auto b = h.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(a.ready() && b.ready()) << "both remaining members rejoined";
  EXPECT_EQ(a.get().generation_id, f.generation + 1);
  ASSERT_EQ(a.get().members.size(), 2u);
  for (const auto& m : a.get().members) EXPECT_NE(m.member_id, f.ids[2]);
}

TEST(GroupMembership, RebalanceTimeoutRemovesMembersThatNeverRejoined) {
  Harness h;
  Formed f = form_group(h, "g", 3);
  auto a = h.join(join_req("g", f.ids[0]));
  h.advance(5000);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[2]), ErrorCode::REBALANCE_IN_PROGRESS)
      << "heartbeats keep ids[2] alive, but it never rejoins";
  auto b = h.join(join_req("g", f.ids[1]));
  h.advance(9000);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[2]), ErrorCode::REBALANCE_IN_PROGRESS);
  h.advance(5999);
  EXPECT_FALSE(a.ready()) << "the rebalance timeout (20 s) has not passed";
  h.advance(1);
  ASSERT_TRUE(a.ready() && b.ready());
  EXPECT_EQ(a.get().error, ErrorCode::NONE);
  EXPECT_EQ(a.get().generation_id, f.generation + 1);
  EXPECT_EQ(a.get().members.size(), 2u);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[2]), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.describe("g").members.size(), 2u);
}

TEST(GroupMembership, LeaderLeavingHandsLeadershipToTheNextMember) {
  Harness h;
  Formed f = form_group(h, "g", 3);
  LeaveResult left = h.gc->leave({"g", {{f.ids[0], std::nullopt}}});
  EXPECT_EQ(left.error, ErrorCode::NONE);
  ASSERT_EQ(left.members.size(), 1u);
  EXPECT_EQ(left.members[0].error, ErrorCode::NONE);
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[1]), ErrorCode::REBALANCE_IN_PROGRESS);

  auto b = h.join(join_req("g", f.ids[1]));
  auto c = h.join(join_req("g", f.ids[2]));
  ASSERT_TRUE(b.ready() && c.ready());
  EXPECT_EQ(b.get().leader_id, f.ids[1]);
  EXPECT_EQ(b.get().members.size(), 2u);
  EXPECT_TRUE(c.get().members.empty());
  EXPECT_EQ(h.heartbeat("g", b.get().generation_id, f.ids[0]), ErrorCode::UNKNOWN_MEMBER_ID);
}

TEST(GroupMembership, BatchLeaveByMemberIdAndInstanceId) {
  Harness h;
  Formed f = form_group(h, "g", 2);
  JoinRequest s = join_req("g");
  s.group_instance_id = "static-1";
  auto sj = h.join(s);  // a static member joins: rebalance
  auto a = h.join(join_req("g", f.ids[0]));
  auto b = h.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(sj.ready() && a.ready() && b.ready());
  const int32_t gen = a.get().generation_id;

  LeaveResult left = h.gc->leave(
      {"g", {{f.ids[1], std::nullopt}, {"", "static-1"}, {"nobody", std::nullopt}}});
  EXPECT_EQ(left.error, ErrorCode::NONE);
  ASSERT_EQ(left.members.size(), 3u);
  EXPECT_EQ(left.members[0].error, ErrorCode::NONE);
  EXPECT_EQ(left.members[1].error, ErrorCode::NONE);
  EXPECT_EQ(left.members[2].error, ErrorCode::UNKNOWN_MEMBER_ID);

  auto alone = h.join(join_req("g", f.ids[0]));
  ASSERT_TRUE(alone.ready());
  EXPECT_EQ(alone.get().generation_id, gen + 1);
  EXPECT_EQ(alone.get().members.size(), 1u);

  // The last member leaving empties the group; the new empty generation is persisted.
  h.gc->leave({"g", {{f.ids[0], std::nullopt}}});
  GroupDescription d = h.describe("g");
  EXPECT_EQ(d.state, "Empty");
  auto stored = h.store->get("g");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->generation_id, gen + 2);
  EXPECT_TRUE(stored->members.empty());
}

TEST(GroupMembership, NewRebalanceSendsWaitingFollowersBackToJoin) {
  Harness h;
  Formed f = form_group(h, "g", 2);
  auto a = h.join(join_req("g", f.ids[0]));
  auto b = h.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(a.ready() && b.ready());
  auto follower_sync = h.sync("g", b.get().generation_id, f.ids[1]);
  EXPECT_FALSE(follower_sync.ready());
  JoinRequest v3 = join_req("g");
  v3.api_version = 3;
  auto newcomer = h.join(v3);
  ASSERT_TRUE(follower_sync.ready());
  EXPECT_EQ(follower_sync.get().error, ErrorCode::REBALANCE_IN_PROGRESS);
  EXPECT_FALSE(newcomer.ready());
}

TEST(GroupMembership, ProtocolSelectedByMemberVotesAmongCommonProtocols) {
  Harness h;
  std::vector<std::vector<Protocol>> prefs = {
      {proto("range", 10), proto("roundrobin", 11)},
      {proto("roundrobin", 20), proto("range", 21)},
      {proto("sticky", 30), proto("roundrobin", 31), proto("range", 32)},
  };
  std::vector<Pending<JoinResult>> joins;
  for (const auto& p : prefs) {
    JoinRequest r = join_req("g", "", p);
    r.api_version = 3;
    joins.push_back(h.join(r));
  }
  h.advance(6000);
  ASSERT_TRUE(joins[0].ready());
  // sticky is not common; votes: range 1, roundrobin 2.
  EXPECT_EQ(joins[0].get().protocol_name, "roundrobin");
  ASSERT_EQ(joins[0].get().members.size(), 3u);
  EXPECT_EQ(joins[0].get().members[0].metadata, Bytes{11}) << "metadata of the chosen protocol";
  EXPECT_EQ(joins[0].get().members[2].metadata, Bytes{31});

  // A member with nothing in common, or another protocol type, cannot join.
  auto odd = h.join(join_req("g", "", {proto("sticky")}));
  ASSERT_TRUE(odd.ready());
  EXPECT_EQ(odd.get().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  JoinRequest connect = join_req("g");
  connect.protocol_type = "connect";
  auto other_type = h.join(connect);
  EXPECT_EQ(other_type.get().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);

  // A new group needs a protocol type and at least one protocol, and is not created otherwise.
  auto none = h.join(join_req("fresh", "", {}));
  EXPECT_EQ(none.get().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  EXPECT_EQ(h.describe("fresh").state, "Dead");

  // SyncGroup v5 cross-checks the protocol (KIP-559).
  SyncRequest sr;
  sr.group_id = "g";
  sr.generation_id = joins[1].get().generation_id;
  sr.member_id = joins[1].get().member_id;
  sr.protocol_name = "range";
  Pending<SyncResult> wrong;
  h.gc->sync(sr, wrong.callback());
  EXPECT_EQ(wrong.get().error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
}

TEST(GroupMembership, StaleGenerationsAndUnknownMembersAreRejected) {
  Harness h;
  Formed f = form_group(h, "g", 2);
  EXPECT_EQ(h.heartbeat("g", f.generation - 1, f.ids[0]), ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(h.sync("g", f.generation + 1, f.ids[0]).get().error, ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(h.heartbeat("g", f.generation, "ghost"), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.sync("g", f.generation, "ghost").get().error, ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.join(join_req("g", "ghost")).get().error, ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.heartbeat("nope", 1, f.ids[0]), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.sync("nope", 1, f.ids[0]).get().error, ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.join(join_req("nope", "someone")).get().error, ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.heartbeat("", 1, f.ids[0]), ErrorCode::INVALID_GROUP_ID);

  // Once a rebalance starts, the old generation can no longer sync.
  auto a = h.join(join_req("g", f.ids[0]));
  EXPECT_EQ(h.sync("g", f.generation, f.ids[1]).get().error, ErrorCode::REBALANCE_IN_PROGRESS);

  JoinRequest too_short = join_req("g");
  too_short.session_timeout_ms = 5999;
  EXPECT_EQ(h.join(too_short).get().error, ErrorCode::INVALID_SESSION_TIMEOUT);
  JoinRequest too_long = join_req("g");
  too_long.session_timeout_ms = 1800001;
  EXPECT_EQ(h.join(too_long).get().error, ErrorCode::INVALID_SESSION_TIMEOUT);
}

TEST(GroupMembership, OffsetCommitsKeepTheSessionAlive) {
  Harness h;
  Formed f = form_group(h, "g", 1);
  for (int i = 0; i < 3; ++i) {
    h.advance(8000);
    EXPECT_EQ(h.gc->check_offset_commit({"g", f.generation, f.ids[0], std::nullopt}), ErrorCode::NONE);
  }
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[0]), ErrorCode::NONE) << "24 s without a heartbeat";
  EXPECT_EQ(h.gc->check_offset_commit({"g", f.generation + 1, f.ids[0], std::nullopt}),
            ErrorCode::ILLEGAL_GENERATION);
  // A standalone consumer (no group management) commits with generation -1.
  EXPECT_EQ(h.gc->check_offset_commit({"manual", -1, "", std::nullopt}), ErrorCode::NONE);
  EXPECT_EQ(h.describe("manual").state, "Empty");
}

// An admin client's commit (generation -1, empty member id) into a group with members: Kafka 3.x
// answers UNKNOWN_MEMBER_ID (GroupCoordinator.validateOffsetCommit: "only members can commit").
TEST(GroupMembership, AdminCommitIntoActiveGroupIsUnknownMember) {
  Harness h;
  Formed f = form_group(h, "g", 1);
  EXPECT_EQ(h.gc->check_offset_commit({"g", -1, "", std::nullopt}), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(h.describe("g").members.size(), 1u) << "the refused commit must not disturb the group";
}

}  // namespace
}  // namespace ferry::groups::testing
