// The authorization keys: which authorizer runs by default, and bad values named with key, value
// and expectation.
#include <gtest/gtest.h>

#include "broker/config/broker_config.h"
#include "broker/tests/broker_config_parse.h"

using namespace ferry;
using namespace ferry::broker;

TEST(AuthorizerConfig, PlaintextOnlyDefaultsToAllowAllAndAclIsChosenExplicitly) {
  EXPECT_EQ(effective_authorizer(parse_broker_config("")), "allow-all");
  EXPECT_EQ(effective_authorizer(parse_broker_config("authorizer = \"acl\"")), "acl");
  EXPECT_EQ(effective_authorizer(parse_broker_config("authorizer = \"allow-all\"")), "allow-all");
  EXPECT_FALSE(parse_broker_config("").values.get_bool("allow.everyone.if.no.acl.found"));  // Kafka's default
}

TEST(AuthorizerConfig, SuperUsersParseAsKafkaDoes) {
  auto c = parse_broker_config("super.users = \" User:admin ; ;User:ops\"");
  EXPECT_EQ(super_users(c), (std::set<std::string>{"User:admin", "User:ops"}));
}

TEST(AuthorizerConfig, BadValuesNameKeyValueAndExpectation) {
  auto e = broker_config_error("authorizer = \"acls\"");
  EXPECT_NE(e.find("'authorizer'"), std::string::npos) << e;
  EXPECT_NE(e.find("\"acls\""), std::string::npos) << e;
  EXPECT_NE(e.find("expected acl or allow-all"), std::string::npos) << e;
  e = broker_config_error("super.users = \"User:admin;bob\"");
  EXPECT_NE(e.find("'super.users'"), std::string::npos) << e;
  EXPECT_NE(e.find("User:admin;bob"), std::string::npos) << e;
  EXPECT_NE(e.find("principalType:principalName but got bob"), std::string::npos) << e;
  e = broker_config_error("allow.everyone.if.no.acl.found = \"maybe\"");
  EXPECT_NE(e.find("allow.everyone.if.no.acl.found"), std::string::npos) << e;
}
