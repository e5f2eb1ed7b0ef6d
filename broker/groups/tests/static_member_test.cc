// KIP-345 static membership: restarts without rebalances, and fencing of the replaced id.
#include <gtest/gtest.h>

#include "broker/groups/tests/harness.h"

namespace ferry::groups::testing {
namespace {

JoinRequest static_req(const std::string& instance, const std::string& member_id = "",
                       std::vector<Protocol> protocols = {proto("range")}) {
  JoinRequest r = join_req("g", member_id, std::move(protocols));
  r.group_instance_id = instance;
  return r;
}

struct StaticGroup {
  std::string leader, follower;
  int32_t generation = 0;
};

/// Two static members, Stable, with assignments {1} (leader "a") and {2} (follower "b").
StaticGroup form_static(Harness& h) {
  auto a = h.join(static_req("a"));
  auto b = h.join(static_req("b"));
  h.advance(6000);
  EXPECT_EQ(a.get().error, ErrorCode::NONE);
  EXPECT_EQ(a.get().member_id.rfind("a-", 0), 0u) << "static ids start with the instance id";
  StaticGroup s{a.get().member_id, b.get().member_id, a.get().generation_id};
  auto sb = h.sync("g", s.generation, s.follower, {}, "b");
  auto sa = h.sync("g", s.generation, s.leader, {{s.leader, Bytes{1}}, {s.follower, Bytes{2}}}, "a");
  EXPECT_EQ(sb.get().assignment, Bytes{2});
  return s;
}

TEST(StaticMembership, RestartedMemberReplacesItsIdWithoutRebalanceAndTheOldIdIsFenced) {
  Harness h;
  StaticGroup s = form_static(h);
  size_t writes_before = h.store->writes();

  auto restarted = h.join(static_req("b"));
  ASSERT_TRUE(restarted.ready()) << "no rebalance: answered at once";
  const JoinResult& r = restarted.get();
  EXPECT_EQ(r.error, ErrorCode::NONE);
  EXPECT_EQ(r.generation_id, s.generation);
  EXPECT_NE(r.member_id, s.follower);
  EXPECT_EQ(r.leader_id, s.leader);
  EXPECT_FALSE(r.skip_assignment);
  EXPECT_EQ(h.describe("g").state, "Stable");

  auto resync = h.sync("g", s.generation, r.member_id, {}, "b");
  ASSERT_TRUE(resync.ready());
  EXPECT_EQ(resync.get().assignment, Bytes{2}) << "the new id inherits the assignment";

  EXPECT_EQ(h.heartbeat("g", s.generation, s.follower, "b"), ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(h.sync("g", s.generation, s.follower, {}, "b").get().error, ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(h.join(static_req("b", s.follower)).get().error, ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(h.gc->leave({"g", {{s.follower, "b"}}}).members.at(0).error, ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(h.heartbeat("g", s.generation, s.leader, "a"), ErrorCode::NONE);
  EXPECT_EQ(h.heartbeat("g", s.generation, r.member_id, "b"), ErrorCode::NONE);

  EXPECT_GT(h.store->writes(), writes_before) << "the id change is persisted";
  auto stored = h.store->get("g");
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->members.size(), 2u);
  EXPECT_EQ(stored->members[1].member_id, r.member_id);
}

TEST(StaticMembership, RestartedLeaderKeepsLeadingAndIsToldToSkipAssignment) {
  Harness h;
  StaticGroup s = form_static(h);
  auto restarted = h.join(static_req("a"));
  ASSERT_TRUE(restarted.ready());
  EXPECT_EQ(restarted.get().leader_id, restarted.get().member_id);
  EXPECT_TRUE(restarted.get().skip_assignment);  // KIP-814
  EXPECT_EQ(restarted.get().members.size(), 2u);
  EXPECT_EQ(restarted.get().generation_id, s.generation);
}

TEST(StaticMembership, RestartWithDifferentProtocolsRebalances) {
  Harness h;
  StaticGroup s = form_static(h);
  auto restarted = h.join(static_req("b", "", {proto("range", 7)}));
  EXPECT_FALSE(restarted.ready());
  EXPECT_EQ(h.heartbeat("g", s.generation, s.leader, "a"), ErrorCode::REBALANCE_IN_PROGRESS);
  auto leader = h.join(static_req("a", s.leader));
  ASSERT_TRUE(restarted.ready() && leader.ready());
  EXPECT_EQ(leader.get().generation_id, s.generation + 1);
  ASSERT_EQ(leader.get().members.size(), 2u);
  EXPECT_EQ(leader.get().members[1].member_id, restarted.get().member_id);
  EXPECT_EQ(leader.get().members[1].metadata, Bytes{7});
}

TEST(StaticMembership, RestartWhileTheOldIdWaitsForSyncFencesThatRequest) {
  Harness h;
  StaticGroup s = form_static(h);
  auto a = h.join(static_req("a", s.leader));  // leader rejoin: new rebalance
  auto b = h.join(static_req("b", s.follower));
  ASSERT_TRUE(a.ready() && b.ready());
  auto old_sync = h.sync("g", b.get().generation_id, s.follower, {}, "b");
  EXPECT_FALSE(old_sync.ready());
  auto restarted = h.join(static_req("b"));
  ASSERT_TRUE(old_sync.ready());
  EXPECT_EQ(old_sync.get().error, ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_FALSE(restarted.ready()) << "a rebalance gives the new id an assignment";
  auto a2 = h.join(static_req("a", s.leader));
  ASSERT_TRUE(restarted.ready() && a2.ready());
  EXPECT_EQ(a2.get().generation_id, b.get().generation_id + 1);
}

TEST(StaticMembership, StaticMemberThatMissesARebalanceStaysUntilItsSessionExpires) {
  Harness h;
  auto a = h.join(static_req("a"));
  JoinRequest slow = static_req("b");
  slow.session_timeout_ms = 30000;  // longer than the 20 s rebalance timeout
  auto b = h.join(slow);
  h.advance(6000);
  ASSERT_TRUE(a.ready() && b.ready());
  const int32_t gen = a.get().generation_id;

  JoinRequest c = join_req("g");
  c.api_version = 3;
  auto newcomer = h.join(c);
  auto a2 = h.join(static_req("a", a.get().member_id));
  h.advance(20000);  // "b" never rejoins: the rebalance times out
  ASSERT_TRUE(newcomer.ready() && a2.ready());
  EXPECT_EQ(a2.get().generation_id, gen + 1);
  EXPECT_EQ(a2.get().members.size(), 3u) << "a dynamic member would be dropped, a static one stays";
  EXPECT_EQ(h.heartbeat("g", gen, b.get().member_id, "b"), ErrorCode::ILLEGAL_GENERATION)
      << "still a member, just behind";

  // The others stay alive with heartbeats; "b" stays silent for its 30 s session.
  for (int64_t step : {9000, 9000, 9000, 2999}) {
    h.advance(step);
    EXPECT_EQ(h.heartbeat("g", gen + 1, a2.get().member_id, "a"), ErrorCode::NONE);
    EXPECT_EQ(h.heartbeat("g", gen + 1, newcomer.get().member_id), ErrorCode::NONE);
  }
  EXPECT_EQ(h.describe("g").members.size(), 3u);
  h.advance(1);
  EXPECT_EQ(h.describe("g").members.size(), 2u) << "its session expired";
  EXPECT_EQ(h.describe("g").state, "PreparingRebalance");
}

}  // namespace
}  // namespace ferry::groups::testing
