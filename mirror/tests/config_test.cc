#include "mirror/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace ferry::mirror;
using ferry::config::ConfigError;

namespace {

const std::string kClusters = R"(
[clusters.east]
bootstrap.servers = "127.0.0.1:9092"
[clusters.west]
bootstrap.servers = "127.0.0.1:9093"
)";

const std::string kFlow = R"(
[[flows]]
source = "east"
target = "west"
)";

// The error message of loading `text`, or "" when it loads.
std::string error_of(const std::string& text) {
  try {
    load_mirror_config(text, "mirror.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

void expect_mentions(const std::string& error, std::initializer_list<const char*> parts) {
  ASSERT_FALSE(error.empty()) << "expected a ConfigError";
  for (const char* p : parts) EXPECT_NE(error.find(p), std::string::npos) << "'" << p << "' missing from: " << error;
}

}  // namespace

TEST(MirrorConfig, FullExampleLoads) {
  auto c = load_mirror_config(R"(
[mirror]
status.listener = "127.0.0.1:0"
log.level = "debug"

[clusters.east]
bootstrap.servers = "10.0.0.1:9092,10.0.0.2:9092"
[clusters.east.client]
"security.protocol" = "ssl"
ssl.ca.location = "/etc/ca.pem"
"socket.timeout.ms" = 30000
"enable.ssl.certificate.verification" = false
"linger.ms" = 0.5

[clusters.west]
bootstrap.servers = "10.1.0.1:9092"

[[flows]]
source = "east"
target = "west"
topics = "orders.*, payments"
"topics.exclude" = ["orders-tmp"]
groups = ["app-.*"]
"replication.policy" = "identity"
"emit.checkpoints.interval.seconds" = 10
"sync.group.offsets.enabled" = false
"offset.lag.max" = 0
"replication.factor" = 3

[[flows]]
source = "west"
target = "east"
"replication.policy" = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
"replication.policy.separator" = "_"
)",
                              "mirror.toml");
  EXPECT_EQ(c.status_listener, "127.0.0.1:0");
  EXPECT_EQ(c.log_level, "debug");
  ASSERT_EQ(c.clusters.size(), 2u);
  const auto& east = c.clusters.at("east");
  EXPECT_EQ(east.bootstrap_servers, "10.0.0.1:9092,10.0.0.2:9092");
  EXPECT_EQ(east.client.at("security.protocol"), "ssl");
  EXPECT_EQ(east.client.at("ssl.ca.location"), "/etc/ca.pem");  // dotted key flattened
  EXPECT_EQ(east.client.at("socket.timeout.ms"), "30000");
  EXPECT_EQ(east.client.at("enable.ssl.certificate.verification"), "false");
  EXPECT_EQ(east.client.at("linger.ms"), "0.5");
  EXPECT_TRUE(c.clusters.at("west").client.empty());

  ASSERT_EQ(c.flows.size(), 2u);
  const auto& f = c.flows[0];
  EXPECT_EQ(f.name(), "east->west");
  EXPECT_EQ(f.topics, (std::vector<std::string>{"orders.*", "payments"}));
  EXPECT_EQ(f.topics_exclude, (std::vector<std::string>{"orders-tmp"}));
  EXPECT_EQ(f.groups, (std::vector<std::string>{"app-.*"}));
  EXPECT_EQ(f.groups_exclude, default_groups_exclude());
  EXPECT_EQ(f.policy.kind(), ReplicationPolicy::Kind::kIdentity);
  EXPECT_EQ(f.emit_checkpoints_interval, std::chrono::seconds(10));
  EXPECT_FALSE(f.sync_group_offsets_enabled);
  EXPECT_EQ(f.offset_lag_max, 0);
  EXPECT_EQ(f.replication_factor, 3);
  EXPECT_TRUE(f.topic_filter().should_replicate("orders-eu"));
  EXPECT_FALSE(f.topic_filter().should_replicate("orders-tmp"));
  EXPECT_FALSE(f.topic_filter().should_replicate("audit"));
  EXPECT_TRUE(f.group_filter().should_replicate("app-1"));
  EXPECT_FALSE(f.group_filter().should_replicate("batch"));

  const auto& back = c.flows[1];
  EXPECT_EQ(back.policy.kind(), ReplicationPolicy::Kind::kDefault);
  EXPECT_EQ(back.policy.separator(), "_");
  EXPECT_EQ(back.policy.remote_topic("west", "orders"), "west_orders");
}

TEST(MirrorConfig, DefaultsAreMm2sExceptWhereFerryDiffers) {
  auto c = load_mirror_config(kClusters + kFlow, "mirror.toml");
  EXPECT_EQ(c.status_listener, "");
  EXPECT_EQ(c.log_level, "info");
  const auto& f = c.flows.at(0);
  EXPECT_EQ(f.topics, std::vector<std::string>{".*"});
  EXPECT_EQ(f.topics_exclude, (std::vector<std::string>{".*[\\-\\.]internal", ".*\\.replica", "__.*"}));
  EXPECT_EQ(f.groups, std::vector<std::string>{".*"});
  EXPECT_EQ(f.groups_exclude, (std::vector<std::string>{"console-consumer-.*", "connect-.*", "__.*"}));
  EXPECT_EQ(f.policy.kind(), ReplicationPolicy::Kind::kDefault);
  EXPECT_EQ(f.policy.separator(), ".");
  EXPECT_EQ(f.refresh_topics_interval, std::chrono::seconds(600));
  EXPECT_EQ(f.refresh_groups_interval, std::chrono::seconds(600));
  EXPECT_TRUE(f.sync_topic_configs_enabled);
  EXPECT_EQ(f.sync_topic_configs_interval, std::chrono::seconds(600));
  EXPECT_TRUE(f.emit_heartbeats_enabled);
  EXPECT_EQ(f.emit_heartbeats_interval, std::chrono::seconds(1));
  EXPECT_TRUE(f.emit_checkpoints_enabled);
  EXPECT_EQ(f.emit_checkpoints_interval, std::chrono::seconds(5));    // Ferry (MM2: 60)
  EXPECT_TRUE(f.sync_group_offsets_enabled);                          // Ferry (MM2: false)
  EXPECT_EQ(f.sync_group_offsets_interval, std::chrono::seconds(5));  // Ferry (MM2: 60)
  EXPECT_EQ(f.offset_lag_max, 100);
  EXPECT_EQ(f.replication_factor, -1);
}

TEST(MirrorConfig, DottedAndQuotedFlowKeysAreTheSame) {
  auto dotted = load_mirror_config(kClusters + kFlow + "emit.checkpoints.interval.seconds = 7\n", "t");
  auto quoted = load_mirror_config(kClusters + kFlow + "\"emit.checkpoints.interval.seconds\" = 7\n", "t");
  EXPECT_EQ(dotted.flows[0].emit_checkpoints_interval, std::chrono::seconds(7));
  EXPECT_EQ(quoted.flows[0].emit_checkpoints_interval, std::chrono::seconds(7));
}

// Regexes are full of backslashes and quotes; they must reach the filter unchanged.
TEST(MirrorConfig, RegexTextIsKeptExactly) {
  auto c =
      load_mirror_config(kClusters + kFlow + R"(topics = ["it's\\.x", 'lit\d+"q', "tab\there", "ünï"])" + "\n", "t");
  EXPECT_EQ(c.flows[0].topics, (std::vector<std::string>{"it's\\.x", "lit\\d+\"q", "tab\there", "ünï"}));
  EXPECT_TRUE(c.flows[0].topic_filter().should_replicate("lit42\"q"));
}

TEST(MirrorConfig, InvalidRegexNamesKeyRegexAndReason) {
  auto e = error_of(kClusters + kFlow + "topics = [\"ok.*\", \"orders(\"]\n");
  expect_mentions(e, {"[[flows]] #1", "'topics'", "orders(", "invalid regular expression"});
  e = error_of(kClusters + kFlow + "\"groups.exclude\" = \"a[\"\n");
  expect_mentions(e, {"'groups.exclude'", "a["});
}

TEST(MirrorConfig, FlowErrors) {
  expect_mentions(error_of(kClusters), {"no [[flows]]"});
  expect_mentions(error_of(kClusters + "[[flows]]\nsource = \"east\"\ntarget = \"north\"\n"),
                  {"'target'", "\"north\"", "east, west"});
  expect_mentions(error_of(kClusters + "[[flows]]\nsource = \"south\"\ntarget = \"west\"\n"),
                  {"'source'", "\"south\""});
  expect_mentions(error_of(kClusters + "[[flows]]\nsource = \"east\"\ntarget = \"east\"\n"),
                  {"[[flows]] #1", "both \"east\""});
  expect_mentions(error_of(kClusters + kFlow + kFlow), {"[[flows]] #2", "duplicate flow east->west"});
  expect_mentions(error_of(kClusters + "[[flows]]\nsource = \"east\"\n"), {"required key 'target'"});
  expect_mentions(error_of(kClusters + kFlow + "\"replication.policy\" = \"mirror\"\n"),
                  {"'replication.policy'", "\"mirror\"", "default, identity"});
  expect_mentions(error_of(kClusters + kFlow + "\"replication.policy.separator\" = \"\"\n"),
                  {"'replication.policy.separator'"});
  expect_mentions(error_of(kClusters + kFlow + "\"replication.factor\" = 0\n"), {"'replication.factor'", "-1"});
  expect_mentions(error_of(kClusters + kFlow + "\"emit.heartbeats.interval.seconds\" = 0\n"),
                  {"'emit.heartbeats.interval.seconds'", "0"});
  expect_mentions(error_of(kClusters + kFlow + "\"offset.lag.max\" = \"lots\"\n"), {"'offset.lag.max'", "lots"});
  expect_mentions(error_of(kClusters + kFlow + "\"topics.blacklist\" = \"x\"\n"), {"unknown key 'topics.blacklist'"});
  expect_mentions(error_of("flows = 3\n" + kClusters), {"'flows'", "[[flows]]"});
}

TEST(MirrorConfig, ClusterErrors) {
  expect_mentions(error_of("[clusters.east]\n[clusters.west]\nbootstrap.servers = \"h:1\"\n" + kFlow),
                  {"[clusters.east]", "required key 'bootstrap.servers'"});
  expect_mentions(
      error_of("[clusters.east]\nbootstrap.servers = \"\"\n[clusters.west]\nbootstrap.servers = \"h:1\"\n" + kFlow),
      {"'bootstrap.servers'", "host:port"});
  expect_mentions(error_of("[clusters.\"us east\"]\nbootstrap.servers = \"h:1\"\n" + kClusters + kFlow),
                  {"'us east'", "[A-Za-z0-9._-]"});
  // The alias would make "us.east.orders" ambiguous under the default separator.
  expect_mentions(error_of("[clusters.\"us.east\"]\nbootstrap.servers = \"h:1\"\n" + kClusters + kFlow),
                  {"'us.east'", "separator", "ambiguous"});
  // With another separator the same alias is fine.
  EXPECT_EQ(error_of("[clusters.\"us.east\"]\nbootstrap.servers = \"h:1\"\n" + kClusters + kFlow +
                     "\"replication.policy.separator\" = \"_\"\n"),
            "");
  expect_mentions(error_of(kClusters + "ssl = true\n" + kFlow), {"[clusters.west]", "unknown key 'ssl'"});
  expect_mentions(error_of(kClusters + "[clusters.west.client]\n\"sasl.mechanisms\" = [\"PLAIN\"]\n" + kFlow),
                  {"'sasl.mechanisms'", "comma-separated"});
  expect_mentions(error_of(kClusters + "[clusters.west.client]\n\"bootstrap.servers\" = \"x:1\"\n" + kFlow),
                  {"bootstrap.servers", "client table"});
  expect_mentions(error_of("clusters = 1\n" + kFlow), {"'clusters'"});
}

TEST(MirrorConfig, MirrorSectionErrors) {
  expect_mentions(error_of("[mirror]\nlog.level = \"loud\"\n" + kClusters + kFlow),
                  {"[mirror]", "'log.level'", "\"loud\"", "trace"});
  expect_mentions(error_of("[mirror]\nstatus.listener = \"localhost\"\n" + kClusters + kFlow),
                  {"'status.listener'", "\"localhost\"", "host:port"});
  expect_mentions(error_of("[mirror]\nstatus.listener = \"h:70000\"\n" + kClusters + kFlow), {"'status.listener'"});
  EXPECT_EQ(error_of("[mirror]\nstatus.listener = \"[::1]:9464\"\n" + kClusters + kFlow), "");
  expect_mentions(error_of("[mirror]\nthreads = 4\n" + kClusters + kFlow), {"unknown key 'threads'"});
  expect_mentions(error_of("[mirrors]\n" + kClusters + kFlow), {"unknown section or key 'mirrors'"});
  expect_mentions(error_of("[mirror\n"), {"invalid TOML at line 1"});
}

TEST(MirrorConfig, MissingFileIsAConfigError) {
  EXPECT_THROW(load_mirror_config_file("/nonexistent/ferry-mirror.toml"), ConfigError);
}

TEST(MirrorConfig, ReferenceListsEveryKey) {
  std::string ref = mirror_config_reference();
  for (const auto* schema : {&mirror_schema(), &cluster_schema(), &flow_schema()})
    for (const auto& k : schema->keys()) EXPECT_NE(ref.find("| `" + k.name + "` |"), std::string::npos) << k.name;
}

// docs/mirror-config.md is generated; fail when someone changes a key and forgets to regenerate it
// (ferry-mirror --config-reference > docs/mirror-config.md).
TEST(MirrorConfig, CommittedReferenceIsUpToDate) {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/docs/mirror-config.md");
  ASSERT_TRUE(in) << "docs/mirror-config.md is missing";
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), mirror_config_reference());
}
