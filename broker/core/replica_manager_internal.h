// What replica_manager.cc and replica_manager_background.cc share: the checkpoint file names
// (Kafka's, one file of each kind per log dir). Private to ReplicaManager.
#pragma once

#include "broker/storage/log.h"

namespace ferry::broker::internal {

inline constexpr const char* kRecoveryPointFile = "recovery-point-offset-checkpoint";
inline constexpr const char* kLogStartOffsetFile = "log-start-offset-checkpoint";
inline constexpr const char* kCleanerOffsetFile = storage::kCleanerCheckpointFile;

}  // namespace ferry::broker::internal
