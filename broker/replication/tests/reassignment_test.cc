// Partition reassignment (KIP-455, REPLICATION-SEMANTICS.md §6): what a request stores, when the
// controller completes a move and what it writes, by hand cases and by a seeded property test over
// random request, cancel and ISR histories (FERRY_PROPERTY_SEED replays one scenario).
#include "broker/replication/reassignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/testing/property_seed.h"

namespace ferry::broker::replication {
namespace {

using protocol::ErrorCode;
using States = std::map<std::pair<std::string, int32_t>, PartitionState>;

TopicMetadata topic(std::vector<std::vector<int32_t>> assignment) {
  TopicMetadata t;
  t.name = "t";
  t.partitions = static_cast<int32_t>(assignment.size());
  t.replication_factor = static_cast<int16_t>(assignment[0].size());
  t.assignment = std::move(assignment);
  t.mod_revision = 77;
  return t;
}

PartitionState state(int32_t leader, int32_t epoch, std::vector<int32_t> isr) {
  PartitionState s;
  s.leader = leader;
  s.leader_epoch = epoch;
  s.isr = std::move(isr);
  s.mod_revision = 90;
  return s;
}

const std::set<int32_t> kLive{1, 2, 3, 4, 5};

TEST(RequestReassignment, StoresTargetThenLeavingReplicasWithAddingAndRemoving) {
  auto t = topic({{1, 2, 3}});
  EXPECT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{4, 2, 5}, kLive));
  EXPECT_EQ(t.assignment[0], (std::vector<int32_t>{4, 2, 5, 1, 3}));
  EXPECT_EQ(t.reassignments.at(0), (PartitionReassignment{{4, 5}, {1, 3}}));
  EXPECT_EQ(target_replicas(t, 0), (std::vector<int32_t>{4, 2, 5}));
  EXPECT_EQ(original_replicas(t, 0), (std::vector<int32_t>{2, 1, 3}));
}

TEST(RequestReassignment, ANewTargetReplacesTheMoveAndKeepsTheOriginalReplicas) {
  auto t = topic({{1, 2, 3}});
  ASSERT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{4, 2, 3}, kLive));
  ASSERT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{5, 1}, kLive));
  // 4, added by the first move, is gone at once; the original replicas are still 1, 2, 3.
  EXPECT_EQ(t.assignment[0], (std::vector<int32_t>{5, 1, 2, 3}));
  EXPECT_EQ(t.reassignments.at(0), (PartitionReassignment{{5}, {2, 3}}));
  // A cancel restores them at once.
  ASSERT_FALSE(request_reassignment(t, 0, std::nullopt, kLive));
  EXPECT_EQ(t.assignment[0], (std::vector<int32_t>{1, 2, 3}));  // here in their order; in general as a set
  EXPECT_TRUE(t.reassignments.empty());
}

TEST(RequestReassignment, TheCurrentListIsANoOpAndAReorderTakesEffectAtOnce) {
  auto t = topic({{1, 2, 3}});
  const auto before = t;
  EXPECT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{1, 2, 3}, kLive));
  EXPECT_EQ(t, before);
  EXPECT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{3, 1, 2}, kLive));
  EXPECT_EQ(t.assignment[0], (std::vector<int32_t>{3, 1, 2}));
  EXPECT_TRUE(t.reassignments.empty());
}

TEST(RequestReassignment, RefusesWithKafkasCodesAndChangesNothing) {
  auto t = topic({{1, 2, 3}});
  const auto before = t;
  auto code = [&](int32_t p, std::optional<std::vector<int32_t>> target, std::set<int32_t> live = kLive) {
    auto e = request_reassignment(t, p, target, live);
    EXPECT_EQ(t, before);
    return e ? e->code : ErrorCode::NONE;
  };
  EXPECT_EQ(code(1, std::vector<int32_t>{1}), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(code(-1, std::vector<int32_t>{1}), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(code(0, std::vector<int32_t>{}), ErrorCode::INVALID_REPLICA_ASSIGNMENT);
  EXPECT_EQ(code(0, std::vector<int32_t>{4, 4}), ErrorCode::INVALID_REPLICA_ASSIGNMENT);
  EXPECT_EQ(code(0, std::vector<int32_t>{-2}), ErrorCode::INVALID_REPLICA_ASSIGNMENT);
  EXPECT_EQ(code(0, std::vector<int32_t>{9, 1}), ErrorCode::INVALID_REPLICA_ASSIGNMENT);
  EXPECT_EQ(code(0, std::nullopt), ErrorCode::NO_REASSIGNMENT_IN_PROGRESS);
  // A dead broker that already holds the partition may stay; a dead newcomer may not.
  EXPECT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{3, 1}, {1}));
  EXPECT_EQ(t.reassignments.at(0), (PartitionReassignment{{}, {2}}));
}

TEST(CompleteReassignments, WaitsUntilEveryTargetReplicaIsInTheIsr) {
  auto t = topic({{1, 2, 3}});
  ASSERT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{4, 2, 3}, kLive));
  EXPECT_FALSE(complete_reassignments(t, {{{"t", 0}, state(1, 5, {1, 2, 3})}}, kLive, 9));
  auto done = complete_reassignments(t, {{{"t", 0}, state(1, 5, {1, 2, 3, 4})}}, kLive, 9);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->completed, (std::vector<int32_t>{0}));
  EXPECT_EQ(done->topic.assignment[0], (std::vector<int32_t>{4, 2, 3}));
  EXPECT_TRUE(done->topic.reassignments.empty());
  EXPECT_EQ(done->topic.mod_revision, 77);  // the compare-and-set token of the topic write
  ASSERT_EQ(done->states.size(), 1u);
  const auto& w = done->states[0];
  EXPECT_EQ(w.expected_mod_revision, 90);
  // The leader left: the first live in-sync target replica leads, at a new epoch.
  EXPECT_EQ(w.state.leader, 4);
  EXPECT_EQ(w.state.leader_epoch, 6);
  EXPECT_EQ(w.state.isr, (std::vector<int32_t>{4, 2, 3}));
  EXPECT_EQ(w.state.controller_epoch, 9);
}

