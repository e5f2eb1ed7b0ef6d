// The parts of failover and its report that need no cluster: the loss arithmetic of an unplanned
// failover, where failback goes, and what the report says (integration: tests/integration/
// test_dr_failover.py).
#include <gtest/gtest.h>

#include "dr-orchestrator/drill.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/report.h"

namespace ferry::dr {
namespace {

using json = nlohmann::json;

json part(const std::string& topic, int p, int64_t next, int64_t source_end) {
  return {{"topic", topic}, {"partition", p}, {"next_offset", next}, {"source_end_offset", source_end}};
}

TEST(ComputeLoss, ListsOnlyPartitionsTheTargetIsBehindOn) {
  json mirror = json::array({part("orders", 0, 100, 100), part("orders", 1, 40, 47), part("audit", 0, 0, 3)});
  json loss = compute_loss(mirror, json::array());
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[0], (json{{"topic", "orders"}, {"partition", 1}, {"from_offset", 40}, {"to_offset", 47}, {"records", 7}}));
  EXPECT_EQ(loss[1], (json{{"topic", "audit"}, {"partition", 0}, {"from_offset", 0}, {"to_offset", 3}, {"records", 3}}));
}

TEST(ComputeLoss, EndOffsetsReadFromTheSourceOverrideTheMirrorsView) {
  // The mirror last saw end 47; the source brokers (still reachable) say 52.
  json mirror = json::array({part("orders", 1, 40, 47), part("orders", 2, 10, 10)});
  json source = json::array({{{"topic", "orders"}, {"partition", 1}, {"end_offset", 52}}});
  json loss = compute_loss(mirror, source);
  ASSERT_EQ(loss.size(), 1u);
  EXPECT_EQ(loss[0]["to_offset"], 52);
  EXPECT_EQ(loss[0]["records"], 12);
}

TEST(ComputeLoss, ASourceEndBelowWhatWasReplicatedIsNoLoss) {
  // A source truncated below the target (e.g. an unclean restart) loses nothing the target has.
  json mirror = json::array({part("orders", 0, 80, 80)});
  json source = json::array({{{"topic", "orders"}, {"partition", 0}, {"end_offset", 75}}});
  EXPECT_TRUE(compute_loss(mirror, source).empty());
}

// Pins issue 13 defect 3: MM2's heartbeats are the mirror's own records, never application data lost.
TEST(ComputeLoss, HeartbeatsAreNeverCountedAsLoss) {
  json mirror = json::array({part("orders", 0, 10, 15), part("heartbeats", 0, 3, 9), part("south.heartbeats", 0, 0, 4),
                             part("myheartbeats", 0, 0, 2)});
  json loss = compute_loss(mirror, json::array());
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[0]["topic"], "orders");
  EXPECT_EQ(loss[1]["topic"], "myheartbeats");  // an application topic that merely ends so
}

json timed(json p, std::optional<int64_t> ms) {
  p["source_end_offset_ms"] = ms ? json(*ms) : json(nullptr);
  return p;
}

