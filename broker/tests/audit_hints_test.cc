// Which authorization checks reach the audit observer (security::AuditHint): a decision about the
// request is an event; a check that only filters a listing is not; a cluster-wide shortcut
// (CREATE on the cluster before per-topic CREATE, DESCRIBE on the cluster in ListGroups) is an
// event only when it allows (Kafka's Action.logIfAllowed / logIfDenied). Handlers run in-process
// against an AclAuthorizer with a recording observer.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <mutex>

#include "broker/core/group_metadata.h"
#include "broker/core/replica_manager.h"
#include "broker/groups/coordinator.h"
#include "broker/metadata/metadata_store.h"
#include "broker/server/handlers.h"
#include "common/metrics.h"
#include "common/testing/temp_dir.h"

using namespace ferry;
using namespace ferry::broker;
using security::Operation;
using security::ResourceType;

namespace {

struct Recorder : security::AuthorizationObserver {
  std::mutex mu;
  std::vector<std::string> events;  // "OPERATION TYPE:name allowed|denied"
  void on_decision(const security::RequestIdentity&, Operation op, const security::Resource& r,
                   const security::Decision& d) override {
    std::lock_guard lk(mu);
    events.push_back(fmt::format("{} {}:{} {}", security::operation_name(static_cast<int8_t>(op)),
                                 security::resource_type_name(static_cast<int8_t>(r.type)), r.name,
                                 d.allowed ? "allowed" : "denied"));
  }
};

struct InProcessBroker {
  ferry::testing::TempDir dir;
  BrokerConfig config;
  metrics::Registry metrics;
  std::unique_ptr<FileMetadataStore> store;
  std::unique_ptr<ReplicaManager> replicas;
  std::shared_ptr<GroupMetadataManager> group_metadata;
  std::unique_ptr<groups::GroupCoordinator> coordinator;
  security::AclAuthorizer authorizer{{}, false};
  Recorder recorder;
  std::unique_ptr<BrokerServices> services;
  std::unique_ptr<Handlers> handlers;

  InProcessBroker()
      : config(config::load_toml(broker_schema(),
                                 "offsets.topic.num.partitions = 1\nlog.dirs = \"" + (dir.path / "logs").string() + "\"\n",
                                 "t")) {
    std::filesystem::create_directories(dir.path / "logs");
    store = std::make_unique<FileMetadataStore>(dir.path / "meta.toml");
    replicas = std::make_unique<ReplicaManager>(config, *store, metrics);
    replicas->startup();
    group_metadata = std::make_shared<GroupMetadataManager>(*replicas, config);
    group_metadata->load(0);
    coordinator = std::make_unique<groups::GroupCoordinator>(groups::CoordinatorConfig{}, group_metadata, 0);
    authorizer.set_observer(&recorder);
    services.reset(new BrokerServices{config, *replicas, *store, authorizer, metrics, *coordinator, *group_metadata,
                                      "cluster", {}, {}});
    services->acls = &authorizer;
    handlers = std::make_unique<Handlers>(*services);
  }
  ~InProcessBroker() {
    handlers.reset();
    coordinator.reset();
    group_metadata.reset();
    replicas->shutdown();
  }

  template <class R>
  typename R::Response call(R req, int16_t version) {
    boost::asio::io_context io;
    RequestContext ctx;
    ctx.header.api_version = version;
    ctx.identity.client_host = "127.0.0.1";
    ctx.executor = io.get_executor();
    typename R::Response out;
    boost::asio::co_spawn(io, handlers->handle(req, ctx), [&](std::exception_ptr e, typename R::Response r) {
      if (e) std::rethrow_exception(e);
      out = std::move(r);
    });
    io.run();
    return out;
  }
  std::vector<std::string> take_events() {
    std::lock_guard lk(recorder.mu);
    return std::exchange(recorder.events, {});
  }
};

security::AclBinding allow(int8_t type, std::string name, Operation op) {
  return {type, std::move(name), 3, "User:ANONYMOUS", "*", static_cast<int8_t>(op), 3};
}

}  // namespace

TEST(AuditHints, ListingFiltersAreQuietAndNamedTopicsAreEvents) {
  InProcessBroker b;
  ASSERT_TRUE(b.replicas->create_topic("open", 1, 1, {}, false).ok());
  ASSERT_TRUE(b.replicas->create_topic("closed", 1, 1, {}, false).ok());
  b.authorizer.add({allow(2, "open", Operation::Describe)});
  b.take_events();

  protocol::MetadataRequest all;  // null topics: every topic
  auto r = b.call(all, 9);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].name, "open");
  EXPECT_EQ(b.take_events(), std::vector<std::string>{}) << "an all-topics listing only filters";

  protocol::MetadataRequest named;
  named.topics.emplace();
  named.topics->push_back({});
  named.topics->back().name = "closed";
  named.allow_auto_topic_creation = false;
  r = b.call(named, 9);
  EXPECT_EQ(r.topics.at(0).error_code, protocol::ErrorCode::TOPIC_AUTHORIZATION_FAILED);
  EXPECT_EQ(b.take_events(), std::vector<std::string>{"DESCRIBE TOPIC:closed denied"});
}

TEST(AuditHints, ClusterShortcutIsAnEventOnlyWhenItAllows) {
  InProcessBroker b;
  protocol::CreateTopicsRequest req;
  req.topics.push_back({});
  req.topics.back().name = "t1";
  req.topics.back().num_partitions = 1;
  req.topics.back().replication_factor = 1;
  b.call(req, 4);
  EXPECT_EQ(b.take_events(), std::vector<std::string>{"CREATE TOPIC:t1 denied"});

  b.authorizer.add({allow(4, "kafka-cluster", Operation::Create)});
  auto r = b.call(req, 4);
  EXPECT_EQ(r.topics.at(0).error_code, protocol::ErrorCode::NONE);
  EXPECT_EQ(b.take_events(), std::vector<std::string>{"CREATE CLUSTER:kafka-cluster allowed"});

  // ListGroups without DESCRIBE on the cluster: neither the cluster check nor the per-group
  // filter is an event.
  b.call(protocol::ListGroupsRequest{}, 3);
  EXPECT_EQ(b.take_events(), std::vector<std::string>{});
}
