// The verification step's canary: one record produced to the new primary and consumed back,
// through the same client library and properties applications use (librdkafka).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dr-orchestrator/config.h"

namespace ferry::dr {

/// The topic canaries go to (created with 1 partition when missing). Its name matches MM2's
/// default `topics.exclude` (`.*[\-\.]internal`, ferry-mirror's too), so a flow does not copy it:
/// a canary record verifies one operation on one region. When a flow did copy it (ferry-dr before
/// this name, which used kLegacyCanaryTopic, or a flow with its own `topics.exclude`), each new
/// canary topic made the flow out of the new primary rebalance and copy the record, and the
/// failback right after waited for both.
inline constexpr const char* kCanaryTopic = "ferry-dr.canary.internal";
/// The canary topic of earlier ferry-dr versions; still recognized by is_canary_topic().
inline constexpr const char* kLegacyCanaryTopic = "ferry-dr.canary";

/// What one canary round trip measured.
struct CanaryResult {
  int32_t partition = 0;
  int64_t offset = -1;       ///< where the record landed
  int64_t acked_ms = 0;      ///< wall-clock ms when the producer's delivery report arrived
  int64_t consumed_ms = 0;   ///< wall-clock ms when the record was read back
};

/// Produces one record (key `key`, value a small JSON naming it and the time) with an idempotent
/// producer, acks=all, client.id "ferry-dr-canary", to kCanaryTopic on `region`, retrying every
/// failed attempt until `timeout` (the first attempts may meet a broker that has just been
/// promoted); then consumes it back from its offset. Throws DrError(Exit::failed) naming the region
/// and the last Kafka error when either half did not succeed in time.
CanaryResult run_canary(const RegionConfig& region, const std::string& key, std::chrono::milliseconds timeout);

}  // namespace ferry::dr
