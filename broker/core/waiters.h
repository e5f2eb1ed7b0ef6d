// Wake-ups for coroutines that wait for an offset watermark to pass a target: Fetch long polls wait
// for the high watermark, acks=all produces wait for the flushed offset (group commit). A waiter is a
// steady_timer armed with the caller's deadline; reaching the target cancels it on its own executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace ferry::broker {

/// Thread-safe set of (target offset, timer) pairs. Correctness relies on each io_context being
/// run by one thread: a coroutine registers, re-checks its condition, then waits, and a wake-up
/// posted in between runs only after the wait has started.
class OffsetWaiters {
 public:
  using TimerPtr = std::shared_ptr<boost::asio::steady_timer>;

  void add(TimerPtr timer, int64_t target) {
    std::lock_guard lk(mu_);
    waiters_.emplace_back(target, std::move(timer));
  }

  void remove(const TimerPtr& timer) {
    std::lock_guard lk(mu_);
    std::erase_if(waiters_, [&](auto& w) { return w.second == timer; });
  }

  /// Wakes (and forgets) every waiter whose target is <= watermark.
  void advance(int64_t watermark) {
    std::lock_guard lk(mu_);
    std::erase_if(waiters_, [&](auto& w) {
      if (w.first > watermark) return false;
      wake(w.second);
      return true;
    });
  }

  /// Wakes every waiter (shutdown, topic deletion).
  void wake_all() { advance(INT64_MAX); }

 private:
  static void wake(const TimerPtr& t) {
    boost::asio::post(t->get_executor(), [t] { t->cancel(); });
  }
  std::mutex mu_;
  std::vector<std::pair<int64_t, TimerPtr>> waiters_;
};

/// Whether a wait over several watermarks is done when one of them reaches its target (a Fetch
/// long poll: any partition with new data answers it) or only when all do (acks=all).
enum class WaitFor { any, all };

/// Suspends the calling coroutine, which must run on a single-threaded io_context, until the
/// watermarks of `waits` reach their targets (`mode`), `deadline` passes, or `keep_waiting()`
/// turns false. Returns whether the targets were reached (true at once for no waits). Watermarks
/// only grow.
///
/// `watermark_of(w)` reads w's watermark (from any thread); w is reached when it is at least
/// `target_of(w)`, the offset also registered with `waiters_of(w)`, the OffsetWaiters that whoever
/// moves that watermark advances *after* moving it; `after_register(waits)` runs once
/// the waits still pending are registered (an acks=all produce asks the flusher for their fsync).
///
/// Each round reads every watermark once to decide whether it is done and which waits to
/// register, registers them, then reads again before sleeping, so an append on another network
/// thread at any point is seen either by the re-read or by its own advance(). Reading twice before
/// registering lost wake-ups: a Fetch saw partition P below target, P moved, the second read
/// dropped P from the registration as already reached, and the long poll slept until another
/// partition moved or fetch.max.wait.ms passed, with P's records unsent (issue 16's mirror stalls).
template <typename Wait, typename WatermarkOf, typename WaitersOf, typename TargetOf, typename KeepWaiting,
          typename AfterRegister>
boost::asio::awaitable<bool> wait_for_watermarks(std::vector<Wait> waits, WaitFor mode,
                                                 std::chrono::steady_clock::time_point deadline, WatermarkOf watermark_of,
                                                 WaitersOf waiters_of, TargetOf target_of, KeepWaiting keep_waiting,
                                                 AfterRegister after_register) {
  namespace asio = boost::asio;
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  auto reached = [&](const Wait& w) { return watermark_of(w) >= target_of(w); };
  auto done = [&] {
    return mode == WaitFor::any ? std::any_of(waits.begin(), waits.end(), reached)
                                : std::all_of(waits.begin(), waits.end(), reached);
  };
  while (keep_waiting() && std::chrono::steady_clock::now() < deadline) {
    // The one read of this round: `any` is done if one moved; `all` drops the ones that moved
    // and is done when none is left. What stays was below its target at this read.
    if (mode == WaitFor::any) {
      if (std::any_of(waits.begin(), waits.end(), reached)) co_return true;
    } else {
      std::erase_if(waits, reached);
    }
    if (waits.empty()) co_return true;
    timer->expires_at(deadline);
    for (auto& w : waits) waiters_of(w).add(timer, target_of(w));
    after_register(std::as_const(waits));
    if (!done() && keep_waiting()) {  // a shutdown that began meanwhile may have woken all already
      boost::system::error_code ec;  // operation_aborted: woken; success: deadline
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    for (auto& w : waits) waiters_of(w).remove(timer);
  }
  co_return done();
}

}  // namespace ferry::broker
