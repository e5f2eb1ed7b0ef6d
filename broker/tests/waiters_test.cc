// wait_for_watermarks: the wait behind Fetch long polls and acks=all produces, driven by real
// OffsetWaiters, timers and io_contexts, with appends landing at the moments that used to lose a
// wake-up.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "broker/core/waiters.h"

namespace ferry::broker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A partition as the wait sees it: a watermark that only grows and the waiters it advances.
struct Mark {
  std::atomic<int64_t> value{0};
  OffsetWaiters waiters;
  /// What an append does: move the watermark, then wake whoever waits for it.
  void append() { waiters.advance(++value); }
};

struct Wait {
  Mark* mark;
  int64_t target;
};

/// Runs one wait_for_watermarks on its own single-threaded io_context (as a network thread
/// does) and returns its result and how long it took. `reached_hook` runs after each watermark
/// read, to land an append exactly there.
struct Outcome {
  bool reached;
  Clock::duration took;
};
Outcome run_wait(std::vector<Wait> waits, WaitFor mode, Clock::duration timeout,
                 std::function<void(const Wait&)> reached_hook = {}) {
  boost::asio::io_context io{1};
  std::optional<bool> result;
  const auto start = Clock::now();
  boost::asio::co_spawn(
      io,
      wait_for_watermarks(
          std::move(waits), mode, start + timeout,
          [&](const Wait& w) {
            const int64_t v = w.mark->value.load();
            if (reached_hook) reached_hook(w);
            return v;
          },
          [](const Wait& w) -> OffsetWaiters& { return w.mark->waiters; }, [](const Wait& w) { return w.target; },
          [] { return true; }, [](const std::vector<Wait>&) {}),
      [&](std::exception_ptr e, bool r) {
        if (e) std::rethrow_exception(e);
        result = r;
      });
  io.run();
  return {result.value(), Clock::now() - start};
}

// The lost wake-up behind issue 16's 500 ms mirror stalls: a Fetch over a busy and an idle
// partition reads the busy one just below its target, an append on another network thread
// lands right after that read, and the wait must still end at once. Reading the watermarks a
// second time before registering dropped the busy partition as "already reached" and slept on
// the idle one until the deadline.
TEST(WaitForWatermarks, AnAppendRightAfterTheFirstReadEndsAFetchLongPoll) {
  Mark busy, idle;
  int reads_of_busy = 0;
  auto hook = [&](const Wait& w) {
    if (w.mark == &busy && ++reads_of_busy == 1) busy.append();  // lands after the first read
  };
  auto out = run_wait({{&busy, 1}, {&idle, 1}}, WaitFor::any, 20s, hook);
  EXPECT_TRUE(out.reached);
  EXPECT_LT(out.took, 10s) << "slept toward the deadline with the busy partition's record unsent";
}

// The same moments for acks=all: one partition fsynced right after any of the wait's first
// reads, the other a little later from another thread; the wait ends when both are.
TEST(WaitForWatermarks, AllModeSeesEveryTargetWhateverTheMomentOfTheAppend) {
  for (int land_after_read = 1; land_after_read <= 3; ++land_after_read) {
    Mark a, b;
    int reads = 0;
    auto hook = [&](const Wait&) {
      if (++reads == land_after_read) a.append();
    };
    std::thread later([&] {
      std::this_thread::sleep_for(20ms);
      b.append();
    });
    auto out = run_wait({{&a, 1}, {&b, 1}}, WaitFor::all, 20s, hook);
    later.join();
    EXPECT_TRUE(out.reached) << "append after read " << land_after_read;
    EXPECT_LT(out.took, 10s) << "append after read " << land_after_read;
  }
}

TEST(WaitForWatermarks, NothingMovesUntilTheDeadline) {
  Mark a, b;
  auto out = run_wait({{&a, 1}, {&b, 1}}, WaitFor::any, 100ms);
  EXPECT_FALSE(out.reached);
  EXPECT_GE(out.took, 100ms);
}

TEST(WaitForWatermarks, AllModeIsNotDoneWithOneOfTwo) {
  Mark a, b;
  a.append();
  auto out = run_wait({{&a, 1}, {&b, 1}}, WaitFor::all, 100ms);
  EXPECT_FALSE(out.reached);
}

TEST(WaitForWatermarks, NoWaitsIsDoneAtOnce) {
  EXPECT_TRUE(run_wait({}, WaitFor::all, 20s).reached);
  EXPECT_TRUE(run_wait({}, WaitFor::any, 20s).reached);
}

// Appends from other threads at random moments against long polls over a busy and three idle
// partitions, the mirror's shape: every poll must end because the busy partition moved, never
// at its (long) deadline. Seeded; a failure prints the seed.
TEST(WaitForWatermarks, LongPollsEndOnAppendsFromOtherThreads) {
  const auto seed = static_cast<uint32_t>(std::random_device{}());
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Mark busy, idle[3];
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pause_us(0, 200);
    while (!stop) {
      busy.append();
      if (int us = pause_us(rng); us > 100) std::this_thread::sleep_for(std::chrono::microseconds(us - 100));
    }
  });
  boost::asio::io_context io{1};
  int polls = 0, at_deadline = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        const auto until = Clock::now() + 2s;
        while (Clock::now() < until) {
          std::vector<Wait> waits{{&busy, busy.value.load() + 1}, {&idle[0], 1}, {&idle[1], 1}, {&idle[2], 1}};
          const bool reached = co_await wait_for_watermarks(
              std::move(waits), WaitFor::any, Clock::now() + 5s,
              [](const Wait& w) { return w.mark->value.load(); },
              [](const Wait& w) -> OffsetWaiters& { return w.mark->waiters; },
              [](const Wait& w) { return w.target; }, [] { return true; }, [](const std::vector<Wait>&) {});
          ++polls;
          if (!reached) ++at_deadline;
        }
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  stop = true;
  appender.join();
  EXPECT_GT(polls, 100);
  EXPECT_EQ(at_deadline, 0) << "of " << polls << " long polls";
}

}  // namespace
}  // namespace ferry::broker
