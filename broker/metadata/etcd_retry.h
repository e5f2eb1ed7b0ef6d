// Retrying etcd calls for the broker's metadata code (the store, the controller): one loop, so
// every caller gives up the same way and says so.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "common/etcd_client.h"

namespace ferry::broker {

/// Calls `f` until it returns, retrying on retriable etcd errors (EtcdError::retriable(): no
/// endpoint reachable, no leader, timeout) with a backoff from 50 ms doubling to 500 ms, for at
/// most `window`; then throws the last error with `what` and the window added to its message
/// (which already names the endpoints). Non-retriable errors, and any error when `window` is 0,
/// are thrown at once. Callers retry only idempotent calls or compare-and-set transactions.
template <class F>
auto with_retries(std::chrono::milliseconds window, const std::string& what, F&& f) -> decltype(f()) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + window;
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    try {
      return f();
    } catch (const etcd::EtcdError& e) {
      if (!e.retriable() || window.count() == 0) throw;
      if (Clock::now() + backoff >= deadline) {
        throw etcd::EtcdError(e.code, fmt::format("{} (etcd metadata store: gave up on {} after {} ms of retries)",
                                                  e.what(), what, window.count()));
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
}

}  // namespace ferry::broker
