// Seeded property test: AclAuthorizer (indexed lookups, prefix walk) against a brute-force
// evaluation written straight from the rules in shared/SECURITY-SEMANTICS.md ("ACLs"), over many
// random ACL sets and requests; and AclAuthorizer::acls(filter) against a brute-force filter
// written from Kafka's AclBindingFilter documentation. Names come from a small alphabet so
// literals, prefixes and near-misses collide often. A failure prints the seed; FERRY_SEED=<n>
// replays that one seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "security/acl.h"

namespace ferry::security {
namespace {

const std::vector<std::string> kNames = {"a", "ab", "abc", "abd", "b", "ba", "*", "a*", "abcd", "x"};
const std::vector<std::string> kPrincipals = {"User:alice", "User:bob", "User:*", "Group:alice", "user:alice"};
const std::vector<std::string> kHosts = {"*", "10.0.0.1", "10.0.0.2"};
const std::vector<int8_t> kTypes = {2, 3, 4};  // TOPIC, GROUP, CLUSTER

template <class T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[rng() % v.size()];
}

AclBinding random_acl(std::mt19937_64& rng) {
  AclBinding b;
  b.resource_type = pick(rng, kTypes);
  b.resource_name = pick(rng, kNames);
  b.pattern_type = rng() % 2 ? 3 : 4;
  b.principal = pick(rng, kPrincipals);
  b.host = pick(rng, kHosts);
  b.operation = static_cast<int8_t>(2 + rng() % 11);  // ALL .. IDEMPOTENT_WRITE
  b.permission = rng() % 3 == 0 ? 2 : 3;               // a third DENY
  return b;
}

// The rules, one by one, over every ACL: no index, no early exits that depend on order.
bool reference(const std::vector<AclBinding>& acls, const std::set<std::string>& supers, bool allow_if_none,
               const std::string& principal, const std::string& host, int8_t op, int8_t type, const std::string& name) {
  if (supers.count(principal)) return true;
  std::vector<AclBinding> applicable;
  for (const auto& b : acls) {
    if (b.resource_type != type) continue;
    const bool literal = b.pattern_type == 3 && (b.resource_name == name || b.resource_name == "*");
    const bool prefixed = b.pattern_type == 4 && name.rfind(b.resource_name, 0) == 0;
    if (literal || prefixed) applicable.push_back(b);
  }
  bool deny = false, allow = false;
  for (const auto& b : applicable) {
    if (b.principal != principal && b.principal != "User:*") continue;
    if (b.host != host && b.host != "*") continue;
    if (b.permission == 2 && (b.operation == op || b.operation == 2)) deny = true;
    if (b.permission == 3) {
      std::set<int8_t> grants = {b.operation};
      if (b.operation == 2) grants = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
      if (b.operation == 3 || b.operation == 4 || b.operation == 6 || b.operation == 7) grants.insert(8);
      if (b.operation == 11) grants.insert(10);
      if (grants.count(op)) allow = true;
    }
  }
  if (deny) return false;
  if (allow) return true;
  return applicable.empty() && allow_if_none;
}

// AclBindingFilter as documented: null / ANY fields match anything; pattern ANY = exact name with
// any pattern type; MATCH = the literal name, literal "*" and every prefix pattern of the name.
bool reference_filter(const AclBindingFilter& f, const AclBinding& b) {
  if (f.resource_type != 1 && f.resource_type != b.resource_type) return false;
  switch (f.pattern_type) {
    case 1:
      if (f.resource_name && *f.resource_name != b.resource_name) return false;
      break;
    case 2:
      if (f.resource_name) {
        const bool applies = b.pattern_type == 3 ? (b.resource_name == *f.resource_name || b.resource_name == "*")
                                                 : f.resource_name->rfind(b.resource_name, 0) == 0;
        if (!applies) return false;
      }
      break;
    default:
      if (f.pattern_type != b.pattern_type) return false;
      if (f.resource_name && *f.resource_name != b.resource_name) return false;
  }
  if (f.principal && *f.principal != b.principal) return false;
  if (f.host && *f.host != b.host) return false;
  if (f.operation != 1 && f.operation != b.operation) return false;
  return f.permission == 1 || f.permission == b.permission;
}

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("FERRY_SEED")) return {std::strtoull(s, nullptr, 10)};
  std::vector<uint64_t> out;
  std::random_device rd;
  const uint64_t base = (static_cast<uint64_t>(rd()) << 32) | rd();
  for (uint64_t i = 0; i < 300; ++i) out.push_back(base + i);
  return out;
}

