// EtcdMetadataStore's cluster-state writes against real etcd: a reassignment stored with the topic
// and read back by another store, put_topic_if's compare-and-set (the topic and its partition
// states in one transaction, nothing written when either moved on), a malformed reassignment named
// and ignored, and refresh() bringing a copy up to date.
#include <gtest/gtest.h>

#include <thread>

#include "broker/metadata/etcd_metadata_store.h"
#include "common/testing/etcd_cluster.h"

namespace ferry::broker {
namespace {

using namespace std::chrono_literals;
using ferry::testing::EtcdCluster;
using ferry::testing::eventually;
using replication::PartitionState;
using replication::PartitionWrite;

std::unique_ptr<EtcdMetadataStore> open(const EtcdCluster& e) {
  return std::make_unique<EtcdMetadataStore>(ferry::testing::client_options(e.endpoints()), "/c");
}

TopicMetadata moving_topic() {
  TopicMetadata t;
  t.name = "orders";
  static const std::string id = random_kafka_uuid();
  t.topic_id = id;
  t.partitions = 2;
  t.replication_factor = 2;
  t.assignment = {{3, 2, 1}, {1, 2}};
  t.reassignments[0] = {{3}, {1}};
  return t;
}

PartitionState leader(int32_t id, int32_t epoch, std::vector<int32_t> isr) {
  PartitionState s;
  s.leader = id;
  s.leader_epoch = epoch;
  s.isr = std::move(isr);
  return s;
}

TEST(EtcdClusterState, AReassignmentIsStoredWithTheTopicAndCompletedByCompareAndSet) {
  EtcdCluster etcd(1);
  auto a = open(etcd);
  auto b = open(etcd);
  a->put_topic(moving_topic());
  ASSERT_TRUE(eventually([&] { return b->topic("orders").has_value(); }));
  auto read = *b->topic("orders");
  EXPECT_EQ(read, moving_topic());
  EXPECT_GT(read.mod_revision, 0);
  ASSERT_EQ(a->write_partition_states({PartitionWrite{"orders", 0, leader(1, 0, {1, 2, 3}), 0}}, 0), 1u);
  ASSERT_TRUE(eventually([&] { return b->partition_state("orders", 0).has_value(); }));

  // Completion: the topic and the state in one transaction, both compared.
  TopicMetadata done = *b->topic("orders");
  done.assignment[0] = {3, 2};
  done.reassignments.clear();
  const auto state = *b->partition_state("orders", 0);
  const PartitionWrite w{"orders", 0, leader(3, 1, {3, 2}), state.mod_revision};
  // A stale topic revision: nothing is written, not even the partition state.
  TopicMetadata stale = done;
  stale.mod_revision = read.mod_revision - 1;
  EXPECT_FALSE(b->put_topic_if(stale, {w}));
  EXPECT_EQ(a->partition_state("orders", 0)->leader, 1);
  // A stale state revision: the same.
  EXPECT_FALSE(b->put_topic_if(done, {PartitionWrite{"orders", 0, w.state, state.mod_revision + 100}}));
  EXPECT_EQ(b->topic("orders")->assignment[0], (std::vector<int32_t>{3, 2, 1}));
  // Both current: both written, and the other store sees both.
  EXPECT_TRUE(b->put_topic_if(done, {w}));
  EXPECT_TRUE(eventually([&] { return a->topic("orders") == done && a->partition_state("orders", 0)->leader == 3; }));
  EXPECT_TRUE(a->topic("orders")->reassignments.empty());
  // A new topic is written only if absent (mod_revision 0).
  TopicMetadata fresh = moving_topic();
  fresh.name = "fresh";
  EXPECT_TRUE(a->put_topic_if(fresh));
  EXPECT_FALSE(a->put_topic_if(fresh));
}

TEST(EtcdClusterState, AMalformedReassignmentIsNamedAndTheTopicTreatedAsAbsent) {
  EtcdCluster etcd(1);
  auto store = open(etcd);
  etcd::Client raw(ferry::testing::client_options(etcd.endpoints()));
  const std::string key = store->topic_key("bad");
  // Broker 9 is moved but is not a replica of partition 0.
  raw.put(key, R"({"topic_id": "AAAAAAAAAAAAAAAAAAAAAA", "partitions": 1, "replication_factor": 1,
                  "assignment": [[1]], "reassignments": {"0": {"adding": [9], "removing": []}}})");
  ASSERT_TRUE(eventually([&] { return store->malformed_keys() == std::vector<std::string>{key}; }));
  EXPECT_FALSE(store->topic("bad").has_value());
  raw.put(key, R"({"topic_id": "AAAAAAAAAAAAAAAAAAAAAA", "partitions": 1, "replication_factor": 1,
                  "assignment": [[1, 9]], "reassignments": {"0": {"adding": [9], "removing": []}}})");
  ASSERT_TRUE(eventually([&] { return store->topic("bad").has_value(); }));
  EXPECT_TRUE(store->malformed_keys().empty());
  EXPECT_EQ(store->topic("bad")->reassignments.at(0).adding, (std::vector<int32_t>{9}));
}

TEST(EtcdClusterState, RefreshReturnsWithTheCopyCurrent) {
  EtcdCluster etcd(1);
  auto store = open(etcd);
  etcd::Client raw(ferry::testing::client_options(etcd.endpoints()));
  raw.put(store->partition_key("t", 0), R"({"leader": 2, "leader_epoch": 4, "isr": [2], "controller_epoch": 1})");
  store->refresh(5s);
  ASSERT_TRUE(store->partition_state("t", 0).has_value());
  EXPECT_EQ(store->partition_state("t", 0)->leader_epoch, 4);
  // Concurrent refreshes all return.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { store->refresh(5s); });
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace ferry::broker
