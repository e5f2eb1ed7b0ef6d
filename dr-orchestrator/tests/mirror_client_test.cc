#include <gtest/gtest.h>

#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/role_client.h"
#include "mirror/status_types.h"

namespace ferry::dr {
namespace {

TEST(MirrorClient, ParsesPauseAndCheckpointAnswers) {
  auto p = parse_pause_result(R"({"flow": "east->west", "state": "paused", "partitions": [
      {"topic": "t", "partition": 0, "remote_topic": "t", "next_offset": 1234, "source_end_offset": 1240, "lag_records": 6}]})");
  EXPECT_EQ(p.state, "paused");
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_EQ(p.partitions[0].lag_records, 6);
  auto c = parse_checkpoint_result(R"({"flow": "east->west", "checkpoints_emitted": 2, "groups": [
      {"group": "g", "synced": false, "reason": "active group",
       "offsets": [{"topic": "t", "partition": 0, "upstream": 10, "downstream": 9}]}]})");
  EXPECT_EQ(c.checkpoints_emitted, 2);
  ASSERT_EQ(c.groups.size(), 1u);
  EXPECT_EQ(*c.groups[0].reason, "active group");
  EXPECT_EQ(c.groups[0].offsets[0].downstream, 9);
  EXPECT_THROW(parse_checkpoint_result(R"({"flow": "x", "groups": []})"), MirrorError);
}

TEST(MirrorClient, ReadsWhatTheMirrorWrites) {
  // The body ferry-mirror serializes from its own types (mirror/status_types.h) is what
  // parse_mirror_status reads: one declaration for both sides.
  mirror::FlowStatus f;
  f.flow = "east->west";
  f.source = "east";
  f.target = "west";
  f.state = "paused";
  f.records_replicated = 7;
  f.topics = {{"t", "east.t", 3}};
  f.last_error = "target unreachable";
  f.last_error_ms = 1;
  f.healthy = false;
  f.current_errors = std::vector<std::string>{"target unreachable"};
  f.source_reachable = false;
  f.last_checkpoint_ms = 95000;
  f.heartbeat = mirror::HeartbeatStatus{99000, 1000};
  f.partitions = {{"t", 2, "east.t", 10, 12, 2, 99950, std::nullopt, std::nullopt}};
  mirror::MirrorStatus body{std::nullopt, {f}};
  auto flows = parse_mirror_status(nlohmann::json(body).dump());
  ASSERT_EQ(flows.size(), 1u);
  const auto& s = flows[0];
  EXPECT_EQ(s.state, "paused");
  EXPECT_FALSE(s.healthy);
  EXPECT_EQ(s.current_errors, std::vector<std::string>{"target unreachable"});
  EXPECT_EQ(s.source_reachable, false);
  EXPECT_EQ(s.last_error, "target unreachable");
  EXPECT_EQ(s.last_checkpoint_ms, 95000);
  EXPECT_TRUE(s.reports_heartbeat);
  EXPECT_EQ(s.heartbeat_age_ms, 1000);
  EXPECT_EQ(s.records_replicated, 7);
  EXPECT_EQ(s.topics.at("t"), 3);
  ASSERT_EQ(s.partitions.size(), 1u);
  EXPECT_EQ(s.partitions[0].remote_topic, "east.t");
  EXPECT_EQ(s.partitions[0].lag_records, 2);
  EXPECT_EQ(s.partitions[0].source_end_offset_ms, 99950);

  mirror::CheckpointReply c{"east->west", 1, {{"g", true, std::nullopt, {{"east.t", 2, 10, 9}}}}};
  auto r = parse_checkpoint_result(nlohmann::json(c).dump());
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_TRUE(r.groups[0].synced);
  EXPECT_FALSE(r.groups[0].reason.has_value());
  EXPECT_EQ(r.groups[0].offsets[0].upstream, 10);
  auto p = parse_pause_result(nlohmann::json(mirror::PauseReply{"east->west", "paused", false, f.partitions}).dump());
  EXPECT_EQ(p.source_reachable, false);
  EXPECT_EQ(p.partitions[0].next_offset, 10);
}

TEST(MirrorClient, NoAnswerCarriesTheUrlAndStatusZero) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  MirrorClient m("http://127.0.0.1:1", std::chrono::seconds(2));
  try {
    m.status();
    FAIL();
  } catch (const MirrorError& e) {
    EXPECT_EQ(e.http_status(), 0);
    EXPECT_EQ(e.url(), "http://127.0.0.1:1/status");
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos);
  }
}

TEST(RoleClient, UnreachableServersGiveNetworkError) {
  try {
    incremental_alter_broker_configs({{"bootstrap.servers", "127.0.0.1:1"}}, "", {{"ferry.cluster.role", ConfigOp::Kind::set, "standby"}},
                                     std::chrono::seconds(2));
    FAIL();
  } catch (const KafkaRequestError& e) {
    EXPECT_EQ(e.code(), "NETWORK");
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos);
  }
  EXPECT_THROW(incremental_alter_broker_configs({{"bootstrap.servers", "nonsense"}}, "", {}, std::chrono::seconds(1)),
               std::invalid_argument);
  // A SASL protocol without credentials is refused before any connection, naming what is missing.
  try {
    incremental_alter_broker_configs({{"bootstrap.servers", "127.0.0.1:1"}, {"security.protocol", "SASL_SSL"},
                                      {"sasl.mechanism", "SCRAM-SHA-512"}, {"sasl.username", "dr"}},
                                     "", {}, std::chrono::seconds(1));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sasl.password"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ferry::dr
