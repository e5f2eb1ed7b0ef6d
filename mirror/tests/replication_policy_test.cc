#include "mirror/replication_policy.h"

#include <gtest/gtest.h>

using namespace ferry::mirror;
using Kind = ReplicationPolicy::Kind;

TEST(DefaultPolicy, RemoteNamesCarryTheSource) {
  ReplicationPolicy p;
  EXPECT_EQ(p.remote_topic("east", "orders"), "east.orders");
  EXPECT_EQ(p.topic_source("east.orders"), "east");
  EXPECT_EQ(p.upstream_topic("east.orders"), "orders");
  EXPECT_EQ(p.upstream_topic("west.east.orders"), "east.orders");
  EXPECT_EQ(p.original_topic("west.east.orders"), "orders");
  EXPECT_EQ(p.original_topic("orders"), "orders");
  EXPECT_FALSE(p.topic_source("orders").has_value());
  EXPECT_FALSE(p.upstream_topic("orders").has_value());
  // As with Java's String.split in MM2: nothing after the separator means not remote.
  EXPECT_FALSE(p.topic_source("east.").has_value());
  EXPECT_FALSE(p.topic_source("east..").has_value());
  EXPECT_FALSE(p.topic_source(".orders").has_value());
}

TEST(DefaultPolicy, CustomSeparator) {
  ReplicationPolicy p(Kind::kDefault, "__");
  EXPECT_EQ(p.remote_topic("east", "a.b"), "east__a.b");
  EXPECT_EQ(p.topic_source("east__a.b"), "east");
  EXPECT_EQ(p.upstream_topic("east__a.b"), "a.b");
  EXPECT_FALSE(p.topic_source("east.a").has_value());
  EXPECT_EQ(p.checkpoints_topic("east"), "east__checkpoints__internal");
  EXPECT_EQ(p.offset_syncs_topic("west"), "mm2-offset-syncs__west__internal");
  EXPECT_THROW(ReplicationPolicy(Kind::kDefault, ""), std::invalid_argument);
}

TEST(DefaultPolicy, CyclesAreFoundAnywhereInTheChain) {
  ReplicationPolicy p;
  EXPECT_TRUE(p.would_cycle("west.orders", "west"));
  EXPECT_TRUE(p.would_cycle("south.west.orders", "west"));  // two hops back
  EXPECT_FALSE(p.would_cycle("south.west.orders", "north"));
  EXPECT_FALSE(p.would_cycle("orders", "west"));
  EXPECT_TRUE(p.would_cycle("west.heartbeats", "west"));
}

TEST(DefaultPolicy, InternalTopicsFollowMm2) {
  ReplicationPolicy p;
  for (const char* t : {"__consumer_offsets", "__transaction_state", ".hidden", "east.checkpoints.internal",
                        "mm2-offset-syncs.west.internal", "connect-offsets-internal", "mm2-configs.east.internal"})
    EXPECT_TRUE(p.is_internal_topic(t)) << t;
  for (const char* t : {"heartbeats", "east.heartbeats", "orders", "internal", "orders.internals"})
    EXPECT_FALSE(p.is_internal_topic(t)) << t;
  ReplicationPolicy underscore(Kind::kDefault, "_");
  EXPECT_TRUE(underscore.is_internal_topic("east_checkpoints_internal"));
  EXPECT_TRUE(underscore.is_internal_topic("mm2-offset-syncs_west_internal"));
}

TEST(DefaultPolicy, HeartbeatTopics) {
  ReplicationPolicy p;
  EXPECT_EQ(p.heartbeats_topic(), "heartbeats");
  EXPECT_TRUE(p.is_heartbeats_topic("heartbeats"));
  EXPECT_TRUE(p.is_heartbeats_topic("east.heartbeats"));
  EXPECT_TRUE(p.is_heartbeats_topic("west.east.heartbeats"));
  EXPECT_FALSE(p.is_heartbeats_topic("myheartbeats"));
  EXPECT_FALSE(p.is_heartbeats_topic("heartbeats.old"));
  EXPECT_EQ(p.remote_topic("east", "heartbeats"), "east.heartbeats");
}

