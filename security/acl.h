// Kafka ACLs: bindings, binding filters, their validation, and the ACL authorizer.
// Semantics are Kafka's (KIP-11 ACLs, KIP-290 prefixed patterns): AclBinding / AclBindingFilter
// in org.apache.kafka.common.acl, ResourcePatternFilter.matches, AccessControlEntryFilter.matches,
// the evaluation of Kafka's AclAuthorizer / StandardAuthorizer, and the create/delete validation
// of AclControlManager.validateNewAcl / validateFilter and AclApis.handleCreateAcls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <vector>

#include "security/authorizer.h"

namespace ferry::security {

/// Resource pattern type, Kafka wire codes (PatternType). ANY and MATCH exist only in filters.
enum class PatternType : int8_t { Unknown = 0, Any = 1, Match = 2, Literal = 3, Prefixed = 4 };

/// ACL permission, Kafka wire codes (AclPermissionType). ANY exists only in filters.
enum class Permission : int8_t { Unknown = 0, Any = 1, Deny = 2, Allow = 3 };

/// Filter-only wire codes of ResourceType and AclOperation (ANY = 1, UNKNOWN = 0).
inline constexpr int8_t kAnyCode = 1;
inline constexpr int8_t kUnknownCode = 0;

/// Kafka's wildcards: literal resource name `*` (every name of its type), principal `User:*`,
/// host `*`.
inline constexpr const char* kWildcardResource = "*";
inline constexpr const char* kWildcardPrincipal = "User:*";
inline constexpr const char* kWildcardHost = "*";

/// One ACL: a resource pattern and an access-control entry, as Kafka's AclBinding. Codes are the
/// wire codes as int8 so that invalid values received from a client can be carried to validation.
struct AclBinding {
  int8_t resource_type = static_cast<int8_t>(ResourceType::Topic);
  std::string resource_name;
  int8_t pattern_type = static_cast<int8_t>(PatternType::Literal);
  std::string principal;  // "Type:name", e.g. "User:alice" or "User:*"
  std::string host;       // IP address string or "*"
  int8_t operation = static_cast<int8_t>(Operation::Read);
  int8_t permission = static_cast<int8_t>(Permission::Allow);

  auto key() const {
    return std::tie(resource_type, resource_name, pattern_type, principal, host, operation, permission);
  }
  bool operator==(const AclBinding& o) const { return key() == o.key(); }
  bool operator<(const AclBinding& o) const { return key() < o.key(); }
  /// e.g. `(TOPIC:LITERAL:orders, User:alice, *, WRITE, ALLOW)`: Kafka's names.
  std::string to_string() const;
};

/// A filter over ACLs (Kafka's AclBindingFilter): nullopt names/principal/host match anything;
/// resource type / operation / permission ANY (1) match anything. Pattern type ANY matches every
/// pattern type with the exact name; MATCH matches every pattern that would apply to the name
/// (the literal name, literal `*`, and every PREFIXED pattern that prefixes it); LITERAL and
/// PREFIXED match that pattern type exactly.
struct AclBindingFilter {
  int8_t resource_type = kAnyCode;
  std::optional<std::string> resource_name;
  int8_t pattern_type = static_cast<int8_t>(PatternType::Any);
  std::optional<std::string> principal;
  std::optional<std::string> host;
  int8_t operation = kAnyCode;
  int8_t permission = static_cast<int8_t>(Permission::Any);

