// One test per ACL rule of Kafka's authorizer (KIP-11, KIP-290; AclAuthorizer / StandardAuthorizer)
// and per validation Kafka applies to CreateAcls / DeleteAcls (AclControlManager, AclApis).
#include <gtest/gtest.h>

#include "security/acl.h"

namespace ferry::security {
namespace {

constexpr int8_t T = static_cast<int8_t>(ResourceType::Topic);
constexpr int8_t G = static_cast<int8_t>(ResourceType::Group);
constexpr int8_t C = static_cast<int8_t>(ResourceType::Cluster);
constexpr int8_t LIT = static_cast<int8_t>(PatternType::Literal);
constexpr int8_t PRE = static_cast<int8_t>(PatternType::Prefixed);
constexpr int8_t ALLOW = static_cast<int8_t>(Permission::Allow);
constexpr int8_t DENY = static_cast<int8_t>(Permission::Deny);
int8_t op(Operation o) { return static_cast<int8_t>(o); }

AclBinding acl(int8_t type, std::string name, int8_t pattern, std::string principal, std::string host, Operation o,
               int8_t perm) {
  return {type, std::move(name), pattern, std::move(principal), std::move(host), op(o), perm};
}

RequestIdentity who(std::string name = "alice", std::string host = "10.0.0.1") {
  RequestIdentity id;
  id.principal = {"User", std::move(name)};
  id.client_host = std::move(host);
  return id;
}

bool can(const AclAuthorizer& a, const RequestIdentity& w, Operation o, ResourceType t, std::string name) {
  return a.authorize(w, o, {t, std::move(name)}).allowed;
}

TEST(AclAuthorizer, NoAclDeniesByDefaultAndAllowsWhenConfigured) {
  AclAuthorizer strict({}, false), open({}, true);
  const Resource t{ResourceType::Topic, "t"};
  auto d = strict.authorize(who(), Operation::Write, t);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason(who(), Operation::Write, t).find("no ACL found"), std::string::npos);
  EXPECT_TRUE(can(open, who(), Operation::Write, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, AllowEveryoneAppliesOnlyToResourcesWithoutAnyAcl) {
  AclAuthorizer a({}, true);
  a.add({acl(T, "t", LIT, "User:bob", "*", Operation::Read, ALLOW)});
  EXPECT_FALSE(can(a, who("alice"), Operation::Read, ResourceType::Topic, "t"));  // t has an ACL (for bob)
  EXPECT_TRUE(can(a, who("alice"), Operation::Read, ResourceType::Topic, "other"));
}

TEST(AclAuthorizer, SuperUserIsAllowedEvenAgainstDeny) {
  AclAuthorizer a(parse_super_users(" User:admin ; ;User:ops"), false);
  a.add({acl(T, "*", LIT, "User:*", "*", Operation::All, DENY)});
  const Resource t{ResourceType::Topic, "t"};
  auto d = a.authorize(who("admin"), Operation::Delete, t);
  EXPECT_TRUE(d.allowed);
  EXPECT_NE(d.reason(who("admin"), Operation::Delete, t).find("super user"), std::string::npos);
  EXPECT_TRUE(can(a, who("ops"), Operation::Write, ResourceType::Topic, "t"));
  EXPECT_FALSE(can(a, who("alice"), Operation::Write, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, SuperUsersParseAsKafkaDoes) {
  EXPECT_EQ(parse_super_users(""), std::set<std::string>{});
  EXPECT_EQ(parse_super_users(";  User:bob  ;  User:alice "), (std::set<std::string>{"User:alice", "User:bob"}));
  EXPECT_THROW(parse_super_users("bob;User:alice"), std::invalid_argument);
}

TEST(AclAuthorizer, LiteralAclAppliesToThatNameOnly) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "orders", LIT, "User:alice", "*", Operation::Write, ALLOW)});
  const Resource orders{ResourceType::Topic, "orders"};
  auto d = a.authorize(who(), Operation::Write, orders);
  EXPECT_TRUE(d.allowed);
  EXPECT_NE(d.reason(who(), Operation::Write, orders).find("TOPIC:LITERAL:orders"), std::string::npos);
  EXPECT_FALSE(can(a, who(), Operation::Write, ResourceType::Topic, "orders2"));
  EXPECT_FALSE(can(a, who(), Operation::Write, ResourceType::Group, "orders"));  // another resource type
}

TEST(AclAuthorizer, WildcardResourceMatchesEveryNameOfItsType) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "*", LIT, "User:alice", "*", Operation::Read, ALLOW)});
  EXPECT_TRUE(can(a, who(), Operation::Read, ResourceType::Topic, "anything"));
  EXPECT_FALSE(can(a, who(), Operation::Read, ResourceType::Group, "anything"));
}

