// The etcd client against real etcd members (Debian's etcd-server), started per test on free
// ports: reads and writes of arbitrary bytes, compare-and-set, leases that expire, watches that
// see every change once and in order, across a member's SIGKILL too.
#include "common/etcd_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "common/testing/etcd_cluster.h"

namespace ferry::etcd {
namespace {

using namespace std::chrono_literals;
using ferry::testing::EtcdCluster;

using ferry::testing::eventually;

ClientOptions options_for(const std::vector<std::string>& endpoints) { return ferry::testing::client_options(endpoints); }

TEST(EtcdPrefixEnd, IncrementsTheLastByteAndSkipsTrailingFF) {
  EXPECT_EQ(prefix_end("/ferry/"), "/ferry0");
  EXPECT_EQ(prefix_end(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(std::string("\xff", 1)), std::string(1, '\0'));
}

TEST(EtcdEndpoints, ParsesListsAndNamesTheBadEntry) {
  EXPECT_EQ(parse_endpoints("127.0.0.1:2379, http://h:2380"), (std::vector<std::string>{"127.0.0.1:2379", "http://h:2380"}));
  for (const char* bad : {"", "h:2379,,h:2380", "nohost", "h:0", "h:99999", "https://h:2379", "h:x"}) {
    try {
      parse_endpoints(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(Client(ClientOptions{}), std::invalid_argument);
}

TEST(EtcdClient, StoresArbitraryBytesAndReadsPrefixes) {
  EtcdCluster etcd(1);
  Client c(options_for(etcd.endpoints()));
  const std::string binary_key("/t/\0\xff\x01", 6);
  const std::string binary_value("v\0\xfe", 3);
  const int64_t r1 = c.put(binary_key, binary_value);
  const int64_t r2 = c.put("/t/b", "");
  c.put("/u/outside", "x");
  EXPECT_GT(r2, r1);
  auto one = c.get(binary_key);
  ASSERT_EQ(one.kvs.size(), 1u);
  EXPECT_EQ(one.kvs[0].value, binary_value);
  EXPECT_EQ(one.kvs[0].version, 1);
  EXPECT_EQ(one.kvs[0].create_revision, r1);
  auto all = c.range("/t/", prefix_end("/t/"));
  ASSERT_EQ(all.kvs.size(), 2u);
  EXPECT_EQ(all.kvs[0].key, binary_key);  // key order: "\0" sorts first
  EXPECT_EQ(all.kvs[1].key, "/t/b");
  EXPECT_EQ(all.kvs[1].value, "");
  auto limited = c.range("/t/", prefix_end("/t/"), 1);
  EXPECT_EQ(limited.kvs.size(), 1u);
  EXPECT_TRUE(limited.more);
  EXPECT_TRUE(c.get("/t/none").kvs.empty());
  EXPECT_EQ(c.remove("/t/", prefix_end("/t/")), 2);
  EXPECT_EQ(c.remove("/t/", prefix_end("/t/")), 0);
  EXPECT_EQ(c.get("/u/outside").kvs.size(), 1u);
}

TEST(EtcdClient, CompareAndSetLetsExactlyOneWriterWin) {
  EtcdCluster etcd(1);
  Client a(options_for(etcd.endpoints()));
  Client b(options_for(etcd.endpoints()));
  // Create-if-absent: the first wins, the second is told what is there.
  auto first = a.txn({Compare::create_revision_is("/id", 0)}, {Op::put("/id", "A")}, {Op::get("/id")});
  auto second = b.txn({Compare::create_revision_is("/id", 0)}, {Op::put("/id", "B")}, {Op::get("/id")});
  EXPECT_TRUE(first.succeeded);
  EXPECT_FALSE(second.succeeded);
  ASSERT_EQ(second.ranges.size(), 1u);
  ASSERT_EQ(second.ranges[0].kvs.size(), 1u);
  EXPECT_EQ(second.ranges[0].kvs[0].value, "A");
  EXPECT_EQ(second.revision, first.revision);  // a failed Txn writes nothing
  // Racing increments with mod_revision CAS: 4 threads × 25 increments give exactly 100.
  a.put("/n", "0");
  std::vector<std::thread> threads;
  std::atomic<int> lost_rounds{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Client c(options_for(etcd.endpoints()));
      for (int i = 0; i < 25;) {
        auto cur = c.get("/n");
        const int64_t n = std::stoll(cur.kvs.at(0).value);
        auto r = c.txn({Compare::mod_revision_is("/n", cur.kvs[0].mod_revision)}, {Op::put("/n", std::to_string(n + 1))});
        if (r.succeeded) ++i; else ++lost_rounds;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a.get("/n").kvs.at(0).value, "100");
  // A range compare: "no key under /r/" holds only while the range is empty.
  EXPECT_TRUE(a.txn({Compare::range_is_empty("/r/", prefix_end("/r/"))}, {Op::put("/r/1", "x")}).succeeded);
  EXPECT_FALSE(a.txn({Compare::range_is_empty("/r/", prefix_end("/r/"))}, {Op::put("/r/2", "x")}).succeeded);
  EXPECT_TRUE(a.get("/r/2").kvs.empty());
  const int64_t seen = a.range("/r/", prefix_end("/r/")).revision;
  EXPECT_TRUE(a.txn({Compare::range_unchanged_since("/r/", prefix_end("/r/"), seen)}, {}).succeeded);
  a.put("/r/1", "changed");
  EXPECT_FALSE(a.txn({Compare::range_unchanged_since("/r/", prefix_end("/r/"), seen)}, {}).succeeded);
  // A value compare, and the transaction limits etcd enforces.
  EXPECT_TRUE(a.txn({Compare::value_is("/id", "A")}, {Op::remove("/id")}).succeeded);
  std::vector<Op> too_many;
  for (int i = 0; i < 129; ++i) too_many.push_back(Op::put("/k" + std::to_string(i), "v"));
  try {
    a.txn({}, too_many);
    ADD_FAILURE() << "129 operations accepted";
  } catch (const EtcdError& e) {
    EXPECT_EQ(e.code, 3) << e.what();
    EXPECT_FALSE(e.retriable());
  }
  EXPECT_TRUE(a.get("/k0").kvs.empty());
}

TEST(EtcdClient, ALeaseKeepsItsKeysOnlyWhileRenewed) {
  EtcdCluster etcd(1);
  Client c(options_for(etcd.endpoints()));
  auto lease = c.lease_grant(2);
  EXPECT_GE(lease.ttl_seconds, 2);
  c.put("/brokers/1", "alive", lease.id);
  EXPECT_EQ(c.get("/brokers/1").kvs.at(0).lease, lease.id);
  // Renewed every 500 ms for 3 s (longer than the TTL): the key stays.
  for (int i = 0; i < 6; ++i) {
    EXPECT_GT(c.lease_keepalive(lease.id), 0);
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(c.get("/brokers/1").kvs.size(), 1u);
  // Not renewed: gone within TTL + etcd's expiry check.
  EXPECT_TRUE(eventually([&] { return c.get("/brokers/1").kvs.empty(); }, 6000ms));
  EXPECT_EQ(c.lease_keepalive(lease.id), 0);
  // Revoke deletes at once; revoking again is not an error.
  auto l2 = c.lease_grant(60);
  c.put("/brokers/2", "alive", l2.id);
  c.lease_revoke(l2.id);
  EXPECT_TRUE(c.get("/brokers/2").kvs.empty());
  c.lease_revoke(l2.id);
  // A key cannot be attached to a lease that does not exist.
  EXPECT_THROW(c.put("/brokers/3", "x", l2.id), EtcdError);
}

TEST(EtcdClient, AnUnreachableEndpointIsNamedAndSkipped) {
  EtcdCluster etcd(1);
  const std::string dead = "127.0.0.1:" + std::to_string(ferry::testing::free_tcp_port());
  try {
    Client only_dead(options_for({dead}));
    only_dead.get("/x");
    ADD_FAILURE() << "a dead endpoint answered";
  } catch (const EtcdError& e) {
    EXPECT_TRUE(e.retriable());
    EXPECT_NE(std::string(e.what()).find(dead), std::string::npos) << e.what();
  }
  Client both(options_for({dead, etcd.endpoint(0)}));
  both.put("/x", "1");
  EXPECT_EQ(both.get("/x").kvs.at(0).value, "1");
  EXPECT_EQ(both.endpoint(), "http://" + etcd.endpoint(0));
}

/// Collects what a watch delivers.
struct Seen {
  std::mutex mu;
  std::vector<WatchEvent> events;
  std::vector<int> errors;
  size_t size() {
    std::lock_guard l(mu);
    return events.size();
  }
  Watch::EventsFn events_fn() {
    return [this](int64_t, const std::vector<WatchEvent>& batch) {
      std::lock_guard l(mu);
      events.insert(events.end(), batch.begin(), batch.end());
    };
  }
  Watch::ErrorFn error_fn() {
    return [this](const EtcdError& e) {
      std::lock_guard l(mu);
      errors.push_back(e.code);
    };
  }
};

TEST(EtcdWatch, SeesEveryChangeOnceInOrderFromItsStartRevision) {
  EtcdCluster etcd(1);
  Client c(options_for(etcd.endpoints()));
  const int64_t before = c.put("/w/before", "old");
  Seen seen;
  {
    Watch w(options_for(etcd.endpoints()), "/w/", prefix_end("/w/"), before, seen.events_fn(), seen.error_fn());
    for (int i = 0; i < 50; ++i) c.put("/w/k" + std::to_string(i % 5), std::to_string(i));
    c.remove("/w/k0");
    c.put("/x/outside", "not watched");
    ASSERT_TRUE(eventually([&] { return seen.size() >= 52; }));
    std::this_thread::sleep_for(200ms);
  }
  std::lock_guard l(seen.mu);
  ASSERT_EQ(seen.events.size(), 52u);  // the start revision's put, 50 puts, 1 delete
  EXPECT_EQ(seen.events[0].kv.key, "/w/before");
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen.events[i + 1].kv.value, std::to_string(i));
  EXPECT_EQ(seen.events[51].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(seen.events[51].kv.key, "/w/k0");
  for (size_t i = 1; i < seen.events.size(); ++i) {
    EXPECT_EQ(seen.events[i].kv.mod_revision, seen.events[i - 1].kv.mod_revision + 1);
  }
}

TEST(EtcdWatch, ACompactedStartRevisionIsReportedAndEndsTheWatch) {
  EtcdCluster etcd(1);
  Client c(options_for(etcd.endpoints()));
  const int64_t r1 = c.put("/w/a", "1");
  c.put("/w/a", "2");
  const int64_t r3 = c.put("/w/a", "3");
  c.compact(r3);
  Seen seen;
  Watch w(options_for(etcd.endpoints()), "/w/", prefix_end("/w/"), r1, seen.events_fn(), seen.error_fn());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard l(seen.mu);
    return !seen.errors.empty();
  }));
  std::lock_guard l(seen.mu);
  EXPECT_EQ(seen.errors.front(), EtcdError::kOutOfRange);
  EXPECT_TRUE(seen.events.empty());
  EXPECT_EQ(c.range("/w/", prefix_end("/w/")).kvs.at(0).value, "3");  // the present is still readable
}

TEST(EtcdWatch, SurvivesTheSigkillOfItsMemberWithoutLosingOrRepeatingAChange) {
  EtcdCluster etcd(3);
  Client writer(options_for(etcd.endpoints()));
  const int64_t start = writer.put("/w/start", "0");
  Seen seen;
  // The watch's first endpoint is member 0; the writer's list starts with it too.
  Watch w(options_for(etcd.endpoints()), "/w/", prefix_end("/w/"), start + 1, seen.events_fn(), seen.error_fn());
  std::atomic<int> written{0};
  std::thread producer([&] {
    for (int i = 0; i < 400; ++i) {
      for (;;) {
        try {
          writer.put("/w/k", std::to_string(i));
          break;
        } catch (const EtcdError& e) {
          ASSERT_TRUE(e.retriable()) << e.what();  // a put may repeat: the value tells
          std::this_thread::sleep_for(50ms);
        }
      }
      written = i + 1;
    }
  });
  ASSERT_TRUE(eventually([&] { return written >= 100; }));
  etcd.kill_member(0);
  producer.join();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard l(seen.mu);
    return !seen.events.empty() && seen.events.back().kv.value == "399";
  }, 20000ms));
  std::lock_guard l(seen.mu);
  EXPECT_FALSE(seen.errors.empty()) << "the watch never noticed its member die";
  // Every revision once, in order; every value 0..399 present (a retried put may write one twice).
  std::set<std::string> values;
  for (size_t i = 0; i < seen.events.size(); ++i) {
    values.insert(seen.events[i].kv.value);
    if (i > 0) {
      EXPECT_EQ(seen.events[i].kv.mod_revision, seen.events[i - 1].kv.mod_revision + 1) << "at " << i;
    }
  }
  EXPECT_EQ(values.size(), 400u);
}

}  // namespace
}  // namespace ferry::etcd
