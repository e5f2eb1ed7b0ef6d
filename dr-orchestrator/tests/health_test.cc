#include <gtest/gtest.h>

#include "dr-orchestrator/health.h"
#include "dr-orchestrator/mirror_client.h"

namespace ferry::dr {
namespace {

PartitionHealth part(const std::string& t, int32_t p, int32_t leader, std::vector<int32_t> replicas,
                     std::vector<int32_t> isr, int32_t min_isr = 1) {
  PartitionHealth h;
  h.topic = t;
  h.partition = p;
  h.leader = leader;
  h.replicas = std::move(replicas);
  h.isr = std::move(isr);
  h.min_isr = min_isr;
  return h;
}

RegionHealth region(std::vector<PartitionHealth> parts) {
  RegionHealth h;
  h.region = "east";
  h.reachable = true;
  h.brokers = 3;
  h.controller_id = 1;
  h.role = "primary";
  h.partition_details = std::move(parts);
  recount(h);
  return h;
}

TEST(RegionHealth, CountsPartitionProblems) {
  RegionHealth h = region({part("a", 0, 1, {1, 2, 3}, {1, 2, 3}, 2), part("a", 1, -1, {1, 2, 3}, {}, 2),
                           part("b", 0, 2, {1, 2, 3}, {2}, 2), part("b", 1, 2, {1, 2, 3}, {2, 3}, 2)});
  EXPECT_EQ(h.topics, 2);
  EXPECT_EQ(h.partitions, 4);
  EXPECT_EQ(h.offline, 1);
  EXPECT_EQ(h.under_replicated, 3);
  EXPECT_EQ(h.under_min_isr, 2);  // a-1 (0 < 2) and b-0 (1 < 2)
}

TEST(RegionHealth, HealthyDegradedDown) {
  EXPECT_EQ(evaluate_region(region({part("a", 0, 1, {1}, {1})})).state, RegionState::healthy);
  EXPECT_TRUE(evaluate_region(region({part("a", 0, 1, {1}, {1})})).reasons.empty());

  auto v = evaluate_region(region({part("a", 0, 1, {1, 2}, {1})}));
  EXPECT_EQ(v.state, RegionState::degraded);
  ASSERT_EQ(v.reasons.size(), 1u);
  EXPECT_NE(v.reasons[0].find("1 under-replicated"), std::string::npos);

  RegionHealth down;
  down.region = "west";
  down.error = "Metadata: Local: Broker transport failure";
  v = evaluate_region(down);
  EXPECT_EQ(v.state, RegionState::down);
  EXPECT_NE(v.reasons[0].find("transport failure"), std::string::npos);

  RegionHealth no_controller = region({});
  no_controller.controller_id = -1;
  EXPECT_EQ(evaluate_region(no_controller).state, RegionState::down);

  RegionHealth scrape_failed = region({});
  scrape_failed.metrics_up = false;
  EXPECT_EQ(evaluate_region(scrape_failed).state, RegionState::degraded);
}

const char* kStatus = R"({"flows": [{
  "flow": "east->west", "source": "east", "target": "west", "state": "running", "healthy": true,
  "current_errors": [], "last_error": null, "last_error_ms": 0, "last_checkpoint_ms": 95000,
  "heartbeat": {"last_replicated_ms": 99000, "age_ms": 1000}, "records_replicated": 7,
  "records_skipped_as_loops": 0, "topics": [{"source": "t", "remote": "east.t", "partitions": 2}],
  "partitions": [
    {"topic": "t", "partition": 0, "remote_topic": "east.t", "next_offset": 10, "source_end_offset": 12, "lag_records": 2},
    {"topic": "t", "partition": 1, "remote_topic": "east.t", "next_offset": 5, "source_end_offset": 5, "lag_records": 0}]},
  {"flow": "west->east", "source": "west", "target": "east", "records_replicated": 0, "records_skipped_as_loops": 0,
   "topics": [], "last_error": null, "last_error_ms": 0, "partitions": []}]})";

FlowConfig flow() {
  FlowConfig f;
  f.source = "east";
  f.target = "west";
  f.status_urls = {"http://a:1", "http://b:1"};
  return f;
}

