// A wake-up for one coroutine sleeping on an Asio io_context, which a waker cannot miss.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

/// A binary semaphore for one sleeper on a single-threaded io_context. A bare timer's cancel()
/// only reaches a wait already pending: the broker's connection writer, suspended elsewhere (in a
/// TLS flush) when a handler finished, lost that wake-up, and the finished response waited for
/// the next request; ferry-wan-proxy's forwarders wait the same way. Here wake() before sleep() makes that sleep() return at once; a sleeper may still
/// wake without news, so it re-checks its condition in a loop. Not thread-safe: call both from
/// the io_context's thread.
class Wakeup {
 public:
  explicit Wakeup(boost::asio::io_context& ctx) : timer_(ctx) {}

  void wake() {
    signalled_ = true;
    timer_.cancel();
  }

  /// Returns once wake() was called since the last sleep() returned (at once if it already was).
  boost::asio::awaitable<void> sleep() {
    if (!signalled_) {
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      boost::system::error_code ec;  // operation_aborted: woken
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    signalled_ = false;
  }

  /// Returns once wake() was called since the last sleep returned, or at `deadline`, whichever
  /// comes first (at once if either already happened).
  boost::asio::awaitable<void> sleep_until(boost::asio::steady_timer::time_point deadline) {
    if (!signalled_) {
      timer_.expires_at(deadline);
      boost::system::error_code ec;  // operation_aborted: woken; success: deadline
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    signalled_ = false;
  }

 private:
  boost::asio::steady_timer timer_;
  bool signalled_ = false;
};

}  // namespace ferry
