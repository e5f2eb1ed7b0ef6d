// Partition leadership as the controller decides it: the etcd value's JSON, Kafka's replica
// assignment, and reconcile's elections (REPLICATION-SEMANTICS.md §4), by hand cases and by a
// seeded property test over random broker failures (FERRY_PROPERTY_SEED replays one scenario).
#include "broker/replication/partition_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>

namespace ferry::broker::replication {

// Readable failures (found by ADL, so outside the anonymous namespace).
void PrintTo(const PartitionState& s, std::ostream* o) {
  *o << "{leader " << s.leader << ", epoch " << s.leader_epoch << ", isr [";
  for (size_t i = 0; i < s.isr.size(); ++i) *o << (i ? "," : "") << s.isr[i];
  *o << "], controller_epoch " << s.controller_epoch << ", partition_epoch " << s.partition_epoch << ", mod_revision "
     << s.mod_revision << "}";
}
void PrintTo(const PartitionWrite& w, std::ostream* o) {
  *o << w.topic << "-" << w.partition << " if mod_revision " << w.expected_mod_revision << ": ";
  PrintTo(w.state, o);
}

namespace {

using Lists = std::vector<std::vector<int32_t>>;
using States = std::map<std::pair<std::string, int32_t>, PartitionState>;

const std::function<bool(const std::string&)> kClean = [](const std::string&) { return false; };
const std::function<bool(const std::string&)> kUnclean = [](const std::string&) { return true; };

std::vector<BrokerNode> nodes(std::vector<int32_t> ids, std::vector<std::string> racks = {}) {
  std::vector<BrokerNode> out;
  for (size_t i = 0; i < ids.size(); ++i) out.push_back({ids[i], racks.empty() ? "" : racks[i]});
  return out;
}

TopicMetadata topic(const std::string& name, Lists assignment) {
  TopicMetadata t;
  t.name = name;
  t.partitions = static_cast<int32_t>(assignment.size());
  t.replication_factor = assignment.empty() ? 1 : static_cast<int16_t>(assignment[0].size());
  t.assignment = std::move(assignment);
  return t;
}

PartitionState state(int32_t leader, int32_t epoch, std::vector<int32_t> isr, int64_t mod_revision = 40) {
  PartitionState s;
  s.leader = leader;
  s.leader_epoch = epoch;
  s.isr = std::move(isr);
  s.controller_epoch = 3;
  s.partition_epoch = 6;
  s.mod_revision = mod_revision;
  return s;
}

// --- JSON -------------------------------------------------------------------------------------

TEST(PartitionStateJson, RoundTripsTheFourFieldsAndLeavesTheEtcdOnesAtZero) {
  for (const PartitionState& s : {state(2, 7, {2, 0, 1}), state(-1, 0, {}), state(0, 2147483647, {5})}) {
    std::string error;
    auto back = parse_partition_state(encode_partition_state(s), &error);
    ASSERT_TRUE(back) << error;
    PartitionState expected = s;
    expected.partition_epoch = 0;
    expected.mod_revision = 0;
    EXPECT_EQ(*back, expected) << encode_partition_state(s);
  }
  EXPECT_EQ(encode_partition_state(state(2, 7, {2, 0})),
            R"({"controller_epoch":3,"isr":[2,0],"leader":2,"leader_epoch":7})");
}

TEST(PartitionStateJson, IgnoresFieldsItDoesNotKnow) {
  // Kafka's own state znode carries "version" (and later "leader_recovery_state"): tolerated.
  auto s = parse_partition_state(R"({"version":1,"leader":1,"leader_epoch":2,"isr":[1],"controller_epoch":4})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->leader, 1);
  EXPECT_EQ(s->isr, std::vector<int32_t>{1});
}

TEST(PartitionStateJson, RefusesBadValuesNamingTheField) {
  struct Case {
    const char* text;
    const char* names;  // what the message must mention
  };
  const Case cases[] = {
      {"not json", "not JSON"},
      {"[1,2]", "object"},
      {R"({"leader_epoch":0,"isr":[],"controller_epoch":0})", R"("leader" is missing)"},
      {R"({"leader":1,"leader_epoch":"3","isr":[1],"controller_epoch":0})", R"("leader_epoch")"},
      {R"({"leader":1,"leader_epoch":-1,"isr":[1],"controller_epoch":0})", R"("leader_epoch")"},
      {R"({"leader":1,"leader_epoch":0,"isr":[1],"controller_epoch":-5})", R"("controller_epoch")"},
      {R"({"leader":-2,"leader_epoch":0,"isr":[],"controller_epoch":0})", R"("leader")"},
      {R"({"leader":1.5,"leader_epoch":0,"isr":[1],"controller_epoch":0})", R"("leader")"},
      {R"({"leader":4294967296,"leader_epoch":0,"isr":[1],"controller_epoch":0})", R"("leader")"},
      {R"({"leader":1,"leader_epoch":0,"isr":[1,2,1],"controller_epoch":0})", R"("isr" lists broker 1 twice)"},
      {R"({"leader":1,"leader_epoch":0,"isr":[1,-3],"controller_epoch":0})", R"("isr")"},
      {R"({"leader":1,"leader_epoch":0,"isr":"1","controller_epoch":0})", R"("isr")"},
      {R"({"leader":1,"leader_epoch":0,"isr":[1],"controller_epoch":true})", R"("controller_epoch")"},
      {R"({"leader":1,"leader_epoch":0,"isr":[1]})", R"("controller_epoch" is missing)"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_partition_state(c.text, &error)) << c.text;
    EXPECT_NE(error.find(c.names), std::string::npos) << c.text << " gave: " << error;
    EXPECT_FALSE(parse_partition_state(c.text)) << "without an error sink: " << c.text;
  }
}

// --- assign_replicas without racks -------------------------------------------------------------

TEST(AssignReplicas, ProducesKafkasListsForAKnownCase) {
  // Derived by hand from assignReplicasToBrokersRackUnaware: brokers [1,2,3,4] (n = 4), start 1,
  // shift 2. Partition p leads on broker index (p + 1) % 4; follower j sits at
  // (first + 1 + (shift + j) % 3) % 4; the shift becomes 3 at p = 4 (a multiple of n).
  //   p0: first 1 -> 2; j0 (1+1+2)%4=0 -> 1; j1 (1+1+0)%4=2 -> 3  => [2,1,3]
  //   p1: [3,2,4]  p2: [4,3,1]  p3: [1,4,2]
  //   p4: shift 3, first 1 -> 2; j0 (1+1+0)=2 -> 3; j1 (1+1+1)=3 -> 4  => [2,3,4]
  //   p5: first 2 -> 3; j0 (2+1+0)=3 -> 4; j1 (2+1+1)%4=0 -> 1  => [3,4,1]
  const Lists expected{{2, 1, 3}, {3, 2, 4}, {4, 3, 1}, {1, 4, 2}, {2, 3, 4}, {3, 4, 1}};
  EXPECT_EQ(assign_replicas(nodes({3, 1, 4, 2}), 0, 6, 3, 1, 2), expected) << "brokers are taken in id order";
  // start_index and replica_shift are taken modulo the broker count.
  EXPECT_EQ(assign_replicas(nodes({1, 2, 3, 4}), 0, 6, 3, 5, -2), expected);
}

TEST(AssignReplicas, CreatePartitionsContinuesTheLeaderRoundRobin) {
  // By hand, same brokers, start 1, shift 2, partitions 5..7: the shift is not bumped (5, 6, 7 are
  // no multiples of 4), so p5 = first (5+1)%4=2 -> 3; j0 (2+1+2)%4=1 -> 2; j1 (2+1+0)=3 -> 4.
  EXPECT_EQ(assign_replicas(nodes({1, 2, 3, 4}), 5, 3, 3, 1, 2), (Lists{{3, 2, 4}, {4, 3, 1}, {1, 4, 2}}));
  for (int32_t n = 1; n <= 6; ++n) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < n; ++i) ids.push_back(10 + i);
    for (int32_t start = 0; start < n; ++start) {
      const Lists whole = assign_replicas(nodes(ids), 0, 3 * n, static_cast<int16_t>(std::min(n, 3)), start, start);
      for (int32_t k = 1; k < 3 * n; ++k) {
        const Lists added =
            assign_replicas(nodes(ids), k, 3 * n - k, static_cast<int16_t>(std::min(n, 3)), start, start);
        ASSERT_EQ(added.size(), static_cast<size_t>(3 * n - k));
        for (int32_t p = k; p < 3 * n; ++p) {
          EXPECT_EQ(added[p - k][0], whole[p][0]) << "leader of partition " << p << " added after " << k;
          // Kafka bumps the follower shift only inside the call: whole lists agree while k <= n.
          if (k <= n) {
            EXPECT_EQ(added[p - k], whole[p]) << "partition " << p << " added after " << k;
          }
        }
      }
    }
  }
}

TEST(AssignReplicas, SpreadsDistinctReplicasAndLeadersEvenly) {
  for (int32_t n = 1; n <= 7; ++n) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < n; ++i) ids.push_back(100 + 3 * i);
    for (int16_t rf = 1; rf <= n; ++rf)
      for (int32_t k = 1; k <= 3; ++k)
        for (int32_t start = 0; start < n; ++start) {
          const int32_t shift = (start * 5 + k) % n;
          const Lists lists = assign_replicas(nodes(ids), 0, k * n, rf, start, shift);
          ASSERT_EQ(lists.size(), static_cast<size_t>(k * n));
          std::map<int32_t, int> leaders, replicas;
          for (const auto& l : lists) {
            ASSERT_EQ(l.size(), static_cast<size_t>(rf));
            EXPECT_EQ(std::set<int32_t>(l.begin(), l.end()).size(), l.size()) << "duplicate replica";
            for (int32_t b : l) {
              EXPECT_TRUE(std::find(ids.begin(), ids.end(), b) != ids.end()) << b;
              ++replicas[b];
            }
            ++leaders[l[0]];
          }
          auto spread = [&](const std::map<int32_t, int>& counts) {
            int lo = INT32_MAX, hi = 0;
            for (int32_t b : ids) {
              const int c = counts.contains(b) ? counts.at(b) : 0;
              lo = std::min(lo, c);
              hi = std::max(hi, c);
            }
            return hi - lo;
          };
          EXPECT_LE(spread(leaders), 1) << "n=" << n << " rf=" << rf << " k=" << k << " start=" << start;
          EXPECT_LE(spread(replicas), 1) << "n=" << n << " rf=" << rf << " k=" << k << " start=" << start;
        }
  }
}

