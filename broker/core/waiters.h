// Wake-ups for coroutines that wait for an offset watermark to pass a target: Fetch long polls wait
// for the high watermark, acks=all produces wait for the flushed offset (group commit). A waiter is a
// steady_timer armed with the caller's deadline; reaching the target cancels it on its own executor.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

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

}  // namespace ferry::broker
