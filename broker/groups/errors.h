// The Kafka error codes the group coordinator answers with, as plain wire values (int16). The
// coordinator is a pure library with no dependency on broker/protocol, so it names the handful of
// codes it needs here; the numbers are Kafka's (kafka.apache.org/protocol, "Error Codes") and must
// never be renumbered.
#pragma once

#include <cstdint>

namespace ferry::groups::err {

inline constexpr int16_t NONE = 0;
/// The group is being unloaded or was just deleted; the client rediscovers the coordinator.
inline constexpr int16_t COORDINATOR_NOT_AVAILABLE = 15;
/// Answered to requests still pending when the coordinator shuts down (Kafka's resignation path).
inline constexpr int16_t NOT_COORDINATOR = 16;
/// The member's generation is not the group's current one; the client must rejoin.
inline constexpr int16_t ILLEGAL_GENERATION = 22;
/// Protocol type differs from the group's, or no protocol is supported by every member.
inline constexpr int16_t INCONSISTENT_GROUP_PROTOCOL = 23;
/// Empty group id.
inline constexpr int16_t INVALID_GROUP_ID = 24;
/// The member id is not (or no longer) in the group; the client rejoins with an empty id.
inline constexpr int16_t UNKNOWN_MEMBER_ID = 25;
/// session.timeout.ms outside [group.min.session.timeout.ms, group.max.session.timeout.ms].
inline constexpr int16_t INVALID_SESSION_TIMEOUT = 26;
/// A rebalance is under way; the member must send JoinGroup again.
inline constexpr int16_t REBALANCE_IN_PROGRESS = 27;
/// DeleteGroups on a group that still has members.
inline constexpr int16_t NON_EMPTY_GROUP = 68;
/// DeleteGroups on a group this coordinator does not know.
inline constexpr int16_t GROUP_ID_NOT_FOUND = 69;
/// KIP-394: JoinGroup v4+ from an unknown member; retry with the member id in the response.
inline constexpr int16_t MEMBER_ID_REQUIRED = 79;
/// KIP-345: another member id now owns this group.instance.id; the old process must stop.
inline constexpr int16_t FENCED_INSTANCE_ID = 82;

/// Kafka's upper-case name for one of the codes above ("UNKNOWN_MEMBER_ID"), or "UNKNOWN" for
/// any other value. For logs and test messages only.
const char* name(int16_t code);

}  // namespace ferry::groups::err
