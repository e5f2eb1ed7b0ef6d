// What a handler knows about the request it serves and the broker it runs in.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <boost/asio/any_io_executor.hpp>
#include <string>

#include "broker/config/broker_config.h"
#include "broker/protocol/header.h"
#include "security/acl.h"
#include "security/authorizer.h"

namespace ferry::security {
class SecurityAuditLog;
}
namespace ferry::metrics {
class Registry;
}
namespace ferry::groups {
class GroupCoordinator;
}

namespace ferry::broker::replication {
class Replication;
}
namespace ferry::broker {

class ReplicaManager;
class MetadataStore;
class GroupMetadataManager;
class TlsContexts;

/// Long-lived services shared by every handler on every network thread (all thread-safe).
struct BrokerServices {
  const BrokerConfig& config;
  ReplicaManager& replicas;
  MetadataStore& metadata;
  const security::Authorizer& authorizer;
  metrics::Registry& metrics;
  groups::GroupCoordinator& coordinator;      // membership of every group (this broker coordinates all)
  GroupMetadataManager& group_metadata;       // committed offsets and group records in __consumer_offsets
  std::string cluster_id;
  std::map<std::string, uint16_t> bound_ports;  // listener name → bound port, set once at start
  std::atomic<bool> stopping{false};  // set at shutdown: long polls answer at once
  TlsContexts* tls = nullptr;         // TLS contexts of SSL/SASL_SSL listeners (null: none)
  // The security audit log (nullptr when audit.log.enable=false). Authorization decisions reach it
  // through the authorizer's observer; the connection code reports logins with
  // audit->authentication(). Thread-safe, never blocks on I/O.
  security::SecurityAuditLog* audit = nullptr;
  // ACLs: the authorizer CreateAcls/DeleteAcls change and DescribeAcls lists (the same object as
  // `authorizer`), or nullptr when authorizer = allow-all (the ACL APIs answer SECURITY_DISABLED).
  security::AclAuthorizer* acls = nullptr;
  // In-region replication (metadata.store = etcd): cluster membership and partition leadership for
  // Metadata, ISR expansion requests from follower fetches. nullptr on a one-broker region.
  replication::Replication* replication = nullptr;
};

/// Per-request context: the decoded header, who is asking and through which listener.
struct RequestContext {
  protocol::RequestHeader header;
  const char* api = nullptr;  // Kafka's name of the request's API, set by dispatch with the header
  security::RequestIdentity identity;
  const Listener* listener = nullptr;  // the listener the connection arrived on
  std::string local_address;           // the connection's local IP (advertised when the listener host is empty/0.0.0.0)
  boost::asio::any_io_executor executor;  // the connection's io_context executor
  // Time the handler spent waiting on others (acks=all durability, a Fetch long poll): Kafka's
  // RemoteTimeMs. Handlers add to it around such waits; the connection reports it.
  std::chrono::steady_clock::duration remote_time{};
};

}  // namespace ferry::broker
