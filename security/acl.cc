#include "security/acl.h"

#include <fmt/format.h>

#include <mutex>
#include <stdexcept>

namespace ferry::security {

namespace {

constexpr int8_t kLiteral = static_cast<int8_t>(PatternType::Literal);
constexpr int8_t kPrefixed = static_cast<int8_t>(PatternType::Prefixed);
constexpr int8_t kMatch = static_cast<int8_t>(PatternType::Match);
constexpr int8_t kAnyPattern = static_cast<int8_t>(PatternType::Any);
constexpr int8_t kAllOp = static_cast<int8_t>(Operation::All);
constexpr int8_t kAllow = static_cast<int8_t>(Permission::Allow);
constexpr int8_t kDeny = static_cast<int8_t>(Permission::Deny);

std::string unknown(int8_t code) { return fmt::format("UNKNOWN({})", code); }

// Codes Kafka defines (ResourceType 0-7, PatternType 0-4, AclOperation 0-14, AclPermissionType
// 0-3); anything else is UNKNOWN, as Kafka's fromCode maps it.
bool known_resource_type(int8_t c) { return c >= 1 && c <= 7; }
bool known_pattern_type(int8_t c) { return c >= 1 && c <= 4; }
bool known_operation(int8_t c) { return c >= 1 && c <= 14; }
bool known_permission(int8_t c) { return c >= 1 && c <= 3; }

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string resource_type_name(int8_t c) {
  static const char* names[] = {"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN",
                                "USER"};
  return c >= 0 && c <= 7 ? names[c] : unknown(c);
}

std::string pattern_type_name(int8_t c) {
  static const char* names[] = {"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"};
  return c >= 0 && c <= 4 ? names[c] : unknown(c);
}

std::string operation_name(int8_t c) {
  static const char* names[] = {"UNKNOWN",        "ANY",          "ALL",           "READ",
                                "WRITE",          "CREATE",       "DELETE",        "ALTER",
                                "DESCRIBE",       "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                                "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"};
  return c >= 0 && c <= 14 ? names[c] : unknown(c);
}

std::string permission_name(int8_t c) {
  static const char* names[] = {"UNKNOWN", "ANY", "DENY", "ALLOW"};
  return c >= 0 && c <= 3 ? names[c] : unknown(c);
}

std::string AclBinding::to_string() const {
  return fmt::format("({}:{}:{}, {}, {}, {}, {})", resource_type_name(resource_type), pattern_type_name(pattern_type),
                     resource_name, principal, host, operation_name(operation), permission_name(permission));
}

bool AclBindingFilter::matches(const AclBinding& b) const {
  // ResourcePatternFilter.matches
  if (resource_type != kAnyCode && resource_type != b.resource_type) return false;
  if (pattern_type != kAnyPattern && pattern_type != kMatch && pattern_type != b.pattern_type) return false;
  if (resource_name) {
    if (pattern_type == kAnyPattern || pattern_type == b.pattern_type) {
      if (*resource_name != b.resource_name) return false;
    } else if (b.pattern_type == kLiteral) {  // MATCH against a literal pattern
      if (*resource_name != b.resource_name && b.resource_name != kWildcardResource) return false;
    } else if (b.pattern_type == kPrefixed) {  // MATCH against a prefixed pattern
      if (!starts_with(*resource_name, b.resource_name)) return false;
    } else {
      return false;
    }
  }
  // AccessControlEntryFilter.matches
  if (principal && *principal != b.principal) return false;
  if (host && *host != b.host) return false;
  if (operation != kAnyCode && operation != b.operation) return false;
  return permission == static_cast<int8_t>(Permission::Any) || permission == b.permission;
}

std::optional<std::string> invalid_binding_reason(const AclBinding& b) {
  if (!known_resource_type(b.resource_type) || b.resource_type == kAnyCode)
    return fmt::format("Invalid resourceType {}", resource_type_name(b.resource_type));
  if (b.pattern_type != kLiteral && b.pattern_type != kPrefixed)
    return fmt::format("Invalid patternType {}", pattern_type_name(b.pattern_type));
  if (!known_operation(b.operation) || b.operation == kAnyCode)
    return fmt::format("Invalid operation {}", operation_name(b.operation));
  if (b.permission != kAllow && b.permission != kDeny)
    return fmt::format("Invalid permissionType {}", permission_name(b.permission));
  if (b.resource_name.empty()) return std::string("Resource name should not be empty");
  if (b.resource_type == static_cast<int8_t>(ResourceType::Cluster) && b.resource_name != kClusterResourceName)
    return fmt::format("The only valid name for the CLUSTER resource is {}", kClusterResourceName);
  if (b.principal.find(':') == std::string::npos)
    return fmt::format("expected a string in format principalType:principalName but got {}", b.principal);
  return std::nullopt;
}

std::optional<std::string> invalid_filter_reason(const AclBindingFilter& f) {
  if (!known_resource_type(f.resource_type) || !known_pattern_type(f.pattern_type)) return std::string("Unknown patternFilter.");
  if (!known_operation(f.operation) || !known_permission(f.permission)) return std::string("Unknown entryFilter.");
  return std::nullopt;
}

std::set<std::string> parse_super_users(const std::string& text) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t\r\n");
    const auto last = item.find_last_not_of(" \t\r\n");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    if (!item.empty()) {
      if (item.find(':') == std::string::npos)
        throw std::invalid_argument("expected a string in format principalType:principalName but got " + item);
      out.insert(item);
    }
    start = end + 1;
  }
  return out;
}

AclBinding AclAuthorizer::binding(const PatternKey& k, const Entry& e) {
  return {k.resource_type, k.name, k.pattern_type, e.principal, e.host, e.operation, e.permission};
}

void AclAuthorizer::add_locked(const AclBinding& b) {
  index_[{b.resource_type, b.pattern_type, b.resource_name}].insert({b.principal, b.host, b.operation, b.permission});
}

void AclAuthorizer::add(const std::vector<AclBinding>& bindings) {
  std::unique_lock lk(mu_);
  for (const auto& b : bindings) add_locked(b);
}

void AclAuthorizer::remove(const std::vector<AclBinding>& bindings) {
  std::unique_lock lk(mu_);
  for (const auto& b : bindings) {
    auto it = index_.find({b.resource_type, b.pattern_type, b.resource_name});
    if (it == index_.end()) continue;
    it->second.erase({b.principal, b.host, b.operation, b.permission});
    if (it->second.empty()) index_.erase(it);
  }
}

void AclAuthorizer::replace_all(const std::vector<AclBinding>& bindings) {
  std::unique_lock lk(mu_);
  index_.clear();
  for (const auto& b : bindings) add_locked(b);
}

std::vector<AclBinding> AclAuthorizer::acls(const AclBindingFilter& filter) const {
  std::shared_lock lk(mu_);
  std::vector<AclBinding> out;
  for (const auto& [k, entries] : index_)
    for (const auto& e : entries) {
      auto b = binding(k, e);
      if (filter.matches(b)) out.push_back(std::move(b));
    }
  return out;
}

size_t AclAuthorizer::size() const {
  std::shared_lock lk(mu_);
  size_t n = 0;
  for (const auto& [_, entries] : index_) n += entries.size();
  return n;
}

Decision AclAuthorizer::decide(const RequestIdentity& who, Operation op, const Resource& resource) const {
  const std::string principal = who.principal.to_string();
  auto decision = [](bool allowed, DecisionBasis basis, MatchedAcl acl = {}) {
    Decision d;
    d.allowed = allowed;
    d.basis = basis;
    d.acl = acl;
    return d;
  };
  if (super_users_.count(principal)) return decision(true, DecisionBasis::SuperUser);
  const auto type = static_cast<int8_t>(resource.type);
  const auto code = static_cast<int8_t>(op);

  std::shared_lock lk(mu_);
  // Step 2: every pattern that applies to the name.
  std::vector<std::pair<const PatternKey*, const std::set<Entry>*>> applicable;
  auto take = [&](const PatternKey& k) {
    if (auto it = index_.find(k); it != index_.end()) applicable.emplace_back(&it->first, &it->second);
  };
  take({type, kLiteral, resource.name});
  if (resource.name != kWildcardResource) take({type, kLiteral, kWildcardResource});
  // Prefixes of the name sort at or before it: walk back from the name, jumping over entries
  // that are not prefixes to the longest prefix they share with the name.
  std::string bound = resource.name;
  while (!bound.empty()) {
    auto it = index_.upper_bound({type, kPrefixed, bound});
    if (it == index_.begin()) break;
    --it;
    if (it->first.resource_type != type || it->first.pattern_type != kPrefixed) break;
    const std::string& name = it->first.name;
    if (starts_with(resource.name, name)) {
      applicable.emplace_back(&it->first, &it->second);
      bound = name.substr(0, name.size() - 1);
    } else {
      size_t c = 0;
      while (c < name.size() && c < bound.size() && name[c] == bound[c]) ++c;
      bound = bound.substr(0, c);
    }
  }

  auto applies_to_caller = [&](const Entry& e) {
    return (e.principal == principal || e.principal == kWildcardPrincipal) &&
           (e.host == kWildcardHost || e.host == who.client_host);
  };
  // Step 3: DENY wins. Step 4: ALLOW, with implied operations.
  auto allow_covers = [&](int8_t acl_op) {
    if (acl_op == kAllOp || acl_op == code) return true;
    if (op == Operation::Describe)
      return acl_op == static_cast<int8_t>(Operation::Read) || acl_op == static_cast<int8_t>(Operation::Write) ||
             acl_op == static_cast<int8_t>(Operation::Delete) || acl_op == static_cast<int8_t>(Operation::Alter);
    if (op == Operation::DescribeConfigs) return acl_op == static_cast<int8_t>(Operation::AlterConfigs);
    return false;
  };
  // The matched ACL relative to the request (Decision::reason() rebuilds the binding from it): an
  // applicable literal pattern is the name or `*`, a prefixed one a prefix of the name, and an
  // entry's principal and host are the caller's or the wildcards.
  auto matched = [&](const PatternKey& k, const Entry& e) {
    MatchedAcl m;
    m.pattern_type = k.pattern_type;
    m.operation = e.operation;
    m.permission = e.permission;
    m.any_resource = k.pattern_type == kLiteral && k.name != resource.name;
    m.any_principal = e.principal != principal;
    m.any_host = e.host != who.client_host;
    m.prefix_size = k.pattern_type == kPrefixed ? static_cast<uint32_t>(k.name.size()) : 0;
    return m;
  };
  std::optional<MatchedAcl> allowed_by;
  for (const auto& [key, entries] : applicable)
    for (const auto& e : *entries) {
      if (!applies_to_caller(e)) continue;
      if (e.permission == kDeny && (e.operation == kAllOp || e.operation == code))
        return decision(false, DecisionBasis::AclDeny, matched(*key, e));
      if (e.permission == kAllow && !allowed_by && allow_covers(e.operation)) allowed_by = matched(*key, e);
    }
  if (allowed_by) return decision(true, DecisionBasis::AclAllow, *allowed_by);
  // Step 5.
  if (applicable.empty()) return decision(allow_if_no_acl_, DecisionBasis::NoAclFound);
  return decision(false, DecisionBasis::NoAclAllows);
}

std::string Decision::reason(const RequestIdentity& who, Operation op, const Resource& resource) const {
  const auto type = static_cast<int8_t>(resource.type);
  switch (basis) {
    case DecisionBasis::Text:
      return text != nullptr ? text : "";
    case DecisionBasis::SuperUser:
      return fmt::format("{} is a super user (super.users)", who.principal.to_string());
    case DecisionBasis::AclDeny:
    case DecisionBasis::AclAllow: {
      const AclBinding b{type,
                         acl.any_resource                ? std::string(kWildcardResource)
                         : acl.pattern_type == kPrefixed ? resource.name.substr(0, acl.prefix_size)
                                                         : resource.name,
                         acl.pattern_type,
                         acl.any_principal ? std::string(kWildcardPrincipal) : who.principal.to_string(),
                         acl.any_host ? std::string(kWildcardHost) : who.client_host,
                         acl.operation,
                         acl.permission};
      return fmt::format("{} by ACL {}", basis == DecisionBasis::AclDeny ? "denied" : "allowed", b.to_string());
    }
    case DecisionBasis::NoAclFound:
      return fmt::format("no ACL found for {}:{} (allow.everyone.if.no.acl.found={})", resource_type_name(type),
                         resource.name, allowed ? "true" : "false");
    case DecisionBasis::NoAclAllows:
      return fmt::format("no ACL allows {} on {}:{} for {} from {}", operation_name(static_cast<int8_t>(op)),
                         resource_type_name(type), resource.name, who.principal.to_string(), who.client_host);
  }
  return {};
}

}  // namespace ferry::security