TEST(FlowHealth, ParsesTheMirrorStatus) {
  auto flows = parse_mirror_status(kStatus);
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0].state, "running");
  EXPECT_EQ(flows[0].last_checkpoint_ms, 95000);
  EXPECT_EQ(flows[0].heartbeat_last_replicated_ms, 99000);
  ASSERT_EQ(flows[0].partitions.size(), 2u);
  EXPECT_EQ(flows[0].partitions[0].lag_records, 2);
  // An older mirror without the control API fields is a running, healthy flow.
  EXPECT_EQ(flows[1].state, "running");
  EXPECT_TRUE(flows[1].healthy);
  EXPECT_FALSE(flows[1].last_checkpoint_ms.has_value());
  EXPECT_TRUE(flows[0].reports_heartbeat);
  EXPECT_FALSE(flows[1].reports_heartbeat);
}

TEST(FlowHealth, HeartbeatAgeIsJudgedOnlyWhenMirrorsReportIt) {
  auto flows = parse_mirror_status(kStatus);
  FlowConfig one = flow();
  one.status_urls.resize(1);
  PolicyConfig lax;
  lax.max_data_loss_records = 1000;
  // An older mirror without a "heartbeat" object: not stale for lack of evidence.
  EXPECT_EQ(evaluate_flow(combine_flow(one, {{"http://a:1", flows[1], ""}}, 100000), lax).state, FlowState::ok);
  // A mirror that reports heartbeats but has replicated none yet: stale.
  flows[0].heartbeat_last_replicated_ms.reset();
  auto v = evaluate_flow(combine_flow(one, {{"http://a:1", flows[0], ""}}, 100000), lax);
  EXPECT_EQ(v.state, FlowState::stale);
  EXPECT_EQ(v.reasons[0], "no heartbeat replicated yet");
}

