// The typed step results against the journal data the previous ferry-dr wrote (the JSON below is
// what its steps produced, key for key): every shape reads back and writes out unchanged, so an
// operation journaled before the upgrade resumes and the audit entries stay the same; a missing
// or mistyped key is an error naming the step and the key.
#include <gtest/gtest.h>

#include "dr-orchestrator/step_results.h"

namespace ferry::dr {
namespace {

using json = nlohmann::json;

template <class R>
void expect_round_trip(const json& legacy) {
  const R typed = legacy.get<R>();
  EXPECT_EQ(json(typed), legacy) << R::kStep;
}

TEST(StepResults, EveryShapeThePreviousVersionWroteReadsBackUnchanged) {
  expect_round_trip<PrecheckResult>(json::parse(R"j({"planned":true,"from_reachable":true,"from_error":"",
    "to_state":"healthy","to_reasons":[],"from_role":"primary","to_role":"standby","summary":"west healthy"})j"));
  expect_round_trip<PrecheckResult>(json::parse(R"j({"planned":false,"from_reachable":false,"from_error":"down",
    "to_state":"healthy","to_reasons":[],"from_role":"","to_role":"standby","estimated_loss_lower_bound":null,
    "source_view_age_ms":null,"summary":"s"})j"));
  expect_round_trip<KeepAsideResult>(json::parse(R"j({"kept_aside":[],"summary":"nothing kept aside"})j"));
  expect_round_trip<KeepAsideResult>(json::parse(R"j({"kept_aside":[{"topic":"o","partition":0,"from_offset":8,
    "to_offset":12,"records":4}],"records":4,"from_op":"1-a","earlier_loss":{"op_id":"1-a","estimated_lower_bound":2,
    "source_view_age_ms":40,"exact":4,"unknown_partitions":[],"records_in_known_partitions":4},"summary":"s"})j"));
  expect_round_trip<SyncFlowResult>(json::parse(R"j({"skipped":true,"summary":"skipped (unplanned)"})j"));
  expect_round_trip<SyncFlowResult>(json::parse(R"j({"fenced_target":true,"flow_running":true,"summary":"s"})j"));
  expect_round_trip<FenceResult>(json::parse(R"j({"fenced":false,"reason":"east unreachable","summary":"s"})j"));
  expect_round_trip<FenceResult>(json::parse(R"j({"fenced":true,"summary":"s"})j"));
  // drain: no flow; planned; planned timeout (--force) with offsets unreadable; unplanned paused;
  // unplanned with unknown partitions (--force); unplanned with the mirror silent (--force).
  expect_round_trip<DrainResult>(json::parse(R"j({"planned":true,"loss_exact":false,"loss":[],"rpo_records":null,
    "rpo_records_lower_bound":null,"summary":"no flow: loss unknown"})j"));
  expect_round_trip<DrainResult>(json::parse(R"j({"planned":true,"loss_exact":true,"loss":[],"rpo_records":0,
    "rpo_records_lower_bound":0,"end_offsets":[{"topic":"o","partition":0,"end_offset":10}],
    "groups_waited_for":["app"],"groups_unsettled":[{"group":"app","records_unconsumed":3}],"summary":"s"})j"));
  expect_round_trip<DrainResult>(json::parse(R"j({"planned":true,"loss_exact":false,"loss":[{"error":"no leader"}],
    "rpo_records":null,"rpo_records_lower_bound":null,"summary":"s"})j"));
  const json unplanned = json::parse(R"j({"planned":false,"loss_exact":false,"loss":[{"topic":"o","partition":0,
    "from_offset":8,"to_offset":10,"records":2}],"rpo_records":null,"rpo_records_lower_bound":2,
    "source_view_as_of_ms":1000,"source_view_age_ms":40,"source_reachable":false,"loss_text":"at least 2",
    "partitions":[{"topic":"o","partition":0,"remote_topic":"east.o","next_offset":8,"source_end_offset":10,
    "source_end_offset_ms":1000}],"paused_everywhere":true,"summary":"s"})j");
  expect_round_trip<DrainResult>(unplanned);
  json unknown = unplanned;
  unknown.update(json::parse(R"j({"loss_unknown":true,"unknown_partitions":[{"topic":"o","partition":1}],
    "reason":"no position","source_view_age_ms":null,"source_reachable":null})j"));
  expect_round_trip<DrainResult>(unknown);
  expect_round_trip<DrainResult>(json::parse(R"j({"planned":false,"loss_exact":false,"loss":[],"rpo_records":null,
    "rpo_records_lower_bound":null,"source_view_age_ms":null,"reason":"refused","summary":"s"})j"));
  expect_round_trip<StopFlowResult>(json::parse(R"j({"groups":[],"translated":false,"summary":"no flow"})j"));
  expect_round_trip<StopFlowResult>(json::parse(R"j({"paused":true,"pause_errors":[],"translated":true,"reason":"",
    "checkpoints_emitted":1,"groups":[{"group":"app","synced":true,"reason":null,"offsets":[{"topic":"east.o",
    "partition":0,"upstream":7,"downstream":7}]}],"summary":"s"})j"));
  expect_round_trip<StopFlowResult>(json::parse(R"j({"paused":true,"pause_pending":false,"pause_errors":[],
    "translated":false,"reason":"east unreachable","groups":[],"summary":"s"})j"));
  expect_round_trip<PromoteResult>(json::parse(R"j({"role":"primary","summary":"west is primary"})j"));
  expect_round_trip<RedirectResult>(json::parse(R"j({"bootstrap_file":"/b","servers":"w:1","summary":"s"})j"));
  expect_round_trip<RedirectResult>(json::parse(R"j({"bootstrap_file":"","servers":"w:1","hook_exit":0,
    "hook_output":"","summary":"s"})j"));
  expect_round_trip<ReverseResult>(json::parse(R"j({"started":false,"reason":"no reverse flow configured",
    "summary":"no reverse flow configured"})j"));
  expect_round_trip<ReverseResult>(json::parse(R"j({"started":false,"flow":"west->east","reason":"r","summary":"s"})j"));
  expect_round_trip<ReverseResult>(json::parse(R"j({"started":true,"flow":"west->east","summary":"s"})j"));
  expect_round_trip<VerifyResult>(json::parse(R"j({"topic":"ferry-dr.canary","partition":0,"offset":3,
    "acked_ms":5,"consumed_ms":6,"rto_ms":900,"summary":"s"})j"));
  expect_round_trip<ReportResult>(json::parse(R"j({"path":"/r.md","final_healthy":true,"summary":"s"})j"));
  expect_round_trip<RollbackResult>(json::parse(R"j({"unfenced":"east","flow_resumed":"east->west"})j"));
  expect_round_trip<OpOptions>(json::parse(R"j({"planned":true,"force":false,"max_data_loss":0})j"));
}

