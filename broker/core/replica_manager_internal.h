// What replica_manager.cc and replica_manager_background.cc share: the checkpoint file names
// (Kafka's, one file of each kind per log dir) and the wall clock. Private to ReplicaManager.
#pragma once

#include <chrono>
#include <cstdint>

#include "broker/storage/log.h"

namespace ferry::broker::internal {

inline constexpr const char* kRecoveryPointFile = "recovery-point-offset-checkpoint";
inline constexpr const char* kLogStartOffsetFile = "log-start-offset-checkpoint";
inline constexpr const char* kCleanerOffsetFile = storage::kCleanerCheckpointFile;

/// Wall-clock ms since the epoch.
inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ferry::broker::internal
