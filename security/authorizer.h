// The authorization seam every request handler goes through. This issue ships only the
// allow-all authorizer; Kafka ACL semantics (KIP-11, KIP-290) plug in behind the same interface
// without touching handlers. Wire codes are Kafka's (AclOperation, ResourceType; KIP-11, KIP-290).
#pragma once

#include <cstdint>
#include <string>

namespace ferry::security {

/// A Kafka principal, `Type:name` (type is case-sensitive). PLAINTEXT connections are
/// `User:ANONYMOUS`, as in Kafka.
struct Principal {
  std::string type = "User";
  std::string name = "ANONYMOUS";
  std::string to_string() const { return type + ":" + name; }
  bool operator==(const Principal&) const = default;
};

/// ACL operation, Kafka wire codes (AclOperation). On-wire: never renumber.
enum class Operation : int8_t {
  All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7, Describe = 8,
  ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11, IdempotentWrite = 12,
};

/// ACL resource type, Kafka wire codes (ResourceType). On-wire: never renumber.
enum class ResourceType : int8_t { Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5, User = 7 };

/// Kafka's name for the single cluster resource.
inline constexpr const char* kClusterResourceName = "kafka-cluster";

struct Resource {
  ResourceType type;
  std::string name;
};

/// One authorization decision, kept whole so the audit log can record exactly what was decided.
struct Decision {
  bool allowed = false;
  std::string reason;  // e.g. "allow-all authorizer", or the matching ACL
  explicit operator bool() const { return allowed; }
};

/// What a handler knows about the caller when it asks for a decision.
struct RequestIdentity {
  Principal principal;
  std::string client_host;  // IP address string, no hostnames (Kafka ACL host semantics)
  std::string listener;     // listener name the connection arrived on
  std::string method;       // the request being served as Confluent's audit logs name it, e.g.
                            // "kafka.CreateTopics" ("" outside a request)
  std::string client_id;    // the request header's client id
};

/// Whether an authorization check is an event for the audit log. Kafka's authorizer has the same
/// distinction (Action.logIfAllowed / logIfDenied): checks made only to filter a listing or to
/// fill a KIP-430 authorized-operations bitfield are not decisions about the request.
enum class AuditHint : uint8_t {
  Normal,  ///< a decision about the request: the observer sees it
  Quiet,   ///< a filter or bitfield check: no audit event either way
};

/// Sees every Normal authorization decision (the security audit log implements it and decides,
/// from its own configuration, which allowed decisions to record). Must be thread-safe.
class AuthorizationObserver {
 public:
  virtual ~AuthorizationObserver() = default;
  virtual void on_decision(const RequestIdentity& who, Operation op, const Resource& resource,
                           const Decision& decision) = 0;
};

/// Decides whether a principal may perform an operation on a resource.
/// Implementations must be thread-safe: handlers on every network thread call authorize().
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  /// The decision, reported to the observer (if one is set) unless `hint` is Quiet.
  Decision authorize(const RequestIdentity& who, Operation op, const Resource& resource,
                     AuditHint hint = AuditHint::Normal) const {
    Decision d = decide(who, op, resource);
    if (hint == AuditHint::Normal && observer_ != nullptr) observer_->on_decision(who, op, resource, d);
    return d;
  }
  /// Sets the observer of decisions (nullptr: none). Call before requests are served; the observer
  /// must outlive the authorizer's use.
  void set_observer(AuthorizationObserver* observer) { observer_ = observer; }

 protected:
  /// The decision itself, without auditing.
  virtual Decision decide(const RequestIdentity& who, Operation op, const Resource& resource) const = 0;

 private:
  AuthorizationObserver* observer_ = nullptr;
};

/// Allows everything. The broker's authorizer until ACLs arrive.
class AllowAllAuthorizer final : public Authorizer {
 protected:
  Decision decide(const RequestIdentity&, Operation, const Resource&) const override {
    return {true, "allow-all authorizer"};
  }
};

}  // namespace ferry::security