/// The std::invalid_argument message of an assign_replicas call, or "(no exception)".
std::string refusal(const std::vector<BrokerNode>& brokers, int32_t first_partition, int16_t rf) {
  try {
    assign_replicas(brokers, first_partition, 1, rf, 0, 0);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(AssignReplicas, RefusesImpossibleRequestsWithTheReason) {
  EXPECT_NE(refusal(nodes({1, 2}), 0, 3).find("replication factor: 3 larger than available brokers: 2"),
            std::string::npos);
  EXPECT_NE(refusal({}, 0, 1).find("replication factor"), std::string::npos);
  EXPECT_NE(refusal(nodes({1, 2}), 0, 0).find("at least 1"), std::string::npos);
  EXPECT_NE(refusal(nodes({1, 2}), 0, -1).find("at least 1"), std::string::npos);
  EXPECT_NE(refusal(nodes({1, 2, 3}, {"a", "", "b"}), 0, 1).find("rack"), std::string::npos) << "mixed racks";
  EXPECT_NE(refusal(nodes({1, 1}), 0, 1).find("twice"), std::string::npos);
  EXPECT_NE(refusal(nodes({1}), -1, 1).find("out of range"), std::string::npos);
  EXPECT_TRUE(assign_replicas(nodes({1}), 0, 0, 1, 0, 0).empty());
}

// --- assign_replicas with racks ----------------------------------------------------------------

std::map<int32_t, std::string> rack_map(const std::vector<BrokerNode>& b) {
  std::map<int32_t, std::string> m;
  for (const auto& n : b) m[n.id] = n.rack;
  return m;
}

TEST(AssignReplicasRackAware, InterleavesBrokersByRack) {
  // By hand: racks sorted r1 [0,5], r2 [3,4], r3 [1,2]; taking one broker per rack in turn gives
  // [0,3,1,5,4,2], which rf 1 from start 0 walks in order.
  const auto b = nodes({0, 1, 2, 3, 4, 5}, {"r1", "r3", "r3", "r2", "r2", "r1"});
  EXPECT_EQ(assign_replicas(b, 0, 6, 1, 0, 0), (Lists{{0}, {3}, {1}, {5}, {4}, {2}}));
  // 3 racks x 2 brokers, rf 3, start 0, shift 0, by hand: interleaved list [0,2,4,1,3,5]; followers
  // of the leader at index f are at (f + 1 + (shift·racks + k) % 5) % 6 for k = 0, 1, ...; p6 wraps
  // the list, so the follower shift becomes 1·3: p6 = 0; (0+1+3)=4 -> 3; (0+1+4)=5 -> 5.
  const auto six = nodes({0, 1, 2, 3, 4, 5}, {"a", "a", "b", "b", "c", "c"});
  EXPECT_EQ(assign_replicas(six, 0, 7, 3, 0, 0),
            (Lists{{0, 2, 4}, {2, 4, 1}, {4, 1, 3}, {1, 3, 5}, {3, 5, 0}, {5, 0, 2}, {0, 3, 5}}));
}

TEST(AssignReplicasRackAware, PutsReplicasOnDistinctRacksWhileRacksRemain) {
  const auto six = nodes({0, 1, 2, 3, 4, 5}, {"a", "a", "b", "b", "c", "c"});
  const auto racks = rack_map(six);
  for (int32_t start = 0; start < 6; ++start)
    for (int32_t shift = 0; shift < 6; ++shift) {
      std::map<int32_t, int> leaders;
      for (const auto& l : assign_replicas(six, 0, 12, 3, start, shift)) {
        std::set<std::string> used;
        for (int32_t b : l) used.insert(racks.at(b));
        EXPECT_EQ(used.size(), 3u) << "start " << start << " shift " << shift;
        ++leaders[l[0]];
      }
      for (const auto& [b, c] : leaders) EXPECT_EQ(c, 2) << "broker " << b << " leads " << c;
      for (const auto& l : assign_replicas(six, 0, 12, 4, start, shift)) {
        std::set<std::string> used;
        for (int32_t b : l) used.insert(racks.at(b));
        EXPECT_EQ(used.size(), 3u) << "rf 4 must still use every rack";
        EXPECT_EQ(std::set<int32_t>(l.begin(), l.end()).size(), 4u);
      }
    }
}

TEST(AssignReplicasRackAware, UnevenRacksStillGiveDistinctBrokers) {
  const auto b = nodes({0, 1, 2, 3}, {"a", "a", "a", "b"});
  const auto racks = rack_map(b);
  for (int16_t rf = 1; rf <= 4; ++rf)
    for (int32_t start = 0; start < 4; ++start)
      for (const auto& l : assign_replicas(b, 0, 8, rf, start, 3 - start)) {
        ASSERT_EQ(l.size(), static_cast<size_t>(rf));
        EXPECT_EQ(std::set<int32_t>(l.begin(), l.end()).size(), l.size()) << "rf " << rf;
        std::set<std::string> used;
        for (int32_t x : l) used.insert(racks.at(x));
        if (rf >= 2) {
          EXPECT_EQ(used.size(), 2u) << "both racks while rf allows";
        }
      }
}

// --- reconcile, by hand ------------------------------------------------------------------------

std::vector<PartitionWrite> run(const States& states, std::set<int32_t> live,
                                const std::function<bool(const std::string&)>& unclean = kClean,
                                Lists assignment = {{1, 2, 3}}) {
  return reconcile({{"t", topic("t", std::move(assignment))}}, states, live, unclean, 7);
}

PartitionWrite write(int32_t leader, int32_t epoch, std::vector<int32_t> isr, int64_t expected = 40,
                     int32_t partition = 0) {
  PartitionState s = expected == 0 ? PartitionState{} : state(leader, epoch, isr, expected);
  s.leader = leader;
  s.leader_epoch = epoch;
  s.isr = std::move(isr);
  s.controller_epoch = 7;
  return {"t", partition, s, expected};
}

TEST(Reconcile, CreatesWithTheFirstLiveReplicaLeading) {
  EXPECT_EQ(run({}, {1, 2, 3}), std::vector{write(1, 0, {1, 2, 3}, 0)});
  EXPECT_EQ(run({}, {2, 3}), std::vector{write(2, 0, {2, 3}, 0)}) << "replica 1 dead";
  EXPECT_EQ(run({}, {3, 1}, kClean, {{2, 3, 1}}), std::vector{write(3, 0, {3, 1}, 0)}) << "assignment order";
  EXPECT_TRUE(run({}, {4, 5}).empty()) << "no live replica: wait";
}

TEST(Reconcile, LeaderDeathElectsTheFirstLiveIsrMemberInAssignmentOrder) {
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2, 3})}}, {2, 3}), std::vector{write(2, 5, {2, 3})});
  // Replica 2 is live but out of the ISR: never elected cleanly.
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 3})}}, {2, 3}), std::vector{write(3, 5, {3})});
}