TEST(IdentityPolicy, KeepsNamesButPrefixesHeartbeats) {
  ReplicationPolicy p(Kind::kIdentity);
  EXPECT_EQ(p.remote_topic("east", "orders"), "orders");
  EXPECT_EQ(p.remote_topic("east", "a.b.c"), "a.b.c");
  EXPECT_FALSE(p.topic_source("orders").has_value());
  EXPECT_FALSE(p.topic_source("east.orders").has_value());  // the name carries no provenance
  EXPECT_FALSE(p.upstream_topic("east.orders").has_value());
  EXPECT_EQ(p.original_topic("east.orders"), "east.orders");
  // MM2 3.x IdentityReplicationPolicy defers to the default policy for heartbeats.
  EXPECT_EQ(p.remote_topic("east", "heartbeats"), "east.heartbeats");
  EXPECT_EQ(p.remote_topic("west", "east.heartbeats"), "west.east.heartbeats");
  EXPECT_EQ(p.topic_source("east.heartbeats"), "east");
  EXPECT_EQ(p.upstream_topic("east.heartbeats"), "heartbeats");
  EXPECT_TRUE(p.is_heartbeats_topic("west.east.heartbeats"));
  // Only real heartbeat names: "myheartbeats" is ordinary data and keeps its name.
  EXPECT_EQ(p.remote_topic("east", "myheartbeats"), "myheartbeats");
}

TEST(IdentityPolicy, NameBasedCyclesOnlyForHeartbeats) {
  ReplicationPolicy p(Kind::kIdentity);
  EXPECT_FALSE(p.would_cycle("orders", "west"));
  EXPECT_FALSE(p.would_cycle("west.orders", "west"));  // provenance headers decide for data
  EXPECT_TRUE(p.would_cycle("west.heartbeats", "west"));
  EXPECT_TRUE(p.would_cycle("south.west.heartbeats", "west"));
  EXPECT_FALSE(p.would_cycle("heartbeats", "west"));
}

TEST(Filters, FullMatchIncludeAndExclude) {
  RegexList l({"orders.*", "pay"});
  EXPECT_TRUE(l.matches_any("orders"));
  EXPECT_TRUE(l.matches_any("orders-eu"));
  EXPECT_TRUE(l.matches_any("pay"));
  EXPECT_FALSE(l.matches_any("payments"));  // full match, not search
  EXPECT_FALSE(l.matches_any("xorders"));
  EXPECT_FALSE(RegexList({}).matches_any("anything"));
}

TEST(Filters, InvalidRegexNamesPatternAndReason) {
  try {
    RegexList l({"ok.*", "bad(", "also["});
    FAIL() << "no exception";
  } catch (const InvalidRegex& e) {
    EXPECT_EQ(e.pattern, "bad(");
    EXPECT_FALSE(e.reason.empty());
    EXPECT_NE(std::string(e.what()).find("bad("), std::string::npos);
  }
}

TEST(Filters, TopicFilterAppliesMm2Rules) {
  TopicFilter f(default_topics_include(), default_topics_exclude(), ReplicationPolicy(), "west");
  EXPECT_TRUE(f.should_replicate("orders"));
  EXPECT_TRUE(f.should_replicate("south.orders"));
  EXPECT_FALSE(f.should_replicate("west.orders"));         // cycle
  EXPECT_FALSE(f.should_replicate("__consumer_offsets"));  // internal
  EXPECT_FALSE(f.should_replicate("east.checkpoints.internal"));
  EXPECT_FALSE(f.should_replicate("mm2-offset-syncs.west.internal"));
  EXPECT_FALSE(f.should_replicate("orders.replica"));   // MM2 default exclude
  EXPECT_FALSE(f.should_replicate("orders-internal"));  // MM2 default exclude
  EXPECT_TRUE(f.should_replicate("heartbeats"));
  EXPECT_TRUE(f.should_replicate("south.heartbeats"));
  EXPECT_FALSE(f.should_replicate("west.heartbeats"));  // would go home

  TopicFilter narrow({"orders"}, {}, ReplicationPolicy(), "west");
  EXPECT_TRUE(narrow.should_replicate("orders"));
  EXPECT_FALSE(narrow.should_replicate("payments"));
  EXPECT_TRUE(narrow.should_replicate("heartbeats"));  // heartbeats regardless of the filter
  EXPECT_FALSE(narrow.should_replicate("__orders"));

  TopicFilter excluded({".*"}, {"secret.*"}, ReplicationPolicy(Kind::kIdentity), "west");
  EXPECT_FALSE(excluded.should_replicate("secret-stuff"));
  EXPECT_TRUE(excluded.should_replicate("west.orders"));  // identity: not a name-based cycle
}

TEST(Filters, GroupFilterUsesMm2Defaults) {
  GroupFilter g(default_groups_include(), default_groups_exclude());
  EXPECT_TRUE(g.should_replicate("billing"));
  EXPECT_FALSE(g.should_replicate("console-consumer-12345"));
  EXPECT_FALSE(g.should_replicate("connect-sink"));
  EXPECT_FALSE(g.should_replicate("__internal"));
  GroupFilter only({"app-.*"}, {"app-test"});
  EXPECT_TRUE(only.should_replicate("app-prod"));
  EXPECT_FALSE(only.should_replicate("app-test"));
  EXPECT_FALSE(only.should_replicate("other"));
}
