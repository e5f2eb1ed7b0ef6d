// A flow of several tasks (tasks.max) answers as one flow (task_merge.h): what an operator or
// ferry-dr reads in /status, a pause answer and a checkpoint answer must not depend on how many
// tasks hold the partitions.
#include "mirror/task_merge.h"

#include <gtest/gtest.h>

#include <random>

namespace ferry::mirror {
namespace {

PartitionStatus part(const std::string& topic, int32_t p, int64_t next, int64_t end) {
  PartitionStatus s;
  s.topic = topic;
  s.partition = p;
  s.remote_topic = "east." + topic;
  s.next_offset = next;
  s.source_end_offset = end;
  s.lag_records = std::max<int64_t>(0, end - next);
  return s;
}

FlowStatus task_status(std::vector<PartitionStatus> parts, int64_t records) {
  FlowStatus s;
  s.flow = "east->west";
  s.source = "east";
  s.target = "west";
  s.state = "running";
  s.records_replicated = records;
  s.checkpoints_emitted = 1;
  s.group_offsets_synced = 0;
  s.source_anomalies = 0;
  s.topics = {{"orders", "east.orders", 4}};
  s.partitions = std::move(parts);
  s.heartbeat.emplace();
  s.current_errors.emplace();
  s.healthy = true;
  s.source_reachable = true;
  return s;
}

TEST(TaskMerge, StatusSumsCountersAndUnitesPartitions) {
  auto a = task_status({part("orders", 0, 10, 12), part("orders", 1, 5, 5)}, 15);
  auto b = task_status({part("orders", 2, 7, 9), part("orders", 3, 0, 3)}, 7);
  b.heartbeat->last_replicated_ms = 1000;
  b.current_errors = std::vector<std::string>{"target: cannot write"};
  b.last_error = "target: cannot write";
  b.last_error_ms = 99;
  b.state = "paused";
  const auto s = merge_task_statuses({a, b});
  EXPECT_EQ(s.records_replicated, 22);
  EXPECT_EQ(s.checkpoints_emitted, 2);
  ASSERT_EQ(s.partitions.size(), 4u);
  int64_t lag = 0;
  for (const auto& p : s.partitions) lag += p.lag_records;
  EXPECT_EQ(lag, 2 + 0 + 2 + 3);
  EXPECT_EQ(s.topics.size(), 1u);
  EXPECT_EQ(s.heartbeat->last_replicated_ms, 1000);
  EXPECT_EQ(s.last_error, "target: cannot write");
  EXPECT_FALSE(*s.healthy);
  EXPECT_EQ(s.state, "paused");
}

TEST(TaskMerge, APartitionHeldByTwoTasksKeepsTheFurtherPosition) {
  // Task 0 kept orders-1 from before a pause at 5; task 1 took it over since and is at 8.
  const auto merged = merge_task_partitions({{part("orders", 1, 5, 10)}, {part("orders", 1, 8, 10)}});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].next_offset, 8);
  EXPECT_EQ(merged[0].lag_records, 2);
}

TEST(TaskMerge, EveryPartitionOnceWhateverTheSplit) {
  // Seeded property: any split of a flow's partitions over 1..8 tasks, with some partitions also
  // reported (behind) by a second task, merges to exactly the partitions, sorted, each at its
  // furthest position.
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const int tasks = 1 + static_cast<int>(rng() % 8), parts = 1 + static_cast<int>(rng() % 40);
    std::vector<std::vector<PartitionStatus>> per_task(tasks);
    std::vector<int64_t> next(parts);
    for (int p = 0; p < parts; ++p) {
      next[p] = rng() % 1000;
      per_task[rng() % tasks].push_back(part("t", p, next[p], 1000));
      if (rng() % 4 == 0) per_task[rng() % tasks].push_back(part("t", p, next[p] / 2, 1000));
    }
    const auto merged = merge_task_partitions(per_task);
    ASSERT_EQ(merged.size(), static_cast<size_t>(parts)) << "seed " << seed;
    for (int p = 0; p < parts; ++p) {
      EXPECT_EQ(merged[p].partition, p) << "seed " << seed;
      EXPECT_EQ(merged[p].next_offset, next[p]) << "seed " << seed;
    }
  }
}

TEST(TaskMerge, PauseAnswersOneFlow) {
  const metrics::JsonReply a{200, nlohmann::json(PauseReply{"east->west", "paused", true, {part("o", 0, 3, 3)}}).dump()};
  const metrics::JsonReply b{200, nlohmann::json(PauseReply{"east->west", "paused", false, {part("o", 1, 4, 6)}}).dump()};
  auto r = merge_pause_replies({a, b});
  ASSERT_EQ(r.status, 200) << r.body;
  auto p = nlohmann::json::parse(r.body).get<PauseReply>();
  EXPECT_EQ(p.partitions.size(), 2u);
  EXPECT_EQ(p.source_reachable, false) << "one task could not read the source's end offsets";

  const metrics::JsonReply slow{504, nlohmann::json(ErrorReply{"records still unacknowledged", std::vector{part("o", 1, 4, 6)}}).dump()};
  r = merge_pause_replies({a, slow});
  ASSERT_EQ(r.status, 504);
  auto e = nlohmann::json::parse(r.body).get<ErrorReply>();
  ASSERT_TRUE(e.partitions);
  EXPECT_EQ(e.partitions->size(), 1u) << "only what is still in flight";

  const metrics::JsonReply stopping{500, nlohmann::json(ErrorReply{"the flow is stopping", std::nullopt}).dump()};
  EXPECT_EQ(merge_pause_replies({slow, stopping}).status, 500);
  EXPECT_EQ(merge_pause_replies({a, {200, "not json"}}).status, 500);
}

TEST(TaskMerge, CheckpointGroupsOnceWithEveryTasksOffsets) {
  CheckpointReply a{"east->west", 2, {{"app", true, std::nullopt, {{"east.o", 0, 5, 5}}}}};
  CheckpointReply b{"east->west", 1, {{"app", false, "active group", {{"east.o", 1, 7, 7}}}, {"other", true, std::nullopt, {}}}};
  const auto r = merge_checkpoint_replies({{200, nlohmann::json(a).dump()}, {200, nlohmann::json(b).dump()}});
  ASSERT_EQ(r.status, 200);
  const auto c = nlohmann::json::parse(r.body).get<CheckpointReply>();
  EXPECT_EQ(c.checkpoints_emitted, 3);
  ASSERT_EQ(c.groups.size(), 2u);
  EXPECT_EQ(c.groups[0].offsets.size(), 2u);
  EXPECT_FALSE(c.groups[0].synced);
  EXPECT_EQ(c.groups[0].reason, "active group");
}

}  // namespace
}  // namespace ferry::mirror
