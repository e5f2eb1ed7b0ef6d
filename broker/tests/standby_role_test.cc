// The disaster-recovery role (ferry.cluster.role) as ferry-dr drives it: resolved from node entity,
// cluster-wide default, file and built-in default; validated; persisted across a restart; exported
// as a gauge.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "broker/config/broker_config.h"
#include "broker/tests/broker_config_parse.h"
#include "broker/core/replica_manager.h"
#include "broker/metadata/metadata_store.h"
#include "common/metrics.h"
#include "common/testing/temp_dir.h"

using namespace ferry;
using namespace ferry::broker;
using protocol::ErrorCode;

namespace {

using ferry::testing::TempDir;

// One broker's role state over a metadata file that outlives it, as a restart sees it.
struct Node {
  BrokerConfig config;
  metrics::Registry metrics;
  std::unique_ptr<FileMetadataStore> store;
  std::unique_ptr<ReplicaManager> replicas;

  Node(const TempDir& dir, const std::string& extra_toml)
      : config(parse_broker_config("node.id = 7\nlog.dirs = \"" + (dir.path / "logs").string() + "\"\n" + extra_toml)) {
    std::filesystem::create_directories(dir.path / "logs");
    store = std::make_unique<FileMetadataStore>(dir.path / "meta.toml");
    replicas = std::make_unique<ReplicaManager>(config, *store, metrics);
    replicas->startup();
  }
  ~Node() {
    replicas.reset();
    store.reset();
  }
  bool exports(const std::string& sample) const { return metrics.serialize().find(sample) != std::string::npos; }
};

}  // namespace

TEST(StandbyRole, KeysAreDynamicAndTheStaticValueIsChecked) {
  EXPECT_TRUE(is_dynamic_broker_key("ferry.cluster.role"));
  EXPECT_TRUE(is_dynamic_broker_key("ferry.standby.allowed.client.id.prefixes"));
  EXPECT_EQ(parse_broker_config("").values.get_string("ferry.cluster.role"), "primary");
  EXPECT_EQ(parse_broker_config("ferry.cluster.role = \"standby\"\n").values.get_string("ferry.cluster.role"), "standby");
  const std::string err = broker_config_error("ferry.cluster.role = \"passive\"\n");
  EXPECT_NE(err.find("ferry.cluster.role"), std::string::npos) << err;
  EXPECT_NE(err.find("passive"), std::string::npos) << err;
  EXPECT_NE(err.find("standby"), std::string::npos) << err;
}

TEST(StandbyRole, ClusterDefaultFencesApplicationsButNotTheMirror) {
  TempDir dir;
  Node n(dir, "");
  EXPECT_FALSE(n.replicas->standby());
  EXPECT_TRUE(n.replicas->produce_allowed("orders-service"));
  EXPECT_TRUE(n.exports("ferry_broker_cluster_role{role=\"primary\"} 1"));

  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "standby"}}, false).ok());
  EXPECT_TRUE(n.replicas->standby());
  EXPECT_FALSE(n.replicas->produce_allowed("orders-service"));
  EXPECT_FALSE(n.replicas->produce_allowed(""));
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirro"));
  EXPECT_TRUE(n.replicas->produce_allowed("ferry-mirror-target"));
  EXPECT_TRUE(n.replicas->produce_allowed("ferry-mirror-offset-syncs"));
  EXPECT_TRUE(n.exports("ferry_broker_cluster_role{role=\"standby\"} 1"));
  EXPECT_TRUE(n.exports("ferry_broker_cluster_role{role=\"primary\"} 0"));
}

TEST(StandbyRole, ValidateOnlyAndBadValuesLeaveTheRoleAlone) {
  TempDir dir;
  Node n(dir, "");
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "standby"}}, true).ok());
  EXPECT_FALSE(n.replicas->standby());

  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "standby"}}, false).ok());
  auto r = n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "passive"}}, false);
  EXPECT_EQ(r.code, ErrorCode::INVALID_CONFIG);
  EXPECT_NE(r.message.find("ferry.cluster.role"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("passive"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("primary, standby"), std::string::npos) << r.message;
  EXPECT_TRUE(n.replicas->standby());
  EXPECT_EQ(n.replicas->dynamic_broker_configs("").at("ferry.cluster.role"), "standby");
}

TEST(StandbyRole, NodeEntityWinsOverTheClusterDefaultAndDeletionFallsBack) {
  TempDir dir;
  Node n(dir, "ferry.cluster.role = \"standby\"\n");
  EXPECT_TRUE(n.replicas->standby());  // the file's initial role
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "primary"}}, false).ok());
  EXPECT_FALSE(n.replicas->standby());
  ASSERT_TRUE(n.replicas->alter_broker_configs("7", {{"ferry.cluster.role", "standby"}}, false).ok());
  EXPECT_TRUE(n.replicas->standby());
  ASSERT_TRUE(n.replicas->alter_broker_configs("7", {}, false).ok());
  EXPECT_FALSE(n.replicas->standby());
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {}, false).ok());
  EXPECT_TRUE(n.replicas->standby());  // back to the file
}

