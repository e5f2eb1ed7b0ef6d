// The authorization keys: which authorizer runs by default, and bad values named with key, value
// and expectation.
#include <gtest/gtest.h>

#include "broker/config/broker_config.h"

using namespace ferry;
using namespace ferry::broker;

namespace {

BrokerConfig parse(const std::string& toml) { return BrokerConfig(config::load_toml(broker_schema(), toml, "t")); }

std::string error_of(const std::string& toml) {
  try {
    parse(toml);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(AuthorizerConfig, PlaintextOnlyDefaultsToAllowAllAndAclIsChosenExplicitly) {
  EXPECT_EQ(effective_authorizer(parse("")), "allow-all");
  EXPECT_EQ(effective_authorizer(parse("authorizer = \"acl\"")), "acl");
  EXPECT_EQ(effective_authorizer(parse("authorizer = \"allow-all\"")), "allow-all");
  EXPECT_FALSE(parse("").values.get_bool("allow.everyone.if.no.acl.found"));  // Kafka's default
}

TEST(AuthorizerConfig, SuperUsersParseAsKafkaDoes) {
  auto c = parse("super.users = \" User:admin ; ;User:ops\"");
  EXPECT_EQ(super_users(c), (std::set<std::string>{"User:admin", "User:ops"}));
}

TEST(AuthorizerConfig, BadValuesNameKeyValueAndExpectation) {
  auto e = error_of("authorizer = \"acls\"");
  EXPECT_NE(e.find("'authorizer'"), std::string::npos) << e;
  EXPECT_NE(e.find("\"acls\""), std::string::npos) << e;
  EXPECT_NE(e.find("expected acl or allow-all"), std::string::npos) << e;
  e = error_of("super.users = \"User:admin;bob\"");
  EXPECT_NE(e.find("'super.users'"), std::string::npos) << e;
  EXPECT_NE(e.find("User:admin;bob"), std::string::npos) << e;
  EXPECT_NE(e.find("principalType:principalName but got bob"), std::string::npos) << e;
  e = error_of("allow.everyone.if.no.acl.found = \"maybe\"");
  EXPECT_NE(e.find("allow.everyone.if.no.acl.found"), std::string::npos) << e;
}
