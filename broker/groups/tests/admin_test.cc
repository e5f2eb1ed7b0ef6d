// DescribeGroups / ListGroups / DeleteGroups, restore from snapshots, timers and shutdown.
#include <gtest/gtest.h>

#include "broker/groups/tests/harness.h"

namespace ferry::groups::testing {
namespace {

TEST(GroupAdmin, DescribeListAndDelete) {
  Harness h;
  Formed f = form_group(h, "busy", 2);
  std::string idle_member = h.issue_id(join_req("idle"));
  auto j = h.join(join_req("idle", idle_member));
  h.advance(3000);
  ASSERT_TRUE(j.ready());
  h.gc->leave({"idle", {{idle_member, std::nullopt}}});

  GroupDescription unknown = h.describe("nope");
  EXPECT_EQ(unknown.error, ErrorCode::NONE);
  EXPECT_EQ(unknown.state, "Dead");
  EXPECT_TRUE(unknown.members.empty());
  GroupDescription busy = h.describe("busy");
  EXPECT_EQ(busy.protocol_type, "consumer");
  EXPECT_EQ(busy.members.size(), 2u);

  auto all = h.gc->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].group_id, "busy");
  EXPECT_EQ(all[0].state, GroupState::stable);
  EXPECT_EQ(all[1].group_id, "idle");
  EXPECT_EQ(all[1].state, GroupState::empty);
  EXPECT_EQ(all[1].protocol_type, "consumer") << "an Empty group keeps its type";
  auto empty_only = h.gc->list({GroupState::empty});
  ASSERT_EQ(empty_only.size(), 1u);
  EXPECT_EQ(empty_only[0].group_id, "idle");
  EXPECT_EQ(parse_state("completingrebalance"), GroupState::completing_rebalance);
  EXPECT_FALSE(parse_state("Sleeping").has_value());

  auto deleted = h.gc->delete_groups({"busy", "idle", "nope", ""});
  ASSERT_EQ(deleted.size(), 4u);
  EXPECT_EQ(deleted[0].error, ErrorCode::NON_EMPTY_GROUP);
  EXPECT_EQ(deleted[1].error, ErrorCode::NONE);
  EXPECT_EQ(deleted[2].error, ErrorCode::GROUP_ID_NOT_FOUND);
  EXPECT_EQ(deleted[3].error, ErrorCode::GROUP_ID_NOT_FOUND) << "Kafka accepts \"\" here (isValidGroupId)";
  EXPECT_EQ(h.describe("idle").state, "Dead");
  EXPECT_EQ(h.gc->list().size(), 1u);
  EXPECT_FALSE(h.store->get("idle").has_value()) << "deletion writes a tombstone";
  EXPECT_EQ(h.gc->delete_groups({"idle"}).at(0).error, ErrorCode::GROUP_ID_NOT_FOUND);
}

TEST(GroupAdmin, RestoreBringsBackStableAndEmptyGroups) {
  Harness before;
  Formed f = form_group(before, "g", 2);
  std::string gone = before.issue_id(join_req("e"));
  auto j = before.join(join_req("e", gone));
  before.advance(3000);
  ASSERT_TRUE(j.ready());
  before.gc->leave({"e", {{gone, std::nullopt}}});
  std::vector<GroupSnapshot> snaps = before.store->snapshots();
  ASSERT_EQ(snaps.size(), 2u);

  Harness after;
  after.gc->restore(snaps);
  GroupDescription d = after.describe("g");
  EXPECT_EQ(d.state, "Stable");
  EXPECT_EQ(d.protocol, "range");
  ASSERT_EQ(d.members.size(), 2u);
  EXPECT_EQ(d.members[0].member_id, f.ids[0]);
  EXPECT_EQ(d.members[1].assignment, Bytes{1});
  EXPECT_EQ(after.heartbeat("g", f.generation, f.ids[1]), ErrorCode::NONE);
  auto s = after.sync("g", f.generation, f.ids[1]);
  EXPECT_EQ(s.get().assignment, Bytes{1});
  EXPECT_EQ(after.heartbeat("g", f.generation - 1, f.ids[1]), ErrorCode::ILLEGAL_GENERATION);

  // The leader survives the restore: its rejoin (and the follower's) opens the next generation.
  auto a = after.join(join_req("g", f.ids[0]));
  auto b = after.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(a.ready() && b.ready());
  EXPECT_EQ(a.get().leader_id, f.ids[0]);
  EXPECT_EQ(a.get().generation_id, f.generation + 1);

  GroupDescription e = after.describe("e");
  EXPECT_EQ(e.state, "Empty");
  auto newcomer = after.join(join_req("e", "", {proto("range")}));
  EXPECT_EQ(newcomer.get().error, ErrorCode::MEMBER_ID_REQUIRED);
  auto joined = after.join(join_req("e", newcomer.get().member_id));
  after.advance(3000);
  EXPECT_EQ(joined.get().generation_id, 3) << "generations continue from the snapshot";
}

