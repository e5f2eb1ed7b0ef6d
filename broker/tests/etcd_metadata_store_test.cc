// The etcd metadata store against real etcd members (no mock): the same contract as the file
// store (run on both), then what only a store shared by several brokers has to get right —
// changes seen by the other brokers, producer id blocks reserved concurrently, garbage in etcd,
// a member killed, etcd gone, a compacted watch.
#include "common/testing/property_seed.h"
#include "broker/metadata/etcd_metadata_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "common/testing/etcd_cluster.h"
#include "common/testing/temp_dir.h"

namespace ferry::broker {
void PrintTo(const TopicMetadata& t, std::ostream* os) {
  *os << t.name << "(id " << t.topic_id << ", " << t.partitions << " partitions, rf " << t.replication_factor << ", "
      << t.configs.size() << " configs)";
}
}  // namespace ferry::broker
namespace ferry::security {
void PrintTo(const AclBinding& b, std::ostream* os) { *os << b.to_string(); }
void PrintTo(const ScramCredential& c, std::ostream* os) {
  *os << scram_mechanism_name(c.mechanism) << "/" << c.iterations << "/salt " << base64_encode(c.salt);
}
}  // namespace ferry::security

namespace {

using namespace ferry;
using namespace ferry::broker;
using namespace std::chrono_literals;
using Change = EtcdMetadataStore::Change;
using security::AclBinding;
using security::ScramMechanism;
using Clock = std::chrono::steady_clock;

using ferry::testing::eventually;

etcd::ClientOptions options_for(std::vector<std::string> endpoints) {
  return ferry::testing::client_options(std::move(endpoints));
}

/// One 1-member cluster shared by the tests that do not kill members, each on its own prefix.
ferry::testing::EtcdCluster& shared_cluster() {
  static ferry::testing::EtcdCluster cluster(1);
  return cluster;
}

std::string fresh_prefix() {
  static std::atomic<int> n{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  return "/ferry-test/" + std::to_string(++n) + "-" + name;
}

std::unique_ptr<EtcdMetadataStore> open_etcd(const std::string& prefix,
                                             std::vector<std::string> endpoints = shared_cluster().endpoints(),
                                             EtcdMetadataStoreTimeouts timeouts = {}) {
  return std::make_unique<EtcdMetadataStore>(options_for(std::move(endpoints)), prefix, timeouts);
}


TopicMetadata topic(std::string name, int32_t partitions = 3) {
  return {std::move(name), random_kafka_uuid(), partitions, 1, {{"retention.ms", "86400000"}}, {}, {}, 0};
}

AclBinding acl(std::string principal, int8_t operation = 3 /* READ */) {
  return {2 /* TOPIC */, "orders", 3 /* LITERAL */, std::move(principal), "*", operation, 3 /* ALLOW */};
}

/// Records the change kinds a listener was called with.
struct ChangeLog {
  std::mutex mu;
  std::vector<Change> seen;
  std::function<void(Change)> listener() {
    return [this](Change c) {
      std::lock_guard lk(mu);
      seen.push_back(c);
    };
  }
  bool has(Change c) {
    std::lock_guard lk(mu);
    return std::find(seen.begin(), seen.end(), c) != seen.end();
  }
  void clear() {
    std::lock_guard lk(mu);
    seen.clear();
  }
};

// ---------------------------------------------------------------------------------------------
// The contract, on both stores

struct FileBackend {
  static constexpr const char* kName = "File";
  ferry::testing::TempDir dir{"ferry-meta"};
  std::unique_ptr<MetadataStore> open() { return std::make_unique<FileMetadataStore>(dir.path / "metadata.toml"); }
};

struct EtcdBackend {
  static constexpr const char* kName = "Etcd";
  std::string prefix = fresh_prefix();
  std::unique_ptr<MetadataStore> open() { return open_etcd(prefix); }
};

template <class Backend>
class MetadataStoreContract : public ::testing::Test {
 protected:
  Backend backend;
};

struct BackendName {
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};
using Backends = ::testing::Types<FileBackend, EtcdBackend>;
TYPED_TEST_SUITE(MetadataStoreContract, Backends, BackendName);

TYPED_TEST(MetadataStoreContract, TopicsPutReplaceDeleteAndSurviveReopen) {
  auto store = this->backend.open();
  EXPECT_TRUE(store->topics().empty());
  TopicMetadata orders = topic("orders");
  const TopicMetadata payments{"payments", random_kafka_uuid(), 1, 3, {}, {}, {}, 0};
  store->put_topic(orders);
  store->put_topic(payments);
  EXPECT_EQ(store->topic("orders"), orders);
  EXPECT_EQ(store->topics(), (std::vector{orders, payments}));
  orders.partitions = 6;
  orders.configs["cleanup.policy"] = "compact";
  store->put_topic(orders);
  EXPECT_EQ(store->topic("orders"), orders);
  store->delete_topic("payments");
  store->delete_topic("never-existed");
  EXPECT_EQ(store->topic("payments"), std::nullopt);
  store.reset();
  store = this->backend.open();
  EXPECT_EQ(store->topics(), std::vector{orders});
}

TYPED_TEST(MetadataStoreContract, ClusterIdIsAKafkaUuidStableAcrossReopen) {
  auto store = this->backend.open();
  const std::string id = store->cluster_id();
  EXPECT_TRUE(parse_kafka_uuid(id)) << id;
  EXPECT_EQ(store->cluster_id(), id);
  store.reset();
  EXPECT_EQ(this->backend.open()->cluster_id(), id);
}

TYPED_TEST(MetadataStoreContract, BrokerConfigsIncludingTheDefaultEntity) {
  auto store = this->backend.open();
  store->put_broker_configs("", {{"log.retention.ms", "1000"}});
  store->put_broker_configs("1", {{"log.cleaner.threads", "2"}, {"num.io.threads", "8"}});
  store->put_broker_configs("2", {{"num.io.threads", "4"}});
  using Configs = std::map<std::string, std::map<std::string, std::string>>;
  EXPECT_EQ(store->broker_configs(), (Configs{{"", {{"log.retention.ms", "1000"}}},
                                              {"1", {{"log.cleaner.threads", "2"}, {"num.io.threads", "8"}}},
                                              {"2", {{"num.io.threads", "4"}}}}));
  store->put_broker_configs("1", {{"num.io.threads", "16"}});  // replaces, not merges
  store->put_broker_configs("2", {});                          // removes the entity
  store->put_broker_configs("3", {});                          // absent: nothing to remove
  const Configs expected{{"", {{"log.retention.ms", "1000"}}}, {"1", {{"num.io.threads", "16"}}}};
  EXPECT_EQ(store->broker_configs(), expected);
  store.reset();
  EXPECT_EQ(this->backend.open()->broker_configs(), expected);
}

TYPED_TEST(MetadataStoreContract, ProducerIdBlocksNeverOverlapAndGrowAcrossReopen) {
  auto store = this->backend.open();
  const int64_t a = store->reserve_producer_ids(10);
  const int64_t b = store->reserve_producer_ids(1000);
  EXPECT_GE(a, 0);
  EXPECT_GE(b, a + 10);
  store.reset();
  store = this->backend.open();
  const int64_t c = store->reserve_producer_ids(1);
  EXPECT_GE(c, b + 1000);
}

TYPED_TEST(MetadataStoreContract, ScramUpsertAndDeleteInOneCallSurviveReopen) {
  auto store = this->backend.open();
  const auto alice256 = security::make_scram_credential(ScramMechanism::Sha256, "alice-secret", 4096);
  const auto alice512 = security::make_scram_credential(ScramMechanism::Sha512, "alice-secret", 4096);
  const auto bob256 = security::make_scram_credential(ScramMechanism::Sha256, "bob-secret", 4096);
  store->alter_scram_credentials({{"alice", alice256}, {"alice", alice512}, {"bob", bob256}}, {});
  EXPECT_EQ(store->scram_credential("alice", ScramMechanism::Sha512), alice512);
  EXPECT_EQ(store->scram_credentials().size(), 2u);
  // One call: alice's SHA-256 replaced, her SHA-512 and bob's removed, carol's (absent) ignored.
  const auto alice256b = security::make_scram_credential(ScramMechanism::Sha256, "new-secret", 8192);
  store->alter_scram_credentials({{"alice", alice256b}}, {{"alice", ScramMechanism::Sha512},
                                                          {"bob", ScramMechanism::Sha256},
                                                          {"carol", ScramMechanism::Sha256}});
  using All = std::map<std::string, std::vector<security::ScramCredential>>;
  EXPECT_EQ(store->scram_credentials(), (All{{"alice", {alice256b}}}));
  EXPECT_EQ(store->scram_credential("bob", ScramMechanism::Sha256), std::nullopt);
  store.reset();
  store = this->backend.open();
  EXPECT_EQ(store->scram_credentials(), (All{{"alice", {alice256b}}}));
  EXPECT_TRUE(security::scram_verify_password(*store->scram_credential("alice", ScramMechanism::Sha256), "new-secret"));
}

TYPED_TEST(MetadataStoreContract, AclsDuplicatesKeptOnceAbsentDeletesIgnored) {
  auto store = this->backend.open();
  const AclBinding read = acl("User:alice");
  const AclBinding deny{2, "fin-", 4 /* PREFIXED */, "User:*", "10.0.0.1", 4 /* WRITE */, 2 /* DENY */};
  const AclBinding cluster{4, "kafka-cluster", 3, "User:ops", "*", 7 /* ALTER */, 3};
  store->add_acls({read, deny, read});
  store->add_acls({read, cluster});
  EXPECT_EQ(store->acls(), (std::vector{deny, read, cluster}));  // binding order
  store->delete_acls({deny, acl("User:nobody")});
  EXPECT_EQ(store->acls(), (std::vector{read, cluster}));
  store->delete_acls({acl("User:nobody")});
  store.reset();
  EXPECT_EQ(this->backend.open()->acls(), (std::vector{read, cluster}));
}

TYPED_TEST(MetadataStoreContract, RestartBeforeAnythingWasPersisted) {
  this->backend.open().reset();
  auto store = this->backend.open();
  EXPECT_TRUE(store->topics().empty());
  EXPECT_TRUE(store->broker_configs().empty());
  EXPECT_TRUE(store->scram_credentials().empty());
  EXPECT_TRUE(store->acls().empty());
}

// ---------------------------------------------------------------------------------------------
// etcd only

TEST(EtcdMetadataStore, BadPrefixIsRefusedNamingTheKeyAndValue) {
  for (const std::string bad : {"", "ferry", "/ferry/", "/"}) {
    try {
      open_etcd(bad);
      ADD_FAILURE() << "prefix \"" << bad << "\" was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("etcd.prefix"), std::string::npos) << what;
      EXPECT_NE(what.find("\"" + bad + "\""), std::string::npos) << what;
      EXPECT_NE(what.find("starts with \"/\""), std::string::npos) << what;
    }
  }
}

TEST(EtcdMetadataStore, TwoStoresSeeEachOthersChangesAndListenersFire) {
  const std::string prefix = fresh_prefix();
  ChangeLog a_log, b_log;  // before the stores: their watches may call the listeners until they go
  auto a = open_etcd(prefix);
  auto b = open_etcd(prefix);
  a->set_change_listener(a_log.listener());
  b->set_change_listener(b_log.listener());

  a->put_topic(topic("orders"));
  EXPECT_TRUE(eventually([&] { return b->topic("orders").has_value(); }));
  EXPECT_TRUE(eventually([&] { return b_log.has(Change::kTopics); }));
  EXPECT_TRUE(eventually([&] { return a_log.has(Change::kTopics); })) << "own writes notify too";
  EXPECT_FALSE(b_log.has(Change::kAcls));

  b->put_broker_configs("", {{"log.retention.ms", "1000"}});
  EXPECT_TRUE(eventually([&] { return a->broker_configs().count("") == 1; }));
  EXPECT_TRUE(eventually([&] { return a_log.has(Change::kBrokerConfigs); }));

  a->alter_scram_credentials({{"alice", security::make_scram_credential(ScramMechanism::Sha256, "pw", 4096)}}, {});
  EXPECT_TRUE(eventually([&] { return b->scram_credential("alice", ScramMechanism::Sha256).has_value(); }));
  EXPECT_TRUE(eventually([&] { return b_log.has(Change::kScram); }));

  b_log.clear();
  a->add_acls({acl("User:alice")});
  EXPECT_TRUE(eventually([&] { return b->acls().size() == 1; }));
  EXPECT_TRUE(eventually([&] { return b_log.has(Change::kAcls); }));

  b->delete_topic("orders");
  EXPECT_EQ(b->topic("orders"), std::nullopt);  // read-your-writes
  EXPECT_TRUE(eventually([&] { return !a->topic("orders").has_value(); }));
  EXPECT_EQ(a->cluster_id(), b->cluster_id());
}

TEST(EtcdMetadataStore, RacingStoresAgreeOnTheClusterId) {
  const std::string prefix = fresh_prefix();
  std::vector<std::unique_ptr<EtcdMetadataStore>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(open_etcd(prefix));
  std::vector<std::string> ids(stores.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < stores.size(); ++i) threads.emplace_back([&, i] { ids[i] = stores[i]->cluster_id(); });
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(open_etcd(prefix)->cluster_id(), ids[0]);
}

TEST(EtcdMetadataStore, DeletingWhatIsAbsentReturnsAtOnceAfterOtherPrefixesWrote) {
  // The reply's revision is then another prefix's write, which this store's watch never sees.
  const std::string prefix = fresh_prefix();
  auto store = open_etcd(prefix);
  etcd::Client raw(options_for(shared_cluster().endpoints()));
  raw.put(prefix + "-elsewhere/x", "1");
  const auto start = Clock::now();
  store->delete_topic("absent");
  store->delete_acls({acl("User:absent")});
  store->put_broker_configs("7", {});
  store->alter_scram_credentials({}, {{"absent", ScramMechanism::Sha256}});
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(EtcdMetadataStore, MoreThan128OperationsAreRefusedAndNothingIsWritten) {
  auto store = open_etcd(fresh_prefix());
  std::vector<AclBinding> acls;
  for (int i = 0; i < 129; ++i) acls.push_back(acl("User:u" + std::to_string(i)));
  try {
    store->add_acls(acls);
    ADD_FAILURE() << "129 ACLs were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("128"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(store->acls().empty());
  acls.pop_back();
  store->add_acls(acls);  // exactly the limit is fine
  EXPECT_EQ(store->acls().size(), 128u);
  acls.push_back(acl("User:one-more"));
  EXPECT_THROW(store->delete_acls(acls), std::invalid_argument);
  EXPECT_EQ(store->acls().size(), 128u);
  std::vector<std::pair<std::string, security::ScramCredential>> creds;
  const auto c = security::make_scram_credential(ScramMechanism::Sha256, "pw", 4096);
  for (int i = 0; i < 129; ++i) creds.emplace_back("u" + std::to_string(i), c);
  EXPECT_THROW(store->alter_scram_credentials(creds, {}), std::invalid_argument);
  EXPECT_TRUE(store->scram_credentials().empty());
}

// Several stores (brokers) reserve blocks of random sizes at once, each on its own thread and
// its own etcd connection: the blocks never overlap and leave no hole (no write timed out here).
TEST(EtcdMetadataStore, ConcurrentProducerIdBlocksNeverOverlap_Property) {
  for (const uint64_t seed : ferry::testing::property_seeds({1, 2, 3})) {
    SCOPED_TRACE(ferry::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    const int n_stores = 2 + static_cast<int>(rng() % 3);
    const int rounds = 20 + static_cast<int>(rng() % 21);
    const std::string prefix = fresh_prefix() + "-" + std::to_string(seed);
    std::vector<std::unique_ptr<EtcdMetadataStore>> stores;
    for (int i = 0; i < n_stores; ++i) stores.push_back(open_etcd(prefix));
    struct Block {
      int64_t first, count;
      int store;
    };
    std::vector<std::vector<Block>> got(n_stores);
    std::vector<std::string> errors(n_stores);
    std::vector<std::thread> threads;
    for (int i = 0; i < n_stores; ++i) {
      threads.emplace_back([&, i, thread_seed = rng()] {
        std::mt19937_64 r(thread_seed);
        try {
          for (int k = 0; k < rounds; ++k) {
            const int64_t count = 1 + static_cast<int64_t>(r() % 1000);
            got[i].push_back({stores[i]->reserve_producer_ids(count), count, i});
          }
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    std::vector<Block> all;
    int64_t total = 0;
    for (const auto& g : got)
      for (const auto& b : g) all.push_back(b), total += b.count;
    ASSERT_EQ(all.size(), static_cast<size_t>(n_stores * rounds));
    std::sort(all.begin(), all.end(), [](const Block& x, const Block& y) { return x.first < y.first; });
    EXPECT_EQ(all.front().first, 0);
    for (size_t k = 1; k < all.size(); ++k) {
      const Block& prev = all[k - 1];
      ASSERT_GE(all[k].first, prev.first + prev.count)
          << "store " << all[k].store << " got [" << all[k].first << ", +" << all[k].count << ") overlapping store "
          << prev.store << "'s [" << prev.first << ", +" << prev.count << ")";
      EXPECT_EQ(all[k].first, prev.first + prev.count) << "a hole in the ids";
    }
    // Every store saw the same counter: the next block starts after all of them.
    EXPECT_EQ(stores[0]->reserve_producer_ids(1), total);
  }
}

TEST(EtcdMetadataStore, GarbageValuesAreSkippedNamedAndHealedByAValidWrite) {
  const std::string prefix = fresh_prefix();
  auto writer = open_etcd(prefix);  // for the key names and the valid writes
  writer->put_topic(topic("good"));
  etcd::Client raw(options_for(shared_cluster().endpoints()));
  const AclBinding b1 = acl("User:one"), b2 = acl("User:two");
  const std::map<std::string, std::string> garbage = {
      {writer->topic_key("nonsense"), "nonsense"},
      {writer->topic_key("typed"), R"({"topic_id": 7, "partitions": "three", "replication_factor": 1})"},
      {writer->scram_key("mallory", ScramMechanism::Sha256), "nonsense"},
      {writer->scram_key("mallory", ScramMechanism::Sha512), R"({"iterations": "many", "salt": 1})"},
      {writer->acl_key(b1), "nonsense"},
      {writer->acl_key(b2), R"({"resource_type": "TOPIC", "resource_name": ["orders"]})"},
      {writer->broker_config_key("1"), "nonsense"},
      {writer->broker_config_key(""), R"({"log.retention.ms": 1000})"},
      {writer->producer_ids_key(), "-5"},
  };
  std::vector<std::string> garbage_keys;
  for (const auto& [k, v] : garbage) raw.put(k, v), garbage_keys.push_back(k);
  raw.put(prefix + "/brokers/1", "registration, not Ferry's metadata layout");  // ignored silently
  raw.put(prefix + "/topics/good", R"({"topic_id": "", "partitions": 3, "replication_factor": 1, "x": [1]})");

  // The open store picks the garbage up through its watch; a store opened now reads it at start.
  EXPECT_TRUE(eventually([&] { return writer->malformed_keys() == garbage_keys; }));
  auto reader = open_etcd(prefix);
  EXPECT_EQ(reader->malformed_keys(), garbage_keys);
  for (auto* s : {writer.get(), reader.get()}) {
    ASSERT_EQ(s->topics().size(), 1u);  // unknown fields are ignored
    EXPECT_EQ(s->topics()[0].name, "good");
    EXPECT_TRUE(s->scram_credentials().empty());
    EXPECT_TRUE(s->acls().empty());
    EXPECT_TRUE(s->broker_configs().empty());
  }
  EXPECT_THROW(reader->reserve_producer_ids(1), std::runtime_error);  // never guesses an id

  // Valid writes through the store heal the keys; a delete heals too.
  writer->put_topic(topic("nonsense"));
  writer->alter_scram_credentials({{"mallory", security::make_scram_credential(ScramMechanism::Sha256, "pw", 4096)}},
                                  {{"mallory", ScramMechanism::Sha512}});
  writer->add_acls({b1, b2});
  writer->put_broker_configs("1", {{"num.io.threads", "4"}});
  writer->put_broker_configs("", {{"log.retention.ms", "1000"}});
  raw.put(writer->producer_ids_key(), "100");
  raw.remove(writer->topic_key("typed"));
  EXPECT_TRUE(eventually([&] { return writer->malformed_keys().empty() && reader->malformed_keys().empty(); }));
  EXPECT_EQ(reader->topics().size(), 2u);
  EXPECT_EQ(reader->acls(), (std::vector{b1, b2}));
  EXPECT_EQ(reader->broker_configs().size(), 2u);
  EXPECT_TRUE(reader->scram_credential("mallory", ScramMechanism::Sha256).has_value());
  EXPECT_EQ(reader->reserve_producer_ids(1), 100);
}

TEST(EtcdMetadataStore, WritesAndReadsGoOnWhenAMemberIsKilled) {
  ferry::testing::EtcdCluster cluster(3);
  const std::string prefix = "/ferry";
  auto a = open_etcd(prefix, cluster.endpoints());  // its client and watch start on member 0
  auto b = open_etcd(prefix, {cluster.endpoint(2), cluster.endpoint(1), cluster.endpoint(0)});
  a->put_topic(topic("before"));
  EXPECT_TRUE(eventually([&] { return b->topic("before").has_value(); }));

  cluster.kill_member(0);  // SIGKILL: possibly the leader; the store retries through the election
  EXPECT_EQ(a->topics().size(), 1u);  // reads come from the copy
  const auto start = Clock::now();
  a->put_topic(topic("after"));
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(a->topic("after").has_value());  // its watch moved to another member
  EXPECT_TRUE(eventually([&] { return b->topic("after").has_value(); }));
  b->add_acls({acl("User:alice")});
  EXPECT_TRUE(eventually([&] { return a->acls().size() == 1; }));
  EXPECT_GE(a->reserve_producer_ids(5), 0);
}

TEST(EtcdMetadataStore, AWriteWithItsOnlyEndpointDeadThrowsNamingTheEndpoint) {
  ferry::testing::EtcdCluster cluster(1);
  EtcdMetadataStoreTimeouts timeouts;
  timeouts.retry_window = 1000ms;
  auto store = open_etcd("/ferry", cluster.endpoints(), timeouts);
  store->put_topic(topic("orders"));
  cluster.kill_member(0);
  const auto start = Clock::now();
  for (int i = 0; i < 2; ++i) {
    try {
      if (i == 0)
        store->put_topic(topic("lost"));
      else
        store->reserve_producer_ids(1);
      ADD_FAILURE() << "a write to a dead etcd succeeded";
    } catch (const etcd::EtcdError& e) {
      EXPECT_TRUE(e.retriable());
      EXPECT_NE(std::string(e.what()).find(cluster.endpoint(0)), std::string::npos) << e.what();
    }
  }
  EXPECT_LT(Clock::now() - start, 8s);
  EXPECT_EQ(store->topics().size(), 1u);  // reads still answer from the copy
  // etcd down at start: the constructor says so.
  EXPECT_THROW(open_etcd("/ferry", cluster.endpoints(), timeouts), etcd::EtcdError);
}

// A store's watch falls behind a compaction (its member was down while others wrote and
// compacted): it reads everything again, tells its listener, and keeps working.
TEST(EtcdMetadataStore, ACompactedWatchReadsEverythingAgain) {
  ferry::testing::EtcdCluster cluster(3);
  const std::string prefix = "/ferry";
  ChangeLog a_log;  // before the stores: their watches may call the listener until they go
  auto a = open_etcd(prefix, {cluster.endpoint(0)});
  auto b = open_etcd(prefix, {cluster.endpoint(1), cluster.endpoint(2)});
  a->set_change_listener(a_log.listener());
  b->put_topic(topic("first"));
  EXPECT_TRUE(eventually([&] { return a->topic("first").has_value(); }));

  cluster.kill_member(0);
  b->put_topic(topic("while-down"));
  b->delete_topic("first");
  b->add_acls({acl("User:alice")});
  etcd::Client raw(options_for({cluster.endpoint(1)}));
  raw.compact(raw.put("/elsewhere", "x"));
  a_log.clear();
  cluster.restart_member(0);

  EXPECT_TRUE(eventually([&] { return a->topic("while-down").has_value() && !a->topic("first").has_value(); }));
  EXPECT_EQ(a->acls().size(), 1u);
  EXPECT_TRUE(eventually([&] { return a_log.has(Change::kTopics) && a_log.has(Change::kAcls); }));
  EXPECT_FALSE(a_log.has(Change::kScram));
  a->put_topic(topic("after"));  // and its new watch delivers its own write
  EXPECT_TRUE(a->topic("after").has_value());
  EXPECT_TRUE(eventually([&] { return b->topic("after").has_value(); }));
}

}  // namespace