TEST(Reconcile, FollowerDeathShrinksTheIsrUnderTheSameLeader) {
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2, 3})}}, {1, 3}), std::vector{write(1, 5, {1, 3})});
  EXPECT_TRUE(run({{{"t", 0}, state(1, 4, {1, 2, 3})}}, {1, 2, 3}).empty()) << "all live: nothing to do";
  EXPECT_TRUE(run({{{"t", 0}, state(2, 4, {2, 3})}}, {1, 2, 3}).empty()) << "rejoining the ISR is the leader's job";
}

TEST(Reconcile, AllIsrDeadGoesOfflineKeepingTheIsrAndWaits) {
  const States offline{{{"t", 0}, state(-1, 5, {1, 2})}};
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2})}}, {3}), std::vector{write(-1, 5, {1, 2})});
  EXPECT_TRUE(run(offline, {3}).empty()) << "already offline";
  EXPECT_TRUE(run(offline, {}).empty());
  EXPECT_EQ(run(offline, {2, 3}), std::vector{write(2, 6, {2})}) << "an ISR member came back";
}

TEST(Reconcile, UncleanElectionTakesTheFirstLiveReplica) {
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2})}}, {3}, kUnclean), std::vector{write(3, 5, {3})});
  EXPECT_EQ(run({{{"t", 0}, state(-1, 5, {1})}}, {3, 2}, kUnclean), std::vector{write(2, 6, {2})});
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2})}}, {2, 3}, kUnclean), std::vector{write(2, 5, {2})})
      << "a live ISR member still wins";
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 2})}}, {}, kUnclean), std::vector{write(-1, 5, {1, 2})});
  int asked = 0;
  auto counting = [&](const std::string& t) {
    ++asked;
    EXPECT_EQ(t, "t");
    return false;
  };
  EXPECT_TRUE(run({{{"t", 0}, state(1, 4, {1, 2, 3})}}, {1, 2, 3}, counting).empty());
  EXPECT_EQ(asked, 0) << "unclean is only asked when no ISR member is live";
  auto throwing = [](const std::string&) -> bool { throw std::runtime_error("config gone"); };
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1})}}, {3}, throwing), std::vector{write(-1, 5, {1})});
}

