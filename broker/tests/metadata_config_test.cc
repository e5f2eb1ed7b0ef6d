#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "broker/config/broker_config.h"
#include "broker/tests/broker_config_parse.h"
#include "broker/metadata/metadata_store.h"
#include "common/testing/temp_dir.h"

using namespace ferry;
using namespace ferry::broker;

namespace {

using ferry::testing::TempDir;

}  // namespace

TEST(BrokerConfig, MinimalFileIsEnough) {
  auto c = parse_broker_config("node.id = 0\nlisteners = \"PLAINTEXT://127.0.0.1:19092\"\nlog.dirs = \"/tmp/ferry-data\"\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "PLAINTEXT");
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 19092);
  EXPECT_EQ(c.log_dirs, std::vector<std::string>{"/tmp/ferry-data"});
  EXPECT_EQ(c.values.get_int("socket.request.max.bytes"), 104857600);
}

TEST(BrokerConfig, BadListenersAreNamed) {
  EXPECT_NE(broker_config_error("listeners = \"127.0.0.1:9092\"\n").find("NAME://host:port"), std::string::npos);
  EXPECT_NE(broker_config_error("listeners = \"PLAINTEXT://h:99999\"\n").find("port must be 0-65535"), std::string::npos);
  EXPECT_NE(broker_config_error("listeners = \"FOO://h:1\"\n").find("listener.security.protocol.map"), std::string::npos);
  EXPECT_EQ(broker_config_error("listeners = \"SSL://h:1\"\n"), "");  // served since issue 15
  EXPECT_NE(broker_config_error("listeners = \"X://h:1\"\nlistener.security.protocol.map = \"X:KERBEROS\"\n")
                .find("not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
            std::string::npos);
  EXPECT_NE(broker_config_error("listeners = \"PLAINTEXT://h:1\"\nadvertised.listeners = \"OTHER://h:2\"\n"
                         "listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT\"\n")
                .find("not in 'listeners'"),
            std::string::npos);
  EXPECT_NE(broker_config_error("metrics.listener = \"nohost\"\n").find("metrics.listener"), std::string::npos);
}

TEST(BrokerConfig, TopicDefaultsFollowBrokerKeys) {
  auto c = parse_broker_config("log.retention.ms = 1234\nmessage.max.bytes = 5000\nlog.message.timestamp.type = \"LogAppendTime\"\n");
  auto topic_schema = make_topic_schema(c.values);
  config::Values t(topic_schema);
  auto lc = to_log_config(t);
  EXPECT_EQ(lc.retention_ms, 1234);
  EXPECT_EQ(lc.max_message_bytes, 5000);
  EXPECT_TRUE(lc.log_append_time);
  t.set("retention.ms", topic_schema.parse_text("retention.ms", "99"));
  EXPECT_EQ(to_log_config(t).retention_ms, 99);
  EXPECT_THROW(topic_schema.parse_text("retention.ms", "-5"), config::ConfigError);
  EXPECT_THROW(topic_schema.parse_text("no.such.topic.key", "1"), config::ConfigError);
}

TEST(MetadataStore, SurvivesReopenAndKeepsClusterId) {
  TempDir dir;
  auto file = dir.path / "meta.toml";
  std::string id;
  {
    FileMetadataStore s(file);
    id = s.cluster_id();
    EXPECT_EQ(id.size(), 22u);
    s.put_topic({"orders", random_kafka_uuid(), 3, 1, {{"retention.ms", "1000"}}, {}, {}, 0});
    s.put_topic({"a.b-c_d", random_kafka_uuid(), 1, 1, {}, {}, {}, 0});
    s.delete_topic("a.b-c_d");
  }
  FileMetadataStore s(file);
  EXPECT_EQ(s.cluster_id(), id);
  auto topics = s.topics();
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].name, "orders");
  EXPECT_EQ(topics[0].partitions, 3);
  EXPECT_EQ(topics[0].configs.at("retention.ms"), "1000");
  EXPECT_FALSE(s.topic("a.b-c_d"));
}

TEST(MetadataStore, CorruptFileIsRefusedWithItsName) {
  TempDir dir;
  auto file = dir.path / "meta.toml";
  std::ofstream(file) << "topics = [ {name = \n";
  try {
    FileMetadataStore s(file);
    FAIL() << "a corrupt metadata file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
}

TEST(MetadataStore, UuidsAreDistinctAndUrlSafe) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto u = random_kafka_uuid();
    EXPECT_EQ(u.size(), 22u);
    EXPECT_EQ(u.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(MetadataStore, TopicIdTextParsesToTheBytesKafkaSendsAndNothingElseParses) {
  // RFC 4648 §5 of bytes 0..15, as Kafka's Uuid.toString prints it.
  auto b = parse_kafka_uuid("AAECAwQFBgcICQoLDA0ODw");
  ASSERT_TRUE(b);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ((*b)[i], i);
  for (int i = 0; i < 100; ++i) {
    auto u = random_kafka_uuid();
    auto parsed = parse_kafka_uuid(u);
    ASSERT_TRUE(parsed) << u;
    EXPECT_EQ((*parsed)[6] >> 4, 4) << u;  // version 4 survives the round trip
  }
  EXPECT_FALSE(parse_kafka_uuid(""));                        // a topic from before ids
  EXPECT_FALSE(parse_kafka_uuid("AAECAwQFBgcICQoLDA0OD"));   // 21 characters
  EXPECT_FALSE(parse_kafka_uuid("AAECAwQFBgcICQoLDA0OD+"));  // standard, not URL-safe, alphabet
  EXPECT_FALSE(parse_kafka_uuid("AAECAwQFBgcICQoLDA0ODx"));  // spare low bits set: not 128 bits
}
