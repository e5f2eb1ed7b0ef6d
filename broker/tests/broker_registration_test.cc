// A broker's etcd registration against real etcd members: present while renewed, gone at a clean
// stop or when its lease runs out, refused for a node id a live broker holds, made again when
// lost, and a malformed one named rather than trusted.
#include "broker/metadata/broker_registration.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/testing/etcd_cluster.h"

namespace ferry::broker {
namespace {

using namespace std::chrono_literals;
using ferry::testing::EtcdCluster;

etcd::ClientOptions options_for(const EtcdCluster& e) { return ferry::testing::client_options(e.endpoints()); }

BrokerInfo info(int32_t id, const std::string& endpoint) {
  return BrokerInfo{id, "r1", {endpoint}, "inc-" + endpoint};
}

using ferry::testing::eventually;

TEST(BrokerRegistration, LivesWhileRenewedAndLeavesAtOnceWhenStopped) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  {
    BrokerRegistration r(options_for(etcd), "/f", info(3, "PLAINTEXT://h:1"), 2000ms, 300ms);
    r.register_now();
    auto live = live_brokers(c, "/f");
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].node_id, 3);
    EXPECT_EQ(live[0].rack, "r1");
    EXPECT_EQ(live[0].endpoints, std::vector<std::string>{"PLAINTEXT://h:1"});
    EXPECT_EQ(c.get("/f/brokers/ids/3").kvs.at(0).lease, r.lease_id());
    std::this_thread::sleep_for(5s);  // 2.5 session timeouts
    EXPECT_TRUE(r.registered());
    EXPECT_EQ(live_brokers(c, "/f").size(), 1u);
  }
  EXPECT_TRUE(live_brokers(c, "/f").empty());
}

TEST(BrokerRegistration, WaitsOutADeadPredecessorButRefusesALiveTwin) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  // A predecessor that died without revoking: its lease is not renewed any more.
  auto dead = c.lease_grant(2);
  c.put("/f/brokers/ids/1", broker_info_json(info(1, "PLAINTEXT://old:1")), dead.id);
  const auto start = std::chrono::steady_clock::now();
  BrokerRegistration r(options_for(etcd), "/f", info(1, "PLAINTEXT://new:1"), 2000ms, 300ms);
  r.register_now();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(live_brokers(c, "/f").at(0).endpoints.at(0), "PLAINTEXT://new:1");
  // A live twin with the same node id: refused after one session timeout, naming the holder.
  BrokerRegistration twin(options_for(etcd), "/f", info(1, "PLAINTEXT://twin:1"), 2000ms, 300ms);
  try {
    twin.register_now();
    ADD_FAILURE() << "a second live registration of node 1 was accepted";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("node.id 1"), std::string::npos) << what;
    EXPECT_NE(what.find("PLAINTEXT://new:1"), std::string::npos) << what;
  }
  EXPECT_EQ(live_brokers(c, "/f").at(0).endpoints.at(0), "PLAINTEXT://new:1");
  EXPECT_TRUE(r.registered());
}

TEST(BrokerRegistration, BrokersOfARegionRegisterSideBySide) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  BrokerRegistration first(options_for(etcd), "/f", info(1, "PLAINTEXT://a:1"), 2000ms, 300ms);
  first.register_now();
  BrokerRegistration second(options_for(etcd), "/f", info(2, "PLAINTEXT://b:2"), 2000ms, 300ms);
  const auto start = std::chrono::steady_clock::now();
  second.register_now();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // no waiting: another node id is not a restart
  // A malformed key under the prefix is skipped, not counted as a broker.
  etcd::Client raw(options_for(etcd));
  raw.put("/f/brokers/ids/9", "nonsense");
  std::vector<std::string> malformed;
  const auto live = live_brokers(c, "/f", &malformed);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].node_id, 1);
  EXPECT_EQ(live[1].node_id, 2);
  EXPECT_EQ(malformed, std::vector<std::string>{"/f/brokers/ids/9"});
  // Another prefix is another region.
  BrokerRegistration elsewhere(options_for(etcd), "/g", info(2, "PLAINTEXT://b:2"), 2000ms, 300ms);
  elsewhere.register_now();
  EXPECT_EQ(live_brokers(c, "/g").size(), 1u);
}

TEST(BrokerRegistration, ALostRegistrationIsMadeAgain) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  BrokerRegistration r(options_for(etcd), "/f", info(2, "PLAINTEXT://h:2"), 2000ms, 200ms);
  r.register_now();
  // What a long stop or a cut from etcd does: the lease ends behind the broker's back.
  c.lease_revoke(r.lease_id());
  ASSERT_TRUE(eventually([&] { return r.reregistrations() == 1; }, 5s));
  ASSERT_EQ(live_brokers(c, "/f").size(), 1u);
  EXPECT_EQ(c.get("/f/brokers/ids/2").kvs.at(0).lease, r.lease_id());
  EXPECT_TRUE(r.registered());
}

TEST(BrokerRegistration, AMalformedRegistrationIsNamedAndSkipped) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  c.put("/f/brokers/ids/4", "nonsense");
  c.put("/f/brokers/ids/5", broker_info_json(info(6, "PLAINTEXT://h:6")));  // id does not match its key
  c.put("/f/brokers/ids/7", broker_info_json(info(7, "PLAINTEXT://h:7")));
  std::vector<std::string> malformed;
  auto live = live_brokers(c, "/f", &malformed);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].node_id, 7);
  EXPECT_EQ(malformed, (std::vector<std::string>{"/f/brokers/ids/4", "/f/brokers/ids/5"}));
  std::string why;
  EXPECT_FALSE(parse_broker_info(R"({"node_id":"1","endpoints":[]})", &why));
  EXPECT_NE(why.find("node_id"), std::string::npos);
}

}  // namespace
}  // namespace ferry::broker
