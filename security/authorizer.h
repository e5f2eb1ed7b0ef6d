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

/// What a handler knows about the caller when it asks for a decision.
struct RequestIdentity {
  Principal principal;
  std::string client_host;  // IP address string, no hostnames (Kafka ACL host semantics)
  std::string listener;     // listener name the connection arrived on
  std::string method;       // the request being served as Confluent's audit logs name it, e.g.
                            // "kafka.CreateTopics" ("" outside a request)
  std::string client_id;    // the request header's client id
};

/// What decided an authorization (the steps of Kafka's AclAuthorizer; see security/acl.h).
enum class DecisionBasis : uint8_t {
  Text,         ///< Decision::text says it all (e.g. the allow-all authorizer)
  SuperUser,    ///< the caller is in super.users
  AclDeny,      ///< a DENY ACL matched (Decision::acl)
  AclAllow,     ///< an ALLOW ACL matched (Decision::acl)
  NoAclFound,   ///< no ACL applies to the resource; allow.everyone.if.no.acl.found decided
  NoAclAllows,  ///< ACLs apply to the resource but none allows the caller
};

/// The ACL that decided, described relative to the request it was matched against, so that a
/// decision copies no names: the binding is rebuilt from (who, op, resource) when it is read.
struct MatchedAcl {
  int8_t pattern_type = 0;     // PatternType wire code: LITERAL (3) or PREFIXED (4)
  int8_t operation = 0;        // the ACL's AclOperation wire code
  int8_t permission = 0;       // the ACL's AclPermissionType wire code
  bool any_resource = false;   // literal `*` rather than the resource's name
  bool any_principal = false;  // `User:*` rather than the caller's principal
  bool any_host = false;       // host `*` rather than the caller's address
  uint32_t prefix_size = 0;    // PREFIXED: the pattern is the resource name's first prefix_size bytes
};

/// One authorization decision. Its reason text is not built when the decision is made (most
/// decisions, e.g. every allowed Produce and Fetch by default, are never audited): reason() builds
/// it from the basis when the audit log reads it.
struct Decision {
  bool allowed = false;
  const char* text = "";  // DecisionBasis::Text: the reason; a string literal (static storage)
  DecisionBasis basis = DecisionBasis::Text;
  MatchedAcl acl{};       // DecisionBasis::AclDeny / AclAllow
  explicit operator bool() const { return allowed; }

  /// The reason as the audit log records it, e.g. "allow-all authorizer", "User:admin is a super
  /// user (super.users)", "allowed by ACL (TOPIC:LITERAL:orders, User:alice, *, WRITE, ALLOW)",
  /// "no ACL found for TOPIC:t (allow.everyone.if.no.acl.found=false)", "no ACL allows WRITE on
  /// TOPIC:t for User:bob from 10.0.0.1". `who`, `op` and `resource` must be those the decision
  /// was made for (the observer receives them together). Defined in security/acl.cc.
  std::string reason(const RequestIdentity& who, Operation op, const Resource& resource) const;
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
