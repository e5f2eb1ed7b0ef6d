#include <gtest/gtest.h>

#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/role_client.h"

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
    incremental_alter_broker_configs("127.0.0.1:1", "", {{"ferry.cluster.role", ConfigOp::Kind::set, "standby"}},
                                     std::chrono::seconds(2));
    FAIL();
  } catch (const KafkaRequestError& e) {
    EXPECT_EQ(e.code(), "NETWORK");
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos);
  }
  EXPECT_THROW(incremental_alter_broker_configs("nonsense", "", {}, std::chrono::seconds(1)), std::invalid_argument);
}

}  // namespace
}  // namespace ferry::dr