TEST(AclAuthorizer, PrefixedAclAppliesToNamesItPrefixes) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "fin-", PRE, "User:alice", "*", Operation::Read, ALLOW),
         acl(T, "fa", PRE, "User:alice", "*", Operation::Write, ALLOW),
         acl(T, "fin-zz", PRE, "User:bob", "*", Operation::Read, ALLOW)});
  EXPECT_TRUE(can(a, who(), Operation::Read, ResourceType::Topic, "fin-ledger"));
  EXPECT_TRUE(can(a, who(), Operation::Read, ResourceType::Topic, "fin-"));
  EXPECT_FALSE(can(a, who(), Operation::Read, ResourceType::Topic, "fin"));
  EXPECT_FALSE(can(a, who(), Operation::Write, ResourceType::Topic, "fin-ledger"));  // "fa" is no prefix
  EXPECT_TRUE(can(a, who(), Operation::Write, ResourceType::Topic, "fab"));
}

TEST(AclAuthorizer, WildcardPrincipalMatchesEveryUser) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:*", "*", Operation::Read, ALLOW)});
  EXPECT_TRUE(can(a, who("alice"), Operation::Read, ResourceType::Topic, "t"));
  EXPECT_TRUE(can(a, who("ANONYMOUS"), Operation::Read, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, PrincipalTypeIsCaseSensitive) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "user:alice", "*", Operation::Read, ALLOW)});
  EXPECT_FALSE(can(a, who("alice"), Operation::Read, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, HostMustBeTheCallersAddressOrWildcard) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:alice", "10.0.0.1", Operation::Read, ALLOW)});
  EXPECT_TRUE(can(a, who("alice", "10.0.0.1"), Operation::Read, ResourceType::Topic, "t"));
  EXPECT_FALSE(can(a, who("alice", "10.0.0.2"), Operation::Read, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, DenyWinsOverAllowFromAnyApplicablePattern) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:alice", "*", Operation::All, ALLOW),
         acl(T, "t", PRE, "User:*", "10.0.0.1", Operation::Write, DENY)});
  const Resource t{ResourceType::Topic, "t"};
  auto d = a.authorize(who(), Operation::Write, t);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason(who(), Operation::Write, t), "denied by ACL (TOPIC:PREFIXED:t, User:*, 10.0.0.1, WRITE, DENY)");
  EXPECT_TRUE(can(a, who(), Operation::Read, ResourceType::Topic, "t"));                // deny is for WRITE only
  EXPECT_TRUE(can(a, who("alice", "10.0.0.9"), Operation::Write, ResourceType::Topic, "t"));  // other host
}

TEST(AclAuthorizer, DenyAllDeniesEveryOperation) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:alice", "*", Operation::Read, ALLOW),
         acl(T, "*", LIT, "User:alice", "*", Operation::All, DENY)});
  EXPECT_FALSE(can(a, who(), Operation::Read, ResourceType::Topic, "t"));
}

TEST(AclAuthorizer, AllowOfReadWriteDeleteAlterImpliesDescribe) {
  for (auto o : {Operation::Read, Operation::Write, Operation::Delete, Operation::Alter}) {
    AclAuthorizer a({}, false);
    a.add({acl(T, "t", LIT, "User:alice", "*", o, ALLOW)});
    EXPECT_TRUE(can(a, who(), Operation::Describe, ResourceType::Topic, "t")) << operation_name(op(o));
  }
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:alice", "*", Operation::Create, ALLOW)});
  EXPECT_FALSE(can(a, who(), Operation::Describe, ResourceType::Topic, "t"));  // CREATE implies nothing
}