TEST(FlowHealth, MalformedStatusNamesTheField) {
  try {
    parse_mirror_status(R"({"flows": [{"flow": "a->b", "source": "a", "target": "b", "records_replicated": 0,
        "records_skipped_as_loops": 0, "topics": [], "last_error": null, "last_error_ms": 0,
        "partitions": [{"topic": "t"}]}]})");
    FAIL();
  } catch (const MirrorError& e) {
    EXPECT_NE(std::string(e.what()).find("partitions[0]: partition has no \"partition\""), std::string::npos) << e.what();
  }
  // A field every mirror has sent since the first /status is required, never defaulted.
  try {
    parse_mirror_status(R"({"flows": [{"flow": "a->b", "partitions": []}]})");
    FAIL();
  } catch (const MirrorError& e) {
    EXPECT_NE(std::string(e.what()).find("flow has no \"source\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_mirror_status("not json"), MirrorError);
}

TEST(FlowHealth, CombinesProcessesAndEvaluates) {
  auto s = parse_mirror_status(kStatus)[0];
  MirrorFlowStatus other = s;
  other.partitions = {{"t", 2, "east.t", 0, 3, 3, std::nullopt}};
  other.heartbeat_last_replicated_ms = 90000;
  other.last_checkpoint_ms = 99500;
  FlowHealth h = combine_flow(flow(), {{"http://a:1", s, ""}, {"http://b:1", other, ""}}, 100000);
  EXPECT_TRUE(h.reachable);
  EXPECT_EQ(h.state, "running");
  EXPECT_EQ(h.lag_records, 5);
  EXPECT_EQ(h.partitions.size(), 3u);
  EXPECT_DOUBLE_EQ(*h.heartbeat_age_s, 1.0);   // the youngest heartbeat of any process
  EXPECT_DOUBLE_EQ(*h.checkpoint_age_s, 0.5);

  PolicyConfig policy;
  policy.max_data_loss_records = 5;
  EXPECT_EQ(evaluate_flow(h, policy).state, FlowState::ok);
  policy.max_data_loss_records = 4;
  auto v = evaluate_flow(h, policy);
  EXPECT_EQ(v.state, FlowState::lagging);
  EXPECT_NE(v.reasons[0].find("lag 5"), std::string::npos);

  policy.max_data_loss_records = 100;
  policy.heartbeat_max_age = std::chrono::seconds(30);
  FlowHealth old = combine_flow(flow(), {{"http://a:1", s, ""}, {"http://b:1", other, ""}}, 100000 + 60000);
  v = evaluate_flow(old, policy);
  EXPECT_EQ(v.state, FlowState::stale);
  EXPECT_NE(v.reasons[0].find("heartbeat age"), std::string::npos);
}

TEST(FlowHealth, OneSilentProcessMakesTheFlowUnreachable) {
  auto s = parse_mirror_status(kStatus)[0];
  FlowHealth h = combine_flow(flow(), {{"http://a:1", s, ""}, {"http://b:1", std::nullopt, "connection refused"}}, 100000);
  EXPECT_FALSE(h.reachable);
  EXPECT_EQ(h.urls_reachable, 1);
  auto v = evaluate_flow(h, PolicyConfig{});
  EXPECT_EQ(v.state, FlowState::unreachable);
  bool named = false;
  for (const auto& r : v.reasons) named |= r.find("http://b:1: connection refused") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(FlowHealth, PausedAndMirrorErrors) {
  auto s = parse_mirror_status(kStatus)[0];
  s.state = "paused";
  FlowConfig one = flow();
  one.status_urls.resize(1);
  FlowHealth h = combine_flow(one, {{"http://a:1", s, ""}}, 100000);
  EXPECT_EQ(evaluate_flow(h, PolicyConfig{}).state, FlowState::paused);

  s.state = "running";
  s.healthy = false;
  s.current_errors = {"target unreachable"};
  h = combine_flow(one, {{"http://a:1", s, ""}}, 100000);
  PolicyConfig lax;
  lax.max_data_loss_records = 1000;
  auto v = evaluate_flow(h, lax);
  EXPECT_EQ(v.state, FlowState::stale);
}

TEST(StatusReport, ExitDecisionAndRendering) {
  auto s = parse_mirror_status(kStatus)[0];
  FlowConfig one = flow();
  one.status_urls.resize(1);
  PolicyConfig lax;
  lax.max_data_loss_records = 1000;
  RegionHealth west;
  west.region = "west";
  west.error = "no broker";
  auto r = make_report({region({part("a", 0, 1, {1}, {1})}), west}, {combine_flow(one, {{"http://a:1", s, ""}}, 100000)},
                       lax, "east", 100000);
  EXPECT_FALSE(r.all_healthy());
  auto j = to_json(r);
  EXPECT_EQ(j["healthy"], false);
  EXPECT_EQ(j["primary"], "east");
  EXPECT_EQ(j["regions"][0]["state"], "healthy");
  EXPECT_EQ(j["regions"][0]["partitions"], 1);
  EXPECT_EQ(j["regions"][1]["state"], "down");
  EXPECT_EQ(j["flows"][0]["lag_records"], 2);
  const std::string t = to_table(r);
  EXPECT_NE(t.find("region west: unreachable: no broker"), std::string::npos) << t;
  EXPECT_NE(t.find("east *"), std::string::npos) << t;

  r = make_report({region({})}, {}, lax, "", 1);
  EXPECT_TRUE(r.all_healthy());
}

// Pins issue 13 defect 4: two regions in the primary role both accept writes; and defect 5: a pending
// operation (e.g. killed between fence and promote) may leave no region writable.
TEST(StatusReport, TwoPrimariesAndAPendingOperationAreUnhealthy) {
  PolicyConfig lax;
  RegionHealth east = region({}), west = region({});
  west.region = "west";
  auto r = make_report({east, west}, {}, lax, "", 1);
  EXPECT_TRUE(r.all_healthy()) << "make_report alone does not judge the deployment";
  r.problems = evaluate_deployment(r.regions, nullptr);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("2 regions answer in the primary role (east, west)"), std::string::npos) << r.problems[0];
  EXPECT_FALSE(r.all_healthy());
  EXPECT_EQ(to_json(r)["problems"].size(), 1u);
  EXPECT_NE(to_table(r).find("split brain"), std::string::npos) << to_table(r);

  west.role = "standby";
  EXPECT_TRUE(evaluate_deployment({east, west}, nullptr).empty());
  RegionHealth down;
  down.region = "west";
  down.role = "primary";  // unreachable: its role is not known now
  EXPECT_TRUE(evaluate_deployment({east, down}, nullptr).empty());

  east.role = "standby";  // fenced, and nobody promoted yet
  const nlohmann::json ops = {
      {"lock_holder", nullptr},
      {"pending_op", {{"op_id", "op-1"}, {"kind", "failover"}, {"from", "east"}, {"to", "west"},
                      {"steps", {{{"name", "fence"}, {"began", true}, {"ended", true}},
                                 {{"name", "promote"}, {"began", true}, {"ended", false}}}}}}};
  auto p = evaluate_deployment({east, west}, ops);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("operation op-1 (failover east -> west) is pending, last step promote (unfinished), its "
                      "ferry-dr is gone"),
            std::string::npos)
      << p[0];
  EXPECT_NE(p[0].find("no region accepts writes"), std::string::npos) << p[0];
  nlohmann::json running = ops;
  running["lock_holder"] = {{"pid", 42}, {"command", "ferry-dr failover"}, {"started_ms", 1}};
  EXPECT_NE(evaluate_deployment({east, west}, running)[0].find("running (pid 42)"), std::string::npos);
}

}  // namespace
}  // namespace ferry::dr