// Pins issue 13 defect 3: the unplanned loss is a lower bound as of the mirror's oldest read of the
// source's end offsets, unless the source was reachable and read after the pause.
TEST(DescribeUnplannedLoss, AStaleViewIsALowerBoundWithTheAgeOfItsOldestRead) {
  json parts = json::array({timed(part("orders", 0, 10, 15), 9'700), timed(part("orders", 1, 5, 5), 9'850),
                            timed(part("heartbeats", 0, 0, 1), 1'000)});
  json d = describe_unplanned_loss(compute_loss(parts, json::array()), parts, false, 9'900, 10'000);
  EXPECT_EQ(d["loss_exact"], false);
  EXPECT_TRUE(d["rpo_records"].is_null()) << "an exact figure is not known";
  EXPECT_EQ(d["rpo_records_lower_bound"], 5);
  EXPECT_EQ(d["source_view_as_of_ms"], 9'700);  // the oldest application partition, not the heartbeats
  EXPECT_EQ(d["source_view_age_ms"], 300);
  EXPECT_NE(d["loss_text"].get<std::string>().find("at least 5"), std::string::npos) << d["loss_text"];
  EXPECT_NE(d["loss_text"].get<std::string>().find("300 ms old"), std::string::npos) << d["loss_text"];
}

TEST(DescribeUnplannedLoss, AMirrorThatDoesNotSayWhenItReadGivesABoundOfUnknownAge) {
  json parts = json::array({part("orders", 0, 10, 15), timed(part("orders", 1, 5, 5), 9'850)});
  json d = describe_unplanned_loss(compute_loss(parts, json::array()), parts, std::nullopt, 9'900, 10'000);
  EXPECT_EQ(d["loss_exact"], false);
  EXPECT_EQ(d["rpo_records_lower_bound"], 5);
  EXPECT_TRUE(d["source_view_age_ms"].is_null());
  EXPECT_NE(d["loss_text"].get<std::string>().find("unknown age"), std::string::npos) << d["loss_text"];
}

TEST(DescribeUnplannedLoss, AReachableSourceReadAfterThePauseIsExact) {
  json parts = json::array({timed(part("orders", 0, 10, 15), 9'950), timed(part("orders", 1, 5, 5), 9'990)});
  json d = describe_unplanned_loss(compute_loss(parts, json::array()), parts, true, 9'900, 10'000);
  EXPECT_EQ(d["loss_exact"], true);
  EXPECT_EQ(d["rpo_records"], 5);
  // Reachable but one end offset read before the pause: still only a bound.
  parts[0]["source_end_offset_ms"] = 9'899;
  EXPECT_EQ(describe_unplanned_loss(compute_loss(parts, json::array()), parts, true, 9'900, 10'000)["loss_exact"], false);
}

TEST(ComputeLoss, MalformedMirrorStatusThrows) {
  EXPECT_THROW(compute_loss(json::array({{{"topic", "t"}, {"partition", 0}}}), json::array()), json::exception);
}

OpRecord finished(const std::string& id, const std::string& kind, const std::string& from, const std::string& to,
                  const std::string& outcome) {
  OpRecord op;
  op.op_id = id;
  op.spec = OpSpec{kind, from, to, "planned", json::object()};
  op.begin_ms = 1000;
  op.outcome = outcome;
  op.end_ms = 2000;
  return op;
}

TEST(FailbackTarget, IsWhereTheNewestCompletedOperationMovedThePrimaryFrom) {
  EXPECT_EQ(failback_target({}), std::nullopt);
  std::vector<OpRecord> h = {finished("1", "failover", "east", "west", "ok")};
  EXPECT_EQ(failback_target(h), "east");
  // A failed or aborted operation did not move the primary.
  h.push_back(finished("2", "failover", "west", "south", "failed"));
  EXPECT_EQ(failback_target(h), "east");
  // After the failback, failing back again returns to west.
  h.push_back(finished("3", "failback", "west", "east", "ok"));
  EXPECT_EQ(failback_target(h), "west");
}

TEST(FailbackTarget, PendingOperationsAndDrillsDoNotCount) {
  std::vector<OpRecord> h = {finished("1", "failover", "east", "west", "ok")};
  OpRecord pending = finished("2", "failover", "west", "east", "ok");
  pending.outcome.reset();
  h.push_back(pending);
  h.push_back(finished("3", "drill", "west", "east", "ok"));
  EXPECT_EQ(failback_target(h), "east");
}

StepRecord step(const std::string& name, int64_t began, int64_t ended, json data, bool failed = false) {
  StepRecord s;
  s.name = name;
  s.began = true;
  s.ended = !failed && ended > 0;
  s.failed = failed;
  s.attempts = 1;
  s.began_ms = began;
  s.ended_ms = ended;
  s.end_data = std::move(data);
  if (failed) s.failure_reason = s.end_data.value("reason", "");
  return s;
}

OpRecord unplanned_failover() {
  OpRecord op;
  op.op_id = "1795368659778-bba5d2a6";
  op.spec = OpSpec{"failover", "east", "west", "force", {{"force", true}}};
  op.begin_ms = 1'795'368'659'778;
  const int64_t t = op.begin_ms;
  op.steps = {
      step("precheck", t, t + 10, {{"planned", false}, {"summary", "west healthy, east unreachable: unplanned failover"}}),
      step("keep_aside", t + 10, t + 11, {{"kept_aside", json::array()}}),
      step("fence", t + 11, t + 20, {{"fenced", false}, {"summary", "east unreachable: not fenced"}}),
      step("drain", t + 20, t + 1500,
           {{"rpo_records", 7},
            {"loss",
             json::array({{{"topic", "orders"}, {"partition", 1}, {"from_offset", 40}, {"to_offset", 47}, {"records", 7}}})},
            {"summary", "7 record(s) not replicated"}}),
      step("stop_flow", t + 1500, t + 1600,
           {{"translated", true},
            {"groups", json::array({{{"group", "readers"}, {"synced", true}, {"reason", nullptr},
                                     {"offsets", json::array({1, 2, 3})}}})}}),
      step("promote", t + 1600, t + 1605, {{"summary", "west is primary"}}),
      step("verify", t + 1605, t + 1700, {{"rto_ms", 1690}, {"summary", "canary ok"}}),
      step("report", t + 1700, 0, json::object()),
  };
  return op;
}

TEST(Report, CarriesLossRtoAndEveryStepFromTheJournal) {
  OpRecord op = unplanned_failover();
  json r = build_report(op, nullptr);
  EXPECT_EQ(r["kind"], "failover");
  EXPECT_EQ(r["mode"], "unplanned");
  EXPECT_EQ(r["force"], true);
  EXPECT_EQ(r["outcome"], "running");
  EXPECT_EQ(r["rpo_records"], 7);
  EXPECT_EQ(r["rto_ms"], 1690);
  EXPECT_EQ(r["fenced"], false);
  ASSERT_EQ(r["loss"].size(), 1u);
  EXPECT_EQ(r["loss"][0]["records"], 7);
  ASSERT_EQ(r["groups"].size(), 1u);
  EXPECT_EQ(r["groups"][0]["partitions"], 3);
  ASSERT_EQ(r["steps"].size(), 8u);
  EXPECT_EQ(r["steps"][3]["name"], "drain");
  EXPECT_EQ(r["steps"][3]["duration_ms"], 1480);
  EXPECT_EQ(r["steps"].back()["result"], "running");
  EXPECT_TRUE(r["steps"].back()["duration_ms"].is_null());

  op.outcome = "ok";
  op.end_ms = op.begin_ms + 1800;
  op.steps.back() = step("report", op.begin_ms + 1700, op.begin_ms + 1710, {{"summary", "report written"}});
  r = build_report(op, nullptr);
  EXPECT_EQ(r["outcome"], "ok");
  EXPECT_EQ(r["duration_ms"], 1800);
  EXPECT_EQ(r["steps"].back()["result"], "ok");
}

// Pins issue 13 defect 3: an unplanned loss read from the mirror's view is a minimum, never
// "exact"; the Markdown says "at least".
TEST(Report, MarkdownStatesWhatWasLostAndThatTheOldPrimaryWasNotFenced) {
  OpRecord op = unplanned_failover();
  op.outcome = "ok";
  op.end_ms = op.begin_ms + 1800;
  const std::string md = render_markdown(build_report(op, nullptr));
  EXPECT_NE(md.find("# ferry-dr failover east -> west: ok"), std::string::npos) << md;
  EXPECT_NE(md.find("**RPO: at least 7 record(s) lost** (a lower bound"), std::string::npos) << md;
  EXPECT_NE(md.find("is of unknown age"), std::string::npos) << md;
  EXPECT_EQ(md.find("**RPO: 7 record(s) lost**"), std::string::npos) << md;
  EXPECT_NE(md.find("**RTO: 1690 ms**"), std::string::npos) << md;
  EXPECT_NE(md.find("old primary fenced: NO"), std::string::npos) << md;
  EXPECT_NE(md.find("| orders | 1 | [40, 47) | 7 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| readers | yes | 3 |"), std::string::npos) << md;
}

TEST(Report, ALowerBoundSaysHowOldItsViewWasAndFailbackAddsTheExactFigure) {
  OpRecord op = unplanned_failover();
  op.outcome = "ok";
  for (auto& st : op.steps)
    if (st.name == "drain") {
      st.end_data["loss_exact"] = false;
      st.end_data["rpo_records"] = nullptr;
      st.end_data["rpo_records_lower_bound"] = 7;
      st.end_data["source_view_as_of_ms"] = 1'700'000'000'000;
      st.end_data["source_view_age_ms"] = 250;
    }
  json r = build_report(op, nullptr);
  EXPECT_EQ(r["rpo_records_lower_bound"], 7);
  EXPECT_EQ(r["loss_exact"], false);
  EXPECT_TRUE(r["rpo_records"].is_null());
  std::string md = render_markdown(r);
  EXPECT_NE(md.find("**RPO: at least 7 record(s) lost**"), std::string::npos) << md;
  EXPECT_NE(md.find("was 250 ms old (as of 2023-11-14T22:13:20.000Z)"), std::string::npos) << md;
  OpRecord back;
  back.op_id = "fb";
  back.spec = OpSpec{"failback", "west", "east", "planned", json::object()};
  back.begin_ms = 9000;
  back.steps = {step("keep_aside", 9000, 9010,
                     {{"earlier_loss", {{"op_id", op.op_id}, {"estimated_lower_bound", 7}, {"source_view_age_ms", 250}, {"exact", 19}}}})};
  json rb = build_report(back, nullptr);
  EXPECT_EQ(rb["earlier_loss"]["exact"], 19);
  md = render_markdown(rb);
  EXPECT_NE(md.find("lost exactly 19 record(s)** (estimated then: at least 7, from a view 250 ms old)"), std::string::npos) << md;
}

TEST(Report, AFailedStepShowsItsReasonAndUnknownRpoSaysSo) {
  OpRecord op;
  op.op_id = "x";
  op.spec = OpSpec{"failover", "east", "west", "planned", json::object()};
  op.begin_ms = 5000;
  op.steps = {step("precheck", 5000, 5010, {{"planned", true}}),
              step("fence", 5010, 5020, {{"reason", "east: broker 0 refused IncrementalAlterConfigs"}}, true)};
  op.outcome = "failed";
  op.end_ms = 5030;
  json r = build_report(op, nullptr);
  EXPECT_TRUE(r["rpo_records"].is_null());
  EXPECT_TRUE(r["rto_ms"].is_null());
  const std::string md = render_markdown(r);
  EXPECT_NE(md.find("RPO: unknown record(s) lost"), std::string::npos) << md;
  EXPECT_NE(md.find("RTO: not measured"), std::string::npos) << md;
  EXPECT_NE(md.find("| fence |"), std::string::npos) << md;
  EXPECT_NE(md.find("| failed | 1 | east: broker 0 refused IncrementalAlterConfigs |"), std::string::npos) << md;
}

TEST(DrillReport, MarkdownLeadsWithTheVerdictRpoAndRedelivered) {
  json r = {{"passed", false},
            {"from", "east"},
            {"to", "west"},
            {"rpo_records", 2},
            {"redelivered", 5},
            {"final_healthy", false},
            {"final_health",
             {{"regions", json::array({{{"region", "east"}, {"reasons", json::array({"broker 0 unreachable"})}}})},
              {"flows", json::array()}}},
            {"duration_ms", 12000},
            {"rto_failover_ms", 1500},
            {"rto_failback_ms", nullptr},
            {"failover", {{"outcome", "ok"}}},
            {"failback", {{"outcome", "failed"}, {"reason", "east is not healthy"}}},
            {"workload",
             {{"produced_acknowledged", 900},
              {"produce_failures_retried", 12},
              {"consumed", 903},
              {"consumed_unique", 898},
              {"produced_twice", 0},
              {"write_outages", json::array({{{"recovered_on", "west"}, {"duration_ms", 2400}}})}}}};
  std::string md;
  ASSERT_NO_THROW(md = render_drill_markdown(r));
  EXPECT_NE(md.find("FAILED"), std::string::npos) << md;
  EXPECT_NE(md.find("| RPO (acknowledged records never consumed) | **2** |"), std::string::npos) << md;
  EXPECT_NE(md.find("| final health | NOT ok |"), std::string::npos) << md;
  EXPECT_NE(md.find("| final health reasons | east: broker 0 unreachable |"), std::string::npos) << md;
  EXPECT_NE(md.find("| RTO failback (start -> first produce on east) | **n/a ms** |"), std::string::npos) << md;
  EXPECT_NE(md.find("## failback: failed east is not healthy"), std::string::npos) << md;
}

}  // namespace
}  // namespace ferry::dr