TEST(AclAuthorizer, AllowAlterConfigsImpliesDescribeConfigs) {
  AclAuthorizer a({}, false);
  a.add({acl(C, "kafka-cluster", LIT, "User:alice", "*", Operation::AlterConfigs, ALLOW)});
  EXPECT_TRUE(can(a, who(), Operation::DescribeConfigs, ResourceType::Cluster, "kafka-cluster"));
  EXPECT_FALSE(can(a, who(), Operation::Describe, ResourceType::Cluster, "kafka-cluster"));
}

TEST(AclAuthorizer, ImplicationAppliesToAllowOnly) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "t", LIT, "User:alice", "*", Operation::Describe, ALLOW),
         acl(T, "t", LIT, "User:alice", "*", Operation::Read, DENY)});
  EXPECT_TRUE(can(a, who(), Operation::Describe, ResourceType::Topic, "t"));  // DENY READ does not deny DESCRIBE
}

TEST(AclAuthorizer, AllAllowsEveryOperation) {
  AclAuthorizer a({}, false);
  a.add({acl(G, "g", LIT, "User:alice", "*", Operation::All, ALLOW)});
  for (auto o : {Operation::Read, Operation::Describe, Operation::Delete})
    EXPECT_TRUE(can(a, who(), o, ResourceType::Group, "g"));
}

TEST(AclAuthorizer, ChangesApplyToTheNextDecision) {
  AclAuthorizer a({}, false);
  const auto b = acl(T, "t", LIT, "User:alice", "*", Operation::Write, ALLOW);
  a.add({b, b});
  EXPECT_EQ(a.size(), 1u);  // a duplicate is kept once
  EXPECT_TRUE(can(a, who(), Operation::Write, ResourceType::Topic, "t"));
  a.remove({b});
  EXPECT_FALSE(can(a, who(), Operation::Write, ResourceType::Topic, "t"));
  EXPECT_EQ(a.size(), 0u);
}

TEST(AclBindingFilter, MatchSelectsEveryPatternThatAppliesToTheName) {
  AclAuthorizer a({}, false);
  a.add({acl(T, "fin-ledger", LIT, "User:a", "*", Operation::Read, ALLOW),
         acl(T, "*", LIT, "User:a", "*", Operation::Read, ALLOW), acl(T, "fin-", PRE, "User:a", "*", Operation::Read, ALLOW),
         acl(T, "fin-x", PRE, "User:a", "*", Operation::Read, ALLOW), acl(T, "other", LIT, "User:a", "*", Operation::Read, ALLOW)});
  AclBindingFilter f;
  f.resource_type = T;
  f.resource_name = "fin-ledger";
  f.pattern_type = static_cast<int8_t>(PatternType::Match);
  EXPECT_EQ(a.acls(f).size(), 3u);
  f.pattern_type = static_cast<int8_t>(PatternType::Any);  // exact name, any pattern type
  EXPECT_EQ(a.acls(f).size(), 1u);
  f.resource_name = "fin-";
  f.pattern_type = PRE;
  EXPECT_EQ(a.acls(f).size(), 1u);
  f.resource_name.reset();  // null name: every prefixed pattern
  EXPECT_EQ(a.acls(f).size(), 2u);
  EXPECT_EQ(a.acls(AclBindingFilter{}).size(), 5u);
}

TEST(AclBindingFilter, EntryFieldsMatchExactlyOrAny) {
  const auto b = acl(T, "t", LIT, "User:*", "*", Operation::Read, ALLOW);
  AclBindingFilter f;
  EXPECT_TRUE(f.matches(b));
  f.principal = "User:alice";  // the wildcard principal is matched as a string, not expanded
  EXPECT_FALSE(f.matches(b));
  f.principal = "User:*";
  f.operation = op(Operation::Write);
  EXPECT_FALSE(f.matches(b));
  f.operation = op(Operation::Read);
  f.permission = DENY;
  EXPECT_FALSE(f.matches(b));
  f.permission = ALLOW;
  f.host = "*";
  EXPECT_TRUE(f.matches(b));
}