TEST(Reconcile, DropsIsrMembersAndLeadersOutsideTheAssignment) {
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {1, 9, 2})}}, {1, 2, 3, 9}), std::vector{write(1, 5, {1, 2})});
  EXPECT_EQ(run({{{"t", 0}, state(9, 4, {9, 2})}}, {1, 2, 3, 9}), std::vector{write(2, 5, {2})});
  EXPECT_EQ(run({{{"t", 0}, state(-1, 4, {9, 2})}}, {1}), std::vector{write(-1, 5, {2})}) << "offline keeps R's only";
  EXPECT_EQ(run({{{"t", 0}, state(1, 4, {3, 1})}}, {1, 3}), std::vector{write(1, 5, {1, 3})}) << "R's order";
}

TEST(Reconcile, CarriesTheCasTokenAndControllerEpochInTopicThenPartitionOrder) {
  std::map<std::string, TopicMetadata> topics{{"b", topic("b", {{1, 2}, {2, 1}})}, {"a", topic("a", {{2, 1}})}};
  States states{
      {{"b", 1}, state(2, 0, {2, 1}, 11)}, {{"b", 0}, state(1, 3, {1, 2}, 12)}, {{"a", 0}, state(2, 8, {2, 1}, 13)}};
  const auto writes = reconcile(topics, states, {1}, kClean, 42);
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[0].topic, "a");
  EXPECT_EQ(writes[0].expected_mod_revision, 13);
  EXPECT_EQ(writes[0].state.leader, 1);
  EXPECT_EQ(writes[0].state.leader_epoch, 9);
  EXPECT_EQ(writes[1].topic, "b");
  EXPECT_EQ(writes[1].partition, 0);
  EXPECT_EQ(writes[1].expected_mod_revision, 12);
  EXPECT_EQ(writes[2].partition, 1);
  EXPECT_EQ(writes[2].expected_mod_revision, 11);
  for (const auto& w : writes) EXPECT_EQ(w.state.controller_epoch, 42);
}

