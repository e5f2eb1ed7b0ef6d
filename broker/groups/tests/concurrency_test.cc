// The coordinator used from several threads at once, as the broker's network threads will.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "broker/groups/tests/harness.h"

namespace ferry::groups::testing {
namespace {

TEST(GroupConcurrency, ParallelLifeCyclesOnSeparateGroupsAllComplete) {
  CoordinatorConfig cfg;
  cfg.initial_rebalance_delay_ms = 0;  // a lone member's rebalance completes within its join
  Harness h(cfg);
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};

  std::thread observer([&] {
    while (!done.load()) {
      h.gc->tick(h.now);
      (void)h.gc->list();
      (void)h.gc->describe({"t0-0", "t1-0"});
      (void)h.gc->next_deadline_ms();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        std::string group = "t" + std::to_string(t) + "-" + std::to_string(i);
        JoinRequest r = join_req(group);
        r.api_version = 3;
        Pending<JoinResult> j;
        h.gc->join(r, j.callback());
        if (!j.ready() || j.get().error != ErrorCode::NONE) {
          ++failures;
          continue;
        }
        const JoinResult& jr = j.get();
        Pending<SyncResult> s;
        h.gc->sync({group, jr.generation_id, jr.member_id, std::nullopt, std::nullopt,
                    std::nullopt, {{jr.member_id, Bytes{1}}}},
                   s.callback());
        if (!s.ready() || s.get().assignment != Bytes{1}) ++failures;
        if (h.gc->heartbeat({group, jr.generation_id, jr.member_id, std::nullopt}) != ErrorCode::NONE)
          ++failures;
        if (h.gc->leave({group, {{jr.member_id, std::nullopt}}}).members.at(0).error != ErrorCode::NONE)
          ++failures;
        if (h.gc->delete_groups({group}).at(0).error != ErrorCode::NONE) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  observer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(h.gc->list().empty());
  EXPECT_TRUE(h.store->snapshots().empty()) << "every group was deleted, tombstones last";
}

}  // namespace
}  // namespace ferry::groups::testing