// Reads `j` as R and returns the StepDataError's key ("" when none was thrown).
template <class R>
std::string missing_key(const json& j) {
  try {
    (void)j.get<R>();
  } catch (const StepDataError& e) {
    EXPECT_EQ(e.step(), R::kStep);
    EXPECT_NE(std::string(e.what()).find(e.key()), std::string::npos) << e.what();
    return e.key();
  }
  return "";
}

TEST(StepResults, AMissingOrMistypedKeyIsNamedNeverDefaulted) {
  EXPECT_EQ(missing_key<FenceResult>(json::parse(R"j({"summary":"s"})j")), "fenced");
  // Not fenced: why not is part of that shape.
  EXPECT_EQ(missing_key<FenceResult>(json::parse(R"j({"fenced":false,"summary":"s"})j")), "reason");
  EXPECT_EQ(missing_key<PrecheckResult>(json::parse(R"j({"planned":false,"from_reachable":false,"from_error":"",
    "to_state":"healthy","to_reasons":[],"from_role":"","to_role":"","summary":"s"})j")),
            "estimated_loss_lower_bound");
  EXPECT_EQ(missing_key<DrainResult>(json::parse(R"j({"planned":true,"loss_exact":true,"loss":[{"topic":"o",
    "partition":0,"from_offset":1,"records":1}],"rpo_records":0,"rpo_records_lower_bound":0,"summary":"s"})j")),
            "loss[0].to_offset");
  EXPECT_EQ(missing_key<DrainResult>(json::parse(R"j({"planned":"yes","loss_exact":true,"loss":[],
    "rpo_records":0,"rpo_records_lower_bound":0,"summary":"s"})j")),
            "planned");
  // One key of the planned-complete group without the others is damage, not another shape.
  EXPECT_EQ(missing_key<DrainResult>(json::parse(R"j({"planned":true,"loss_exact":true,"loss":[],"rpo_records":0,
    "rpo_records_lower_bound":0,"end_offsets":[],"summary":"s"})j")),
            "groups_waited_for");
  EXPECT_EQ(missing_key<VerifyResult>(json::parse(R"j({"topic":"t","partition":0,"offset":1,"acked_ms":1,
    "consumed_ms":1,"summary":"s"})j")),
            "rto_ms");
  EXPECT_EQ(missing_key<OpOptions>(json::parse(R"j({"planned":true,"max_data_loss":0})j")), "op.extra.force");
}

}  // namespace
}  // namespace ferry::dr