TEST(Reconcile, SkipsSingleNodeTopicsAndIgnoresStrayStates) {
  TopicMetadata single = topic("s", {});
  single.partitions = 3;
  States states{{{"s", 0}, state(5, 0, {5})}, {{"gone", 0}, state(1, 0, {1})}, {{"t", 4}, state(1, 0, {1})}};
  const auto writes = reconcile({{"s", single}, {"t", topic("t", {{1, 2}})}}, states, {2}, kClean, 1);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].topic, "t");
  EXPECT_EQ(writes[0].partition, 0);
  EXPECT_EQ(reconcile({{"s", single}}, states, {}, kClean, 1), std::vector<PartitionWrite>{});
}

TEST(PreferredLeader, MovesLeadershipBackToTheFirstReplicaOnlyWhenItCan) {
  const std::vector<int32_t> R{1, 2, 3};
  auto next = preferred_leader_state(R, state(2, 4, {2, 3, 1}), {1, 2, 3});
  ASSERT_TRUE(next);
  PartitionState expected = state(1, 5, {2, 3, 1});
  EXPECT_EQ(*next, expected) << "same ISR, epoch + 1, the rest copied";
  EXPECT_FALSE(preferred_leader_state(R, state(1, 4, {1, 2}), {1, 2, 3})) << "already leads";
  EXPECT_FALSE(preferred_leader_state(R, state(2, 4, {1, 2}), {2, 3})) << "dead";
  EXPECT_FALSE(preferred_leader_state(R, state(2, 4, {2, 3}), {1, 2, 3})) << "not in sync";
  EXPECT_FALSE(preferred_leader_state({}, state(2, 4, {2}), {2}));
  EXPECT_TRUE(preferred_leader_state(R, state(-1, 4, {1}), {1})) << "an offline partition too";
}