TEST(CompleteReassignments, KeepsALiveTargetLeaderAndSkipsWhenNoTargetReplicaCanLead) {
  auto t = topic({{1, 2}});
  ASSERT_FALSE(request_reassignment(t, 0, std::vector<int32_t>{3, 2}, kLive));
  auto done = complete_reassignments(t, {{{"t", 0}, state(2, 1, {1, 2, 3})}}, kLive, 9);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->states[0].state.leader, 2);
  EXPECT_EQ(done->states[0].state.leader_epoch, 2);
  EXPECT_EQ(done->topic.replication_factor, 2);
  // Every target replica in the ISR but none live: nothing to elect, so nothing completes.
  EXPECT_FALSE(complete_reassignments(t, {{{"t", 0}, state(1, 1, {1, 2, 3})}}, {1}, 9));
}

bool in(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST(ReassignmentProperty, RandomRequestsCancelsAndIsrHistoriesKeepTheInvariants) {
  for (uint64_t seed : testing::property_seeds(testing::first_seeds(3000))) {
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
    const auto brokers = static_cast<int32_t>(pick(1, 6));
    auto random_list = [&] {
      std::vector<int32_t> all;
      for (int32_t b = 1; b <= brokers; ++b) all.push_back(b);
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(static_cast<size_t>(pick(1, brokers)));
      return all;
    };
    auto t = topic({random_list()});
    std::vector<int32_t> ors = t.assignment[0];  // the model's original replicas
    PartitionState s = state(ors[0], 0, ors);
    for (int step = 0; step < 30; ++step) {
      std::set<int32_t> live;
      for (int32_t b = 1; b <= brokers; ++b)
        if (chance(0.8)) live.insert(b);
      const int action = static_cast<int>(pick(0, 2));
      if (action == 0) {
        const auto target = random_list();
        const auto before = t;
        auto err = request_reassignment(t, 0, target, live);
        bool newcomer_dead = false;
        for (int32_t r : target) newcomer_dead |= !in(ors, r) && !live.count(r);
        ASSERT_EQ(err.has_value(), newcomer_dead);
        if (err) {
          ASSERT_EQ(t, before);
        } else {
          ASSERT_EQ(target_replicas(t, 0), target);
        }
      } else if (action == 1) {
        const bool moving = !t.reassignments.empty();
        auto err = request_reassignment(t, 0, std::nullopt, live);
        ASSERT_EQ(err.has_value(), !moving);
        // A cancel restores the original replicas at once (as a set: Kafka does not promise their order).
        ASSERT_EQ(std::set<int32_t>(t.assignment[0].begin(), t.assignment[0].end()),
                  std::set<int32_t>(ors.begin(), ors.end()));
        ASSERT_TRUE(t.reassignments.empty());
      } else {
        // The ISR evolves: some replicas join or leave, the leader stays a member while it can.
        std::vector<int32_t> isr;
        for (int32_t r : t.assignment[0])
          if (chance(0.7)) isr.push_back(r);
        if (isr.empty()) isr.push_back(t.assignment[0][0]);
        s.isr = isr;
        if (!in(isr, s.leader)) s.leader = isr[0];
        auto done = complete_reassignments(t, {{{"t", 0}, s}}, live, 4);
        const auto trs = target_replicas(t, 0);
        const bool can = !t.reassignments.empty() &&
                         std::all_of(trs.begin(), trs.end(), [&](int32_t r) { return in(isr, r); }) &&
                         std::any_of(trs.begin(), trs.end(), [&](int32_t r) { return live.count(r) > 0; });
        ASSERT_EQ(done.has_value(), can);
        if (done) {
          const auto& w = done->states.at(0).state;
          ASSERT_EQ(done->topic.assignment[0], trs);
          ASSERT_TRUE(in(trs, w.leader));
          ASSERT_TRUE(live.count(w.leader));
          ASSERT_TRUE(in(w.isr, w.leader));
          for (int32_t r : w.isr) {
            ASSERT_TRUE(in(trs, r));
          }
          ASSERT_EQ(w.leader_epoch, s.leader_epoch + 1);
          if (in(trs, s.leader) && live.count(s.leader)) {
            ASSERT_EQ(w.leader, s.leader);
          }
          t = done->topic;
          s = w;
        }
      }
      // Always: RS = TRS then ORS − TRS, adding = TRS − ORS, removing = ORS − TRS, no repeats.
      const auto& rs = t.assignment[0];
      if (t.reassignments.empty()) {
        ors = rs;
        continue;
      }
      const auto trs = target_replicas(t, 0);
      ASSERT_EQ(original_replicas(t, 0).size() + t.reassignments.at(0).adding.size(), rs.size());
      ASSERT_TRUE(std::equal(trs.begin(), trs.end(), rs.begin()));
      for (int32_t r : t.reassignments.at(0).adding) ASSERT_TRUE(in(trs, r) && !in(ors, r));
      for (int32_t r : t.reassignments.at(0).removing) ASSERT_TRUE(!in(trs, r) && in(ors, r));
      std::set<int32_t> distinct(rs.begin(), rs.end());
      ASSERT_EQ(distinct.size(), rs.size());
      const auto kept = original_replicas(t, 0);
      ASSERT_EQ(std::set<int32_t>(ors.begin(), ors.end()), std::set<int32_t>(kept.begin(), kept.end()));
    }
  }
}

}  // namespace
}  // namespace ferry::broker::replication