TEST(StandbyRole, AllowedPrefixesComeFromTheFileOrADynamicList) {
  TempDir dir;
  Node n(dir, "ferry.cluster.role = \"standby\"\nferry.standby.allowed.client.id.prefixes = [\"repl-\"]\n");
  EXPECT_TRUE(n.replicas->produce_allowed("repl-1"));
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirror-target"));
  ASSERT_TRUE(
      n.replicas->alter_broker_configs("", {{"ferry.standby.allowed.client.id.prefixes", "a-, ferry-mirror"}}, false)
          .ok());
  EXPECT_TRUE(n.replicas->produce_allowed("a-x"));
  EXPECT_TRUE(n.replicas->produce_allowed("ferry-mirror-admin"));
  EXPECT_FALSE(n.replicas->produce_allowed("repl-1"));
  // An empty list fences everyone, the mirror too; an empty prefix must not match everything.
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.standby.allowed.client.id.prefixes", ""}}, false).ok());
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirror-target"));
  EXPECT_FALSE(n.replicas->produce_allowed(""));
}

// With SASL a client.id is no credential: a standby whose ferry.standby.allowed.principals names the
// mirror refuses an application that calls itself ferry-mirror, and the mirror itself is served.
TEST(StandbyRole, AllowedPrincipalsMustAlsoMatchWhenSet) {
  TempDir dir;
  Node n(dir, "ferry.cluster.role = \"standby\"\nferry.standby.allowed.principals = [\"User:mirror\"]\n");
  EXPECT_TRUE(n.replicas->produce_allowed("ferry-mirror-target", "User:mirror"));
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirror-target", "User:app"));
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirror-target"));  // unauthenticated
  EXPECT_FALSE(n.replicas->produce_allowed("orders-service", "User:mirror"));  // the prefix still counts
  // Dynamic, and checked: an entry without Type: is INVALID_CONFIG and changes nothing.
  auto bad = n.replicas->alter_broker_configs("", {{"ferry.standby.allowed.principals", "mirror"}}, false);
  EXPECT_EQ(bad.code, protocol::ErrorCode::INVALID_CONFIG);
  EXPECT_NE(bad.message.find("Type:name"), std::string::npos) << bad.message;
  EXPECT_FALSE(n.replicas->produce_allowed("ferry-mirror-target", "User:app"));
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.standby.allowed.principals", ""}}, false).ok());
  EXPECT_TRUE(n.replicas->produce_allowed("ferry-mirror-target", "User:app"));  // empty: the prefix alone
  // A primary serves everyone.
  ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "primary"},
                                                    {"ferry.standby.allowed.principals", "User:mirror"}}, false).ok());
  EXPECT_TRUE(n.replicas->produce_allowed("orders-service", "User:app"));
}

TEST(StandbyRole, ABadAllowedPrincipalInTheFileNamesTheKey) {
  const std::string err = broker_config_error("ferry.standby.allowed.principals = [\"User:mirror\", \"mirror\"]\n");
  EXPECT_NE(err.find("ferry.standby.allowed.principals"), std::string::npos) << err;
  EXPECT_NE(err.find("\"mirror\""), std::string::npos) << err;
}

TEST(StandbyRole, ARestartedStandbyIsStillFenced) {
  TempDir dir;
  {
    Node n(dir, "");
    ASSERT_TRUE(n.replicas->alter_broker_configs("", {{"ferry.cluster.role", "standby"}}, false).ok());
  }
  {
    Node n(dir, "");
    EXPECT_TRUE(n.replicas->standby());
    EXPECT_FALSE(n.replicas->produce_allowed("orders-service"));
    EXPECT_TRUE(n.exports("ferry_broker_cluster_role{role=\"standby\"} 1"));
    ASSERT_TRUE(n.replicas->alter_broker_configs("", {}, false).ok());
  }
  Node n(dir, "");
  EXPECT_FALSE(n.replicas->standby());
}
