// The typed bodies of ferry-mirror's HTTP API (status_types.h): the exact JSON ferry-mirror
// writes (docs/mirror.md "Control API", which the integration tests and ferry-dr read), and what
// a reader accepts from an older mirror and refuses from a broken one.
#include "mirror/status_types.h"

#include <gtest/gtest.h>

namespace ferry::mirror {
namespace {

using nlohmann::json;

FlowStatus full_flow() {
  FlowStatus f;
  f.flow = "east->west";
  f.source = "east";
  f.target = "west";
  f.state = "paused";
  f.records_replicated = 7;
  f.records_skipped_as_loops = 1;
  f.checkpoints_emitted = 3;
  f.source_anomalies = 0;
  f.group_offsets_synced = 2;
  f.last_checkpoint_ms = 95000;
  f.heartbeat = HeartbeatStatus{99000, 1000};
  f.topics = {{"t", "east.t", 2}};
  f.last_error = std::nullopt;
  f.last_error_ms = 0;
  f.current_errors = std::vector<std::string>{};
  f.healthy = true;
  f.source_reachable = false;
  PartitionStatus p;
  p.topic = "t";
  p.partition = 0;
  p.remote_topic = "east.t";
  p.next_offset = 10;
  p.source_end_offset = 12;
  p.lag_records = 2;
  p.source_end_offset_ms = 99950;
  f.partitions = {p};
  return f;
}

TEST(StatusTypes, FlowStatusIsTheContractsBytes) {
  // Every key of the /status flow entry as ferry-mirror wrote it before the types existed, in
  // nlohmann's (sorted) key order; null for "none", never a missing key.
  EXPECT_EQ(json(full_flow()).dump(),
            R"({"checkpoints_emitted":3,"current_errors":[],"flow":"east->west",)"
            R"("group_offsets_synced":2,"healthy":true,"heartbeat":{"age_ms":1000,"last_replicated_ms":99000},)"
            R"("last_checkpoint_ms":95000,"last_error":null,"last_error_ms":0,)"
            R"("partitions":[{"error":null,"lag_records":2,"next_offset":10,"partition":0,"remote_topic":"east.t",)"
            R"("source_end_offset":12,"source_end_offset_ms":99950,"topic":"t"}],)"
            R"("records_replicated":7,"records_skipped_as_loops":1,"source":"east","source_anomalies":0,)"
            R"("source_reachable":false,"state":"paused","target":"west",)"
            R"("topics":[{"partitions":2,"remote":"east.t","source":"t"}]})");
  FlowStatus none = full_flow();
  none.heartbeat = HeartbeatStatus{};
  none.last_checkpoint_ms.reset();
  json j = none;
  EXPECT_EQ(j["heartbeat"].dump(), R"({"age_ms":null,"last_replicated_ms":null})");
  EXPECT_TRUE(j["last_checkpoint_ms"].is_null());
}

TEST(StatusTypes, RepliesAreTheContractsBytes) {
  MirrorStatus s;
  EXPECT_EQ(json(s).dump(), R"({"flow_control_state":null,"flows":[]})");
  PartitionStatus p{"t", 1, "east.t", 5, 9, 4, std::nullopt, "record too large", 3};
  EXPECT_EQ(json(ErrorReply{"drain timed out", std::vector<PartitionStatus>{p}}).dump(),
            R"({"error":"drain timed out","partitions":[{"error":"record too large","in_flight":3,"lag_records":4,)"
            R"("next_offset":5,"partition":1,"remote_topic":"east.t","source_end_offset":9,)"
            R"("source_end_offset_ms":null,"topic":"t"}]})");
  EXPECT_EQ(json(ErrorReply{"no such path: /x", std::nullopt}).dump(), R"({"error":"no such path: /x"})");
  EXPECT_EQ(json(PauseReply{"east->west", "paused", true, {}}).dump(),
            R"({"flow":"east->west","partitions":[],"source_reachable":true,"state":"paused"})");
  EXPECT_EQ(json(ResumeReply{"east->west", "running"}).dump(), R"({"flow":"east->west","state":"running"})");
  CheckpointReply c{"east->west", 1, {{"g", false, "active group", {{"east.t", 0, 10, 9}}}}};
  EXPECT_EQ(json(c).dump(),
            R"({"checkpoints_emitted":1,"flow":"east->west","groups":[{"group":"g","offsets":)"
            R"([{"downstream":9,"partition":0,"topic":"east.t","upstream":10}],"reason":"active group","synced":false}]})");
}

TEST(StatusTypes, RoundTripKeepsEveryField) {
  MirrorStatus s;
  s.flow_control_state = "/var/lib/ferry/flow-control.json";
  s.flows = {full_flow()};
  const auto back = json(s).get<MirrorStatus>();
  EXPECT_EQ(json(back), json(s));
  EXPECT_EQ(back.flows[0].partitions[0].source_end_offset_ms, 99950);
  EXPECT_EQ(back.flows[0].heartbeat->age_ms, 1000);
}

TEST(StatusTypes, AnOlderMirrorsFlowParsesWithoutItsLaterFields) {
  // The first /status: no state, heartbeat, checkpoints, health or source view.
  auto f = json::parse(R"({"flow": "east->west", "source": "east", "target": "west", "records_replicated": 7,
      "records_skipped_as_loops": 0, "topics": [{"source": "t", "remote": "east.t", "partitions": 1}],
      "last_error": null, "last_error_ms": 0,
      "partitions": [{"topic": "t", "partition": 0, "remote_topic": "east.t", "next_offset": 10,
                      "source_end_offset": 12, "lag_records": 2}]})")
               .get<FlowStatus>();
  EXPECT_EQ(f.records_replicated, 7);
  EXPECT_FALSE(f.state.has_value());
  EXPECT_FALSE(f.heartbeat.has_value());
  EXPECT_FALSE(f.healthy.has_value());
  EXPECT_FALSE(f.last_checkpoint_ms.has_value());
  EXPECT_FALSE(f.partitions[0].source_end_offset_ms.has_value());
  EXPECT_FALSE(f.partitions[0].error.has_value());
  // Nor is an older pause answer's source_reachable required.
  auto p = parse_status_body<PauseReply>(R"({"flow": "east->west", "state": "paused", "partitions": []})");
  EXPECT_FALSE(p.source_reachable.has_value());
}

std::string error_of(const std::string& body) {
  try {
    parse_status_body<MirrorStatus>(body);
  } catch (const StatusFormatError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(StatusTypes, AMissingRequiredFieldIsAnErrorNamingIt) {
  json body = {{"flows", {json(full_flow())}}};
  body["flows"][0]["partitions"][0].erase("next_offset");
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow.partitions[0]: partition has no \"next_offset\"");

  body = {{"flows", {json(full_flow())}}};
  body["flows"][0].erase("records_replicated");
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow has no \"records_replicated\"");

  // A nullable key is still required: null is "none", absence is a broken body.
  body = {{"flows", {json(full_flow())}}};
  body["flows"][0].erase("last_error");
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow has no \"last_error\"");

  EXPECT_EQ(error_of("{}"), "status has no \"flows\"");
  EXPECT_EQ(error_of("[1]"), "status is not an object (array)");
  EXPECT_EQ(error_of("not json").substr(0, 10), "not JSON (");
}

TEST(StatusTypes, AWrongTypeIsAnErrorNotAConversion) {
  json body = {{"flows", {json(full_flow())}}};
  body["flows"][0]["healthy"] = 1;  // nlohmann alone would read 1 as true
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow.healthy has the wrong type (number)");
  body = {{"flows", {json(full_flow())}}};
  body["flows"][0]["partitions"][0]["next_offset"] = "10";
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow.partitions[0]: partition.next_offset has the wrong type (string)");
  body = {{"flows", {json(full_flow())}}};
  body["flows"][0]["records_replicated"] = true;
  EXPECT_EQ(error_of(body.dump()), "status.flows[0]: flow.records_replicated has the wrong type (boolean)");
  EXPECT_THROW(parse_status_body<CheckpointReply>(R"({"flow": "x", "groups": []})"), StatusFormatError);
}

}  // namespace
}  // namespace ferry::mirror