TEST(AclValidation, CreateRefusesWhatKafkaRefuses) {
  auto reason = [](AclBinding b) { return invalid_binding_reason(b).value_or(""); };
  const auto ok = acl(T, "t", LIT, "User:alice", "*", Operation::Read, ALLOW);
  EXPECT_EQ(reason(ok), "");
  auto b = ok;
  b.resource_type = kAnyCode;
  EXPECT_EQ(reason(b), "Invalid resourceType ANY");
  b = ok;
  b.pattern_type = static_cast<int8_t>(PatternType::Match);
  EXPECT_EQ(reason(b), "Invalid patternType MATCH");
  b = ok;
  b.operation = kAnyCode;
  EXPECT_EQ(reason(b), "Invalid operation ANY");
  b = ok;
  b.permission = static_cast<int8_t>(Permission::Any);
  EXPECT_EQ(reason(b), "Invalid permissionType ANY");
  b = ok;
  b.resource_name = "";
  EXPECT_EQ(reason(b), "Resource name should not be empty");
  b = acl(C, "my-cluster", LIT, "User:alice", "*", Operation::Alter, ALLOW);
  EXPECT_EQ(reason(b), "The only valid name for the CLUSTER resource is kafka-cluster");
  b = ok;
  b.principal = "alice";
  EXPECT_NE(reason(b).find("principalType:principalName"), std::string::npos);
  b = ok;
  b.operation = 99;
  EXPECT_EQ(reason(b), "Invalid operation UNKNOWN(99)");
}

TEST(AclValidation, FilterWithUnknownCodesIsRefused) {
  AclBindingFilter f;
  EXPECT_FALSE(invalid_filter_reason(f));
  f.resource_type = 0;
  EXPECT_TRUE(invalid_filter_reason(f));
  f = {};
  f.permission = 9;
  EXPECT_TRUE(invalid_filter_reason(f));
}

// The reason text of every kind of decision, to the letter: it is the audit log's
// authorizationInfo.reason, so its form is part of the audit format.
TEST(AclAuthorizer, ReasonTextOfEveryDecisionKind) {
  auto reason = [](const Authorizer& a, const RequestIdentity& w, Operation op, const Resource& r) {
    return a.authorize(w, op, r).reason(w, op, r);
  };
  const Resource orders{ResourceType::Topic, "orders"};
  AclAuthorizer a(parse_super_users("User:admin"), false);
  a.add({acl(T, "orders", LIT, "User:alice", "*", Operation::Write, ALLOW),
         acl(T, "*", LIT, "User:*", "10.0.0.1", Operation::Read, ALLOW),
         acl(T, "ord", PRE, "User:carol", "10.0.0.1", Operation::All, DENY),
         acl(G, "g-", PRE, "User:*", "*", Operation::Read, ALLOW)});
  EXPECT_EQ(reason(a, who("admin"), Operation::Delete, orders), "User:admin is a super user (super.users)");
  EXPECT_EQ(reason(a, who("alice"), Operation::Write, orders),
            "allowed by ACL (TOPIC:LITERAL:orders, User:alice, *, WRITE, ALLOW)");
  EXPECT_EQ(reason(a, who("bob", "10.0.0.1"), Operation::Describe, orders),
            "allowed by ACL (TOPIC:LITERAL:*, User:*, 10.0.0.1, READ, ALLOW)");
  EXPECT_EQ(reason(a, who("carol", "10.0.0.1"), Operation::Read, orders),
            "denied by ACL (TOPIC:PREFIXED:ord, User:carol, 10.0.0.1, ALL, DENY)");
  EXPECT_EQ(reason(a, who("dan", "10.0.0.1"), Operation::Read, {ResourceType::Group, "g-payments"}),
            "allowed by ACL (GROUP:PREFIXED:g-, User:*, *, READ, ALLOW)");
  EXPECT_EQ(reason(a, who("bob", "10.0.0.2"), Operation::Write, orders),
            "no ACL allows WRITE on TOPIC:orders for User:bob from 10.0.0.2");
  EXPECT_EQ(reason(a, who("bob"), Operation::Read, {ResourceType::Group, "other"}),
            "no ACL found for GROUP:other (allow.everyone.if.no.acl.found=false)");
  AclAuthorizer open({}, true);
  EXPECT_EQ(reason(open, who("bob"), Operation::Read, orders),
            "no ACL found for TOPIC:orders (allow.everyone.if.no.acl.found=true)");
  AllowAllAuthorizer all;
  EXPECT_EQ(reason(all, who("bob"), Operation::Read, orders), "allow-all authorizer");
}

}  // namespace
}  // namespace ferry::security
