// What replica_manager.cc and replica_manager_background.cc share: the checkpoint file names
// (Kafka's, one file of each kind per log dir) and the pool that opens, closes and snapshots
// partitions. Private to ReplicaManager.
#pragma once

#include <cstddef>
#include <functional>

#include "broker/storage/log.h"

namespace ferry::broker::internal {

inline constexpr const char* kRecoveryPointFile = "recovery-point-offset-checkpoint";
inline constexpr const char* kLogStartOffsetFile = "log-start-offset-checkpoint";
inline constexpr const char* kCleanerOffsetFile = storage::kCleanerCheckpointFile;

/// Runs fn(0) .. fn(count - 1) on up to `threads` threads (a Boost.Asio thread_pool) and returns
/// when all ran; then rethrows the exception of the lowest index that threw, if any.
void run_on_threads(size_t count, size_t threads, const std::function<void(size_t)>& fn);

}  // namespace ferry::broker::internal