TEST(GroupAdmin, RestoredMembersThatNeverReturnExpire) {
  Harness before;
  Formed f = form_group(before, "g", 1);
  Harness after;
  after.gc->restore(before.store->snapshots());
  after.advance(10000);
  EXPECT_EQ(after.describe("g").state, "Empty");
  EXPECT_EQ(after.heartbeat("g", f.generation, f.ids[0]), ErrorCode::UNKNOWN_MEMBER_ID);
}

TEST(GroupAdmin, NextDeadlineTracksTheSoonestTimer) {
  Harness h;
  EXPECT_FALSE(h.gc->next_deadline_ms().has_value());
  auto id = h.issue_id(join_req("g"));
  EXPECT_EQ(h.gc->next_deadline_ms(), h.now + 10000) << "the pending member's session";
  auto j = h.join(join_req("g", id));
  EXPECT_EQ(h.gc->next_deadline_ms(), h.now + 3000) << "the initial rebalance delay";
}

TEST(GroupAdmin, ShutdownAnswersEveryPendingRequest) {
  Harness h;
  Formed f = form_group(h, "g", 2);
  auto a = h.join(join_req("g", f.ids[0]));
  auto b = h.join(join_req("g", f.ids[1]));
  auto follower = h.sync("g", b.get().generation_id, f.ids[1]);
  JoinRequest v3 = join_req("other");
  v3.api_version = 3;
  auto waiting = h.join(v3);
  h.gc->shutdown();
  ASSERT_TRUE(follower.ready() && waiting.ready());
  EXPECT_EQ(follower.get().error, ErrorCode::NOT_COORDINATOR);
  EXPECT_EQ(waiting.get().error, ErrorCode::NOT_COORDINATOR);
  EXPECT_TRUE(h.gc->list().empty());
}

TEST(GroupAdmin, CallbacksMayCallBackIntoTheCoordinator) {
  Harness h;
  std::string id = h.issue_id(join_req("g"));
  ErrorCode from_inside = ErrorCode::UNKNOWN_SERVER_ERROR;
  h.gc->join(join_req("g", id), [&](JoinResult r) {
    from_inside = h.heartbeat("g", r.generation_id, r.member_id);
  });
  h.advance(3000);
  EXPECT_EQ(from_inside, ErrorCode::NONE) << "no deadlock, and the member is already in generation 1";
}

}  // namespace
}  // namespace ferry::groups::testing

namespace ferry::groups::testing {
namespace {

// Session expiry is driven by a ticker; an admin request that arrives after a member's session
// deadline but before the next tick must already see the member gone (issue 13 defect 8d).
TEST(GroupAdmin, AdminRequestsExpireDueSessionsFirst) {
  for (const char* api : {"delete", "describe", "list"}) {
    SCOPED_TRACE(api);
    Harness h;
    Formed f = form_group(h, "g", 1);
    const int64_t after_deadline = h.now + join_req("g").session_timeout_ms + 1;  // no tick in between
    if (std::string(api) == "delete") {
      EXPECT_EQ(h.gc->delete_groups({"g"}, after_deadline).at(0).error, ErrorCode::NONE);
      EXPECT_EQ(h.describe("g").state, "Dead");
    } else if (std::string(api) == "describe") {
      GroupDescription d = h.gc->describe({"g"}, after_deadline).at(0);
      EXPECT_EQ(d.state, "Empty");
      EXPECT_TRUE(d.members.empty());
    } else {
      auto all = h.gc->list({}, after_deadline);
      ASSERT_EQ(all.size(), 1u);
      EXPECT_EQ(all[0].state, GroupState::empty);
    }
    // Before the deadline nothing expires early.
    Harness h2;
    Formed f2 = form_group(h2, "g", 1);
    EXPECT_EQ(h2.gc->delete_groups({"g"}, h2.now + 1).at(0).error, ErrorCode::NON_EMPTY_GROUP);
    EXPECT_EQ(h2.gc->describe({"g"}, h2.now + 1).at(0).members.size(), 1u);
  }
}

}  // namespace
}  // namespace ferry::groups::testing
