// Join -> sync -> heartbeat life cycles, KIP-394 member ids and KIP-134 initial delay.
#include <gtest/gtest.h>

#include "broker/groups/tests/harness.h"

namespace ferry::groups::testing {
namespace {

TEST(GroupLifecycle, SingleMemberJoinsSyncsAndHeartbeats) {
  Harness h;
  auto first = h.join(join_req("g"));
  ASSERT_EQ(first.get().error, ErrorCode::MEMBER_ID_REQUIRED);
  const std::string id = first.get().member_id;
  EXPECT_EQ(id.rfind("client-", 0), 0u) << id;
  EXPECT_EQ(id.size(), std::string("client-").size() + 36) << "client.id-UUID";

  auto joined = h.join(join_req("g", id));
  EXPECT_FALSE(joined.ready()) << "the first rebalance waits for group.initial.rebalance.delay.ms";
  EXPECT_EQ(h.describe("g").state, "PreparingRebalance");
  h.advance(2999);
  EXPECT_FALSE(joined.ready());
  h.advance(1);
  ASSERT_TRUE(joined.ready());
  const JoinResult& j = joined.get();
  EXPECT_EQ(j.error, ErrorCode::NONE);
  EXPECT_EQ(j.generation_id, 1);
  EXPECT_EQ(j.leader_id, id);
  EXPECT_EQ(j.member_id, id);
  EXPECT_EQ(j.protocol_type, "consumer");
  EXPECT_EQ(j.protocol_name, "range");
  ASSERT_EQ(j.members.size(), 1u);
  EXPECT_EQ(j.members[0].member_id, id);
  EXPECT_EQ(j.members[0].metadata, Bytes{1});
  EXPECT_EQ(h.describe("g").state, "CompletingRebalance");
  EXPECT_EQ(h.heartbeat("g", 1, id), ErrorCode::NONE) << "heartbeats between join and sync are fine";

  auto synced = h.sync("g", 1, id, {{id, Bytes{9, 9}}});
  ASSERT_TRUE(synced.ready());
  EXPECT_EQ(synced.get().error, ErrorCode::NONE);
  EXPECT_EQ(synced.get().assignment, (Bytes{9, 9}));
  EXPECT_EQ(synced.get().protocol_name, "range");

  GroupDescription d = h.describe("g");
  EXPECT_EQ(d.state, "Stable");
  EXPECT_EQ(d.protocol, "range");
  ASSERT_EQ(d.members.size(), 1u);
  EXPECT_EQ(d.members[0].assignment, (Bytes{9, 9}));
  EXPECT_EQ(d.members[0].client_host, "/127.0.0.1");

  for (int i = 0; i < 5; ++i) {
    h.advance(9000);  // below the 10 s session timeout each time
    EXPECT_EQ(h.heartbeat("g", 1, id), ErrorCode::NONE);
  }
  auto stored = h.store->get("g");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->generation_id, 1);
  ASSERT_EQ(stored->members.size(), 1u);
  EXPECT_EQ(stored->members[0].assignment, (Bytes{9, 9}));
}

TEST(GroupLifecycle, ThreeMembersGetOneGenerationAndTheLeaderAssigns) {
  Harness h;
  std::vector<std::string> ids;
  std::vector<Pending<JoinResult>> joins;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(h.issue_id(join_req("g")));
    joins.push_back(h.join(join_req("g", ids.back())));
  }
  h.advance(3000);
  EXPECT_FALSE(joins[0].ready()) << "members arrived during the delay, so it is extended";
  h.advance(3000);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(joins[i].ready());
    EXPECT_EQ(joins[i].get().error, ErrorCode::NONE);
    EXPECT_EQ(joins[i].get().generation_id, 1);
    EXPECT_EQ(joins[i].get().leader_id, ids[0]) << "the first member to join leads";
  }
  EXPECT_EQ(joins[0].get().members.size(), 3u);
  EXPECT_TRUE(joins[1].get().members.empty()) << "only the leader sees the members";
  EXPECT_TRUE(joins[2].get().members.empty());

  auto s1 = h.sync("g", 1, ids[1]);
  auto s2 = h.sync("g", 1, ids[2]);
  EXPECT_FALSE(s1.ready()) << "followers wait for the leader's assignment";
  EXPECT_FALSE(s2.ready());
  auto s0 = h.sync("g", 1, ids[0], {{ids[0], Bytes{0}}, {ids[2], Bytes{2}}});
  ASSERT_TRUE(s0.ready() && s1.ready() && s2.ready());
  EXPECT_EQ(s0.get().assignment, Bytes{0});
  EXPECT_EQ(s1.get().error, ErrorCode::NONE);
  EXPECT_TRUE(s1.get().assignment.empty()) << "members the leader left out get nothing";
  EXPECT_EQ(s2.get().assignment, Bytes{2});
  for (const auto& id : ids) EXPECT_EQ(h.heartbeat("g", 1, id), ErrorCode::NONE);
}

TEST(GroupLifecycle, FollowerRejoiningUnchangedGetsSameGenerationLeaderRejoinRebalances) {
  Harness h;
  Formed f = form_group(h, "g", 2);
  auto again = h.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(again.ready());
  EXPECT_EQ(again.get().generation_id, f.generation);
  EXPECT_EQ(h.describe("g").state, "Stable");

  auto leader = h.join(join_req("g", f.ids[0]));
  EXPECT_FALSE(leader.ready());
  EXPECT_EQ(h.heartbeat("g", f.generation, f.ids[1]), ErrorCode::REBALANCE_IN_PROGRESS);
  auto follower = h.join(join_req("g", f.ids[1]));
  ASSERT_TRUE(leader.ready() && follower.ready()) << "all known members rejoined";
  EXPECT_EQ(leader.get().generation_id, f.generation + 1);
}

