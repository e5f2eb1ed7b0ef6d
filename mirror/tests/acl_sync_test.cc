// MM2's topic ACL sync rules (mirror/acl_sync.h).
#include <gtest/gtest.h>

#include "mirror/acl_sync.h"

using ferry::client::AclBinding;
using ferry::mirror::target_topic_acls;

namespace {

AclBinding topic(const std::string& name, const std::string& principal, int operation, int permission = 3,
                 int pattern = 3) {
  return AclBinding{2, name, pattern, principal, "*", operation, permission};
}

TEST(AclSync, CopiesAllowsOfReplicatedTopicsToTheirRemoteNames) {
  const std::map<std::string, std::string> routes{{"orders", "east.orders"}};
  auto got = target_topic_acls({topic("orders", "User:reader", 3), topic("orders", "User:auditor", 8)}, routes);
  EXPECT_EQ(got, (std::vector<AclBinding>{topic("east.orders", "User:auditor", 8), topic("east.orders", "User:reader", 3)}));
}

TEST(AclSync, NeverWriteNeverDenyAllBecomesRead) {
  const std::map<std::string, std::string> routes{{"orders", "orders"}};
  auto got = target_topic_acls({topic("orders", "User:writer", 4),            // WRITE: never
                                topic("orders", "User:bad", 3, /*DENY*/ 2),   // DENY: not copied
                                topic("orders", "User:ops", 2)},              // ALL -> READ
                               routes);
  EXPECT_EQ(got, (std::vector<AclBinding>{topic("orders", "User:ops", 3)}));
}

TEST(AclSync, SkipsPrefixedPatternsOtherResourcesAndTopicsNotReplicated) {
  const std::map<std::string, std::string> routes{{"orders", "east.orders"}};
  AclBinding group{3, "orders", 3, "User:reader", "*", 3, 3};
  auto got = target_topic_acls({topic("ord", "User:reader", 3, 3, /*PREFIXED*/ 4), group,
                                topic("payments", "User:reader", 3)},
                               routes);
  EXPECT_TRUE(got.empty());
}

TEST(AclSync, DuplicatesCollapseAndHostsArePreserved) {
  const std::map<std::string, std::string> routes{{"t", "t"}};
  AclBinding from_host = topic("t", "User:r", 3);
  from_host.host = "10.0.0.7";
  // ALL and READ for the same principal both become READ: sent once.
  auto got = target_topic_acls({topic("t", "User:r", 2), topic("t", "User:r", 3), from_host}, routes);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].host, "*");
  EXPECT_EQ(got[1].host, "10.0.0.7");
}

}  // namespace
