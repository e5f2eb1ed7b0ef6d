// Controller election against real etcd: one winner, a takeover within the session when the
// controller dies or stops renewing, at once when it shuts down, and a deposed controller's
// epoch-guarded write refused.
#include "broker/metadata/controller_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/testing/etcd_cluster.h"

namespace ferry::broker {
namespace {

using namespace std::chrono_literals;
using ferry::testing::EtcdCluster;

etcd::ClientOptions options_for(const EtcdCluster& e) { return ferry::testing::client_options(e.endpoints()); }

using ferry::testing::eventually;

/// A candidate and what its callbacks saw.
struct Candidate {
  std::atomic<int64_t> elected{0};
  std::atomic<int> resigned{0};
  std::unique_ptr<ControllerElection> election;
  Candidate(const EtcdCluster& e, int32_t id) {
    election = std::make_unique<ControllerElection>(
        options_for(e), "/f", id, 2000ms, 200ms, [this](int64_t epoch) { elected = epoch; }, [this] { ++resigned; });
    election->start();
  }
};

std::string holder(etcd::Client& c) {
  auto g = c.get(controller_key("/f"));
  return g.kvs.empty() ? "" : g.kvs[0].value;
}

TEST(ControllerElection, OneWinsAndTheNextTakesOverAtOnceOnShutdown) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  auto a = std::make_unique<Candidate>(etcd, 1);
  ASSERT_TRUE(eventually([&] { return a->elected > 0; }, 5s));
  Candidate b(etcd, 2);
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(b.elected, 0) << "two controllers";
  EXPECT_EQ(holder(c), "1");
  const int64_t first_epoch = a->elected;
  const auto stopped = std::chrono::steady_clock::now();
  a.reset();  // a clean shutdown revokes the lease
  ASSERT_TRUE(eventually([&] { return b.elected > 0; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 1s) << "the takeover waited for a timeout";
  EXPECT_GT(b.elected, first_epoch) << "the controller epoch must grow";
  EXPECT_EQ(holder(c), "2");
  // The deposed controller's epoch no longer writes: every controller write carries it.
  auto zombie = c.txn({etcd::Compare::create_revision_is(controller_key("/f"), first_epoch)},
                      {etcd::Op::put("/f/partitions/t/0", "stale")});
  EXPECT_FALSE(zombie.succeeded);
  auto current = c.txn({etcd::Compare::create_revision_is(controller_key("/f"), b.elected)},
                       {etcd::Op::put("/f/partitions/t/0", "fresh")});
  EXPECT_TRUE(current.succeeded);
}

TEST(ControllerElection, AControllerWhoseLeaseEndsStepsDownAndAnotherTakesOver) {
  EtcdCluster etcd(1);
  etcd::Client c(options_for(etcd));
  Candidate a(etcd, 1);
  ASSERT_TRUE(eventually([&] { return a.elected > 0; }, 5s));
  Candidate b(etcd, 2);
  // What a SIGSTOP longer than the session, or a cut from etcd, does: the lease ends behind the
  // controller's back. etcd deletes the key; b wins; a learns it at its next heartbeat.
  const int64_t lease = c.get(controller_key("/f")).kvs.at(0).lease;
  c.lease_revoke(lease);
  ASSERT_TRUE(eventually([&] { return b.elected > 0; }, 5s));
  ASSERT_TRUE(eventually([&] { return a.resigned == 1; }, 5s));
  EXPECT_EQ(a.election->epoch(), 0);
  EXPECT_EQ(b.election->epoch(), b.elected.load());
  EXPECT_EQ(holder(c), "2");
  // a campaigns again and waits: still one controller.
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(holder(c), "2");
  EXPECT_EQ(a.election->epoch(), 0);
}

TEST(ControllerElection, TheControllerKeepsControlWhileItRenewsAndAnEtcdMemberDies) {
  EtcdCluster etcd(3);
  etcd::Client c(options_for(etcd));
  Candidate a(etcd, 1);
  ASSERT_TRUE(eventually([&] { return a.elected > 0; }, 5s));
  Candidate b(etcd, 2);
  etcd.kill_member(0);
  std::this_thread::sleep_for(5s);  // 2.5 sessions
  EXPECT_EQ(a.resigned, 0);
  EXPECT_EQ(b.elected, 0);
  EXPECT_EQ(holder(c), "1");
}

}  // namespace
}  // namespace ferry::broker