TEST(GroupLifecycle, MemberIdRequiredIssuesAnIdThatMustBeUsedBeforeItExpires) {
  Harness h;
  std::string id = h.issue_id(join_req("g"));
  EXPECT_TRUE(h.describe("g").members.empty()) << "a pending member is not a member yet";
  EXPECT_EQ(h.heartbeat("g", 0, id), ErrorCode::UNKNOWN_MEMBER_ID);

  // A pending id expires after the session timeout of the request that obtained it.
  h.advance(10000);
  auto late = h.join(join_req("g", id));
  ASSERT_TRUE(late.ready());
  EXPECT_EQ(late.get().error, ErrorCode::UNKNOWN_MEMBER_ID);

  // Before v4 there is no extra round trip.
  JoinRequest v3 = join_req("g");
  v3.api_version = 3;
  auto old_client = h.join(v3);
  EXPECT_FALSE(old_client.ready());
  h.advance(3000);
  ASSERT_TRUE(old_client.ready());
  EXPECT_EQ(old_client.get().error, ErrorCode::NONE);
  EXPECT_FALSE(old_client.get().member_id.empty());
}

TEST(GroupLifecycle, PendingMemberHoldsTheRebalanceUntilItJoinsOrExpires) {
  Harness h;
  Formed f = form_group(h, "g", 1);
  std::string newcomer = h.issue_id(join_req("g"));
  auto rejoin = h.join(join_req("g", f.ids[0]));  // the leader rejoins: a rebalance starts
  EXPECT_FALSE(rejoin.ready()) << "the KIP-394 pending member is still expected";
  auto joined = h.join(join_req("g", newcomer));
  ASSERT_TRUE(rejoin.ready() && joined.ready());
  EXPECT_EQ(joined.get().generation_id, 2);
  EXPECT_EQ(rejoin.get().members.size(), 2u);
}

TEST(GroupLifecycle, InitialDelayIsCappedByTheRebalanceTimeout) {
  Harness h;
  JoinRequest r = join_req("g");
  r.api_version = 3;
  r.rebalance_timeout_ms = 7000;
  auto a = h.join(r);
  // Keep members arriving every delay period; the rebalance still ends at 7000 ms.
  std::vector<Pending<JoinResult>> more;
  for (int i = 0; i < 3; ++i) {
    h.advance(2500);
    more.push_back(h.join(r));
  }
  EXPECT_EQ(h.now, 1000 + 7500);
  EXPECT_TRUE(a.ready()) << "the delay never extends past rebalance.timeout.ms";
  EXPECT_EQ(a.get().generation_id, 1);
}


// A store that cannot hold a group whose assignments exceed a size, as __consumer_offsets cannot
// hold a record above max.message.bytes.
class BoundedStore final : public GroupStore {
 public:
  explicit BoundedStore(size_t max_assignment) : max_(max_assignment) {}
  void persist(const GroupSnapshot& s) override { inner.persist(s); }
  void remove(const std::string& id) override { inner.remove(id); }
  ErrorCode check(const GroupSnapshot& s) const override {
    for (const auto& m : s.members)
      if (m.assignment.size() > max_) return ErrorCode::UNKNOWN_SERVER_ERROR;
    return ErrorCode::NONE;
  }
  MemoryGroupStore inner;

 private:
  size_t max_;
};

TEST(GroupLifecycle, AnAssignmentThatCannotBeStoredIsRefusedAndTheGroupRebalances) {
  CoordinatorConfig cfg;
  cfg.initial_rebalance_delay_ms = 0;
  auto store = std::make_shared<BoundedStore>(4);
  int64_t now = 1000;
  GroupCoordinator gc(cfg, store, now);
  std::optional<JoinResult> joined;
  auto req = join_req("g");
  req.api_version = 3;  // no KIP-394 round trip
  gc.join(req, [&](JoinResult r) { joined = std::move(r); });
  ASSERT_TRUE(joined && joined->error == ErrorCode::NONE);
  const std::string id = joined->member_id;

  std::optional<SyncResult> synced;
  SyncRequest sr;
  sr.group_id = "g";
  sr.generation_id = joined->generation_id;
  sr.member_id = id;
  sr.assignments = {{id, Bytes(100, 7)}};
  gc.sync(sr, [&](SyncResult r) { synced = std::move(r); });
  ASSERT_TRUE(synced.has_value());
  EXPECT_EQ(synced->error, ErrorCode::UNKNOWN_SERVER_ERROR) << "a generation a restart would forget";
  EXPECT_EQ(gc.describe({"g"}).at(0).state, "PreparingRebalance");
  EXPECT_FALSE(store->inner.get("g").has_value() && !store->inner.get("g")->members.empty());

  // The member rejoins; a storable assignment is accepted.
  joined.reset();
  req.member_id = id;
  gc.join(req, [&](JoinResult r) { joined = std::move(r); });
  ASSERT_TRUE(joined && joined->error == ErrorCode::NONE);
  sr.generation_id = joined->generation_id;
  sr.assignments = {{id, Bytes(4, 7)}};
  synced.reset();
  gc.sync(sr, [&](SyncResult r) { synced = std::move(r); });
  ASSERT_TRUE(synced.has_value());
  EXPECT_EQ(synced->error, ErrorCode::NONE);
  EXPECT_EQ(store->inner.get("g")->members.at(0).assignment, Bytes(4, 7));
  gc.shutdown();
}

}  // namespace
}  // namespace ferry::groups::testing