TEST(AclProperty, AuthorizerAgreesWithTheReferenceEvaluation) {
  for (uint64_t seed : seeds()) {
    std::mt19937_64 rng(seed);
    std::vector<AclBinding> acls;
    const size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) acls.push_back(random_acl(rng));
    std::set<std::string> supers;
    if (rng() % 4 == 0) supers.insert(pick(rng, kPrincipals));
    const bool allow_if_none = rng() % 2;
    AclAuthorizer a(supers, allow_if_none);
    a.add(acls);
    // Removing some and re-adding exercises the index's bookkeeping.
    std::vector<AclBinding> removed;
    for (size_t i = 0; i < acls.size(); ++i)
      if (rng() % 5 == 0) removed.push_back(acls[i]);
    a.remove(removed);
    std::vector<AclBinding> live;
    for (const auto& b : acls)
      if (std::find(removed.begin(), removed.end(), b) == removed.end()) live.push_back(b);
    for (int q = 0; q < 200; ++q) {
      RequestIdentity who;
      const std::string p = pick(rng, std::vector<std::string>{"User:alice", "User:bob", "Group:alice"});
      who.principal = {p.substr(0, p.find(':')), p.substr(p.find(':') + 1)};
      who.client_host = pick(rng, std::vector<std::string>{"10.0.0.1", "10.0.0.2"});
      const auto op = static_cast<int8_t>(3 + rng() % 10);  // READ .. IDEMPOTENT_WRITE
      const int8_t type = pick(rng, kTypes);
      const std::string name = pick(rng, kNames) + (rng() % 3 == 0 ? pick(rng, kNames) : "");
      const bool want = reference(live, supers, allow_if_none, p, who.client_host, op, type, name);
      const Resource resource{static_cast<ResourceType>(type), name};
      const auto got = a.authorize(who, static_cast<Operation>(op), resource);
      ASSERT_EQ(got.allowed, want) << "seed " << seed << " (replay: FERRY_SEED=" << seed << "): " << p << " from "
                                   << who.client_host << " " << operation_name(op) << " on "
                                   << resource_type_name(type) << ":" << name << " -> "
                                   << got.reason(who, static_cast<Operation>(op), resource);
    }
  }
}

TEST(AclProperty, FilterListingAgreesWithTheReferenceFilter) {
  for (uint64_t seed : seeds()) {
    std::mt19937_64 rng(seed);
    AclAuthorizer a({}, false);
    std::vector<AclBinding> acls;
    for (size_t i = 0, n = rng() % 30; i < n; ++i) acls.push_back(random_acl(rng));
    a.add(acls);
    std::sort(acls.begin(), acls.end());
    acls.erase(std::unique(acls.begin(), acls.end()), acls.end());
    for (int q = 0; q < 50; ++q) {
      AclBindingFilter f;
      if (rng() % 2) f.resource_type = pick(rng, kTypes);
      if (rng() % 2) f.resource_name = pick(rng, kNames);
      f.pattern_type = static_cast<int8_t>(1 + rng() % 4);
      if (rng() % 3 == 0) f.principal = pick(rng, kPrincipals);
      if (rng() % 3 == 0) f.host = pick(rng, kHosts);
      if (rng() % 3 == 0) f.operation = static_cast<int8_t>(2 + rng() % 11);
      if (rng() % 3 == 0) f.permission = rng() % 2 ? 2 : 3;
      std::vector<AclBinding> want;
      for (const auto& b : acls)
        if (reference_filter(f, b)) want.push_back(b);
      auto got = a.acls(f);
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, want) << "seed " << seed << " (replay: FERRY_SEED=" << seed << ")";
    }
  }
}

}  // namespace
}  // namespace ferry::security
