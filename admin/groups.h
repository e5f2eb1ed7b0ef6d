// Consumer-group lookups shared by the groups commands and the offsets commands.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

#include "admin/session.h"

namespace ferry::admin {

/// State of one consumer group via DescribeGroups (after FindCoordinator). A group the
/// coordinator does not know reports DEAD, as in Kafka. Throws OpError on any error, including
/// _UNSUPPORTED_FEATURE when the cluster does not serve the group APIs.
rd_kafka_consumer_group_state_t group_state(Session& s, const std::string& group);

/// The diagnosis step of coordinator_call; always throws.
[[noreturn]] void diagnose_coordinator_timeout(Session& s, const OpError& timeout);

/// Runs `op`, a request routed to the group coordinator. librdkafka 2.0.2 waits silently for a
/// coordinator when the broker does not advertise FindCoordinator, so such a request can only
/// time out. On _TIMED_OUT this asks ListGroups whether the cluster serves the group APIs at all;
/// if that is refused with _UNSUPPORTED_FEATURE the command fails with _UNSUPPORTED_FEATURE and
/// says both facts, otherwise the original timeout is rethrown.
template <class F>
decltype(auto) coordinator_call(Session& s, F&& op) {
  try {
    return op();
  } catch (const OpError& e) {
    if (e.code() != "_TIMED_OUT") throw;
    diagnose_coordinator_timeout(s, e);
  }
}

/// Throws OpError for a non-null librdkafka error object, prefixing `what`.
void throw_if_error(const rd_kafka_error_t* e, const std::string& what);

/// Throws OpError for a per-group result's error, if any.
void check_group_result(const rd_kafka_group_result_t* r, const std::string& what);

}  // namespace ferry::admin