// --- reconcile, random histories ---------------------------------------------------------------

std::string show(const std::vector<int32_t>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str() + "]";
}

std::string show(const PartitionState& s) {
  return "{leader " + std::to_string(s.leader) + ", epoch " + std::to_string(s.leader_epoch) + ", isr " + show(s.isr) +
         "}";
}

bool in(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// What is wrong with one partition after reconcile's writes were applied, or "".
std::string check_state(const std::vector<int32_t>& R, const PartitionState& s, const std::set<int32_t>& live,
                        bool unclean) {
  if (s.leader != -1 && (!live.contains(s.leader) || !in(s.isr, s.leader) || !in(R, s.leader)))
    return "(1) leader not live, in the ISR and in the assignment";
  std::vector<int32_t> ordered;
  for (int32_t r : R)
    if (in(s.isr, r)) ordered.push_back(r);
  if (ordered != s.isr) return "(2) ISR not a subset of the assignment in its order";
  if (s.isr.empty()) return "(2) empty ISR";
  if (s.leader == -1 && std::any_of(s.isr.begin(), s.isr.end(), [&](int32_t r) { return live.contains(r); }))
    return "(6) a live ISR member but no leader";
  if (s.leader == -1 && unclean && std::any_of(R.begin(), R.end(), [&](int32_t r) { return live.contains(r); }))
    return "(6) unclean election allowed, a live replica, but no leader";
  return "";
}

/// What is wrong with one write against the state it replaces (`before`, nullptr if none), or "".
std::string check_write(const PartitionWrite& w, const PartitionState* before, bool unclean) {
  if (!before) return w.expected_mod_revision == 0 && w.state.leader_epoch == 0 ? "" : "creation not at epoch 0";
  if (w.expected_mod_revision != before->mod_revision) return "wrong compare-and-set token";
  if (w.state.leader == before->leader && w.state.isr == before->isr) return "(3) a write that changes nothing";
  if (w.state.leader_epoch != before->leader_epoch + 1) return "(3) leader epoch did not rise by exactly 1";
  if (!unclean && w.state.leader != -1 && w.state.leader != before->leader && !in(before->isr, w.state.leader))
    return "(4) clean election outside the previous ISR";
  return "";
}

TEST(RebalanceLeaders, MovesLeadershipBackOnlyPastTheImbalancePercentage) {
  // Broker 1 prefers 4 partitions; 1 of them (25 %) is led by broker 2.
  std::map<std::string, TopicMetadata> topics{{"t", topic("t", {{1, 2}, {1, 2}, {1, 2}, {1, 2}, {2, 1}})}};
  States states;
  for (int32_t i = 0; i < 5; ++i) states[{"t", i}] = state(i == 4 ? 2 : 1, 3, {1, 2}, 50 + i);
  states[{"t", 3}].leader = 2;
  const std::set<int32_t> live{1, 2};
  EXPECT_TRUE(rebalance_leaders(topics, states, live, 25, 9).empty());  // 25 % is not above 25 %
  auto writes = rebalance_leaders(topics, states, live, 10, 9);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].partition, 3);
  EXPECT_EQ(writes[0].state.leader, 1);
  EXPECT_EQ(writes[0].state.leader_epoch, 4);
  EXPECT_EQ(writes[0].state.controller_epoch, 9);
  EXPECT_EQ(writes[0].expected_mod_revision, 53);
  // Not while the preferred replica is out of the ISR, dead, or its partition is being moved.
  states[{"t", 3}].isr = {2};
  EXPECT_TRUE(rebalance_leaders(topics, states, live, 10, 9).empty());
  states[{"t", 3}].isr = {1, 2};
  EXPECT_TRUE(rebalance_leaders(topics, states, {2}, 10, 9).empty());
  topics["t"].reassignments[3] = {{}, {2}};
  EXPECT_TRUE(rebalance_leaders(topics, states, live, 10, 9).empty());
}