  /// Kafka's ResourcePatternFilter.matches && AccessControlEntryFilter.matches.
  bool matches(const AclBinding& b) const;
};

/// Kafka's names for wire codes ("TOPIC", "PREFIXED", "DESCRIBE_CONFIGS", "ALLOW"; "UNKNOWN(n)"
/// for codes Kafka does not define).
std::string resource_type_name(int8_t code);
std::string pattern_type_name(int8_t code);
std::string operation_name(int8_t code);
std::string permission_name(int8_t code);

/// Why a binding cannot be created, as Kafka answers it (INVALID_REQUEST, 42), or nullopt when it
/// is valid. Checks, in Kafka's order (AclControlManager.validateNewAcl, AclApis.handleCreateAcls):
/// resource type neither ANY nor unknown; pattern type LITERAL or PREFIXED; operation neither ANY
/// nor unknown; permission ALLOW or DENY; non-empty resource name; the CLUSTER resource named
/// `kafka-cluster`; and a principal of the form `Type:name` (SecurityUtils.parseKafkaPrincipal).
std::optional<std::string> invalid_binding_reason(const AclBinding& b);

/// Why a filter cannot be used (INVALID_REQUEST), or nullopt: a code Kafka does not define
/// (UNKNOWN) anywhere in it (AclControlManager.validateFilter).
std::optional<std::string> invalid_filter_reason(const AclBindingFilter& f);

/// Parses `super.users`: principals separated by ';', each trimmed, empty entries skipped
/// (Kafka's StandardAuthorizer.getConfiguredSuperUsers). Throws std::invalid_argument for an
/// entry without ':' ("expected a string in format principalType:principalName but got ...").
std::set<std::string> parse_super_users(const std::string& text);

/// Kafka ACL authorization (KIP-11, KIP-290), the semantics of Kafka's AclAuthorizer:
/// 1. a super user is allowed outright;
/// 2. the ACLs that apply to (type, name) are those on the literal name, on literal `*`, and on
///    every PREFIXED pattern that is a prefix of the name;
/// 3. of those, the ones whose principal is the caller or `User:*` and whose host is the caller's
///    address or `*` are matched against the operation (an ACL on ALL matches every operation);
///    any matching DENY denies;
/// 4. an ALLOW of the operation allows; ALLOW of READ, WRITE, DELETE or ALTER also allows
///    DESCRIBE, and ALLOW of ALTER_CONFIGS also allows DESCRIBE_CONFIGS (ALLOW only);
/// 5. otherwise denied — unless no ACL at all applies to the resource (step 2, any principal) and
///    `allow.everyone.if.no.acl.found` is set.
/// Lookups go through an index ordered by (resource type, pattern type, name): the literal name
/// and `*` are two finds; prefixes are found by walking back from the name's position. Reads take
/// a shared lock, changes an exclusive one, so a change is seen by the next decision.
class AclAuthorizer final : public Authorizer {
 public:
  AclAuthorizer(std::set<std::string> super_users, bool allow_everyone_if_no_acl_found)
      : super_users_(std::move(super_users)), allow_if_no_acl_(allow_everyone_if_no_acl_found) {}

  /// Adds bindings (already validated); a binding that exists already is kept once, as Kafka does.
  void add(const std::vector<AclBinding>& bindings);
  /// Removes exactly these bindings (absent ones are ignored).
  void remove(const std::vector<AclBinding>& bindings);
  /// Replaces every binding (e.g. with the durable set at start).
  void replace_all(const std::vector<AclBinding>& bindings);
  /// The bindings the filter matches, ordered by resource pattern then entry.
  std::vector<AclBinding> acls(const AclBindingFilter& filter) const;
  size_t size() const;

 protected:
  Decision decide(const RequestIdentity& who, Operation op, const Resource& resource) const override;

 private:
  struct PatternKey {
    int8_t resource_type;
    int8_t pattern_type;
    std::string name;
    auto operator<=>(const PatternKey&) const = default;
  };
  // The entry half of a binding: what an ACL grants or refuses, and to whom.
  struct Entry {
    std::string principal;
    std::string host;
    int8_t operation;
    int8_t permission;
    auto operator<=>(const Entry&) const = default;
  };
  void add_locked(const AclBinding& b);
  static AclBinding binding(const PatternKey& k, const Entry& e);

  const std::set<std::string> super_users_;
  const bool allow_if_no_acl_;
  mutable std::shared_mutex mu_;
  std::map<PatternKey, std::set<Entry>> index_;
};

}  // namespace ferry::security