TEST(ReconcileProperty, RandomFailureHistoriesKeepTheElectionInvariants) {
  uint64_t base = std::random_device{}();
  if (const char* env = std::getenv("FERRY_PROPERTY_SEED"); env && *env) base = std::strtoull(env, nullptr, 10);
  for (uint64_t i = 0; i < 2000; ++i) {
    const uint64_t seed = base + i;
    SCOPED_TRACE("scenario seed " + std::to_string(seed) + " (FERRY_PROPERTY_SEED=" + std::to_string(seed) +
                 " replays it first)");
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };

    const auto n = static_cast<int32_t>(pick(1, 7));
    const bool racked = chance(0.5);
    std::vector<BrokerNode> brokers;
    for (int32_t b = 0; b < n; ++b)
      brokers.push_back(
          {static_cast<int32_t>(b * 2 + pick(0, 1)), racked ? std::string(1, char('a' + pick(0, 2))) : ""});
    std::map<std::string, TopicMetadata> topics;
    std::set<std::string> unclean_topics;
    const auto n_topics = pick(1, 4);
    for (int64_t t = 0; t < n_topics; ++t) {
      const std::string name = "t" + std::to_string(t);
      const auto parts = static_cast<int32_t>(pick(1, 8));
      const auto rf = static_cast<int16_t>(pick(1, n));
      topics[name] = topic(name, assign_replicas(brokers, 0, parts, rf, static_cast<int32_t>(pick(0, n - 1)),
                                                 static_cast<int32_t>(pick(0, n - 1))));
      if (chance(0.3)) unclean_topics.insert(name);
    }
    const std::function<bool(const std::string&)> unclean = [&](const std::string& t) {
      return unclean_topics.contains(t);
    };
    std::set<int32_t> live;
    for (const auto& b : brokers)
      if (chance(0.7)) live.insert(b.id);
    States states;
    int64_t revision = 100;
    auto apply = [&](const std::vector<PartitionWrite>& writes) {
      for (const auto& w : writes) {
        PartitionState& s = states[{w.topic, w.partition}];
        const int64_t version = s.partition_epoch;
        s = w.state;
        s.partition_epoch = version + 1;
        s.mod_revision = ++revision;
      }
    };

    for (int step = 0; step < 10; ++step) {
      SCOPED_TRACE("step " + std::to_string(step) + ", live " + show(std::vector<int32_t>(live.begin(), live.end())));
      const auto writes = reconcile(topics, states, live, unclean, 1);
      for (const auto& w : writes) {
        auto it = states.find({w.topic, w.partition});
        const std::string wrong =
            check_write(w, it == states.end() ? nullptr : &it->second, unclean_topics.contains(w.topic));
        ASSERT_EQ(wrong, "") << w.topic << "-" << w.partition << " "
                             << (it == states.end() ? "(none)" : show(it->second)) << " -> " << show(w.state);
      }
      apply(writes);
      for (const auto& [name, t] : topics)
        for (int32_t p = 0; p < t.partitions; ++p) {
          const auto& R = t.assignment[p];
          auto it = states.find({name, p});
          if (it == states.end()) {
            ASSERT_TRUE(std::none_of(R.begin(), R.end(), [&](int32_t r) { return live.contains(r); }))
                << name << "-" << p << " has a live replica " << show(R) << " but was not created";
            continue;
          }
          ASSERT_EQ(check_state(R, it->second, live, unclean_topics.contains(name)), "")
              << name << "-" << p << " R " << show(R) << " " << show(it->second);
        }
      ASSERT_EQ(reconcile(topics, states, live, unclean, 1), std::vector<PartitionWrite>{}) << "(5) not idempotent";

      // The world moves on: leaders re-admit caught-up live followers (AlterPartition: partition
      // epoch only), an operator runs a preferred election now and then, brokers die and return.
      for (auto& [key, s] : states) {
        const auto& R = topics.at(key.first).assignment[key.second];
        if (s.leader != -1 && chance(0.3)) {
          std::vector<int32_t> isr;
          for (int32_t r : R)
            if (in(s.isr, r) || (live.contains(r) && chance(0.5))) isr.push_back(r);
          if (isr != s.isr) {
            s.isr = isr;
            ++s.partition_epoch;
            s.mod_revision = ++revision;
          }
        }
        if (chance(0.1))
          if (auto next = preferred_leader_state(R, s, live)) {
            *next = {next->leader, next->leader_epoch, next->isr, 1, s.partition_epoch + 1, ++revision};
            s = *next;
          }
      }
      for (const auto& b : brokers)
        if (chance(0.25) && !live.erase(b.id)) live.insert(b.id);
    }
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace ferry::broker::replication
