#include <gtest/gtest.h>

#include "common/config.h"

using namespace ferry::config;

namespace {

Schema sample() {
  Schema s;
  s.add_int("node.id", 0, 0, 100, "id")
      .add_bool("auto.create.topics.enable", true, "auto")
      .add_list("log.dirs", {"/tmp/a"}, "dirs")
      .add_enum("log.level", "info", {"debug", "info"}, "level")
      .add_string("rack", "", "rack");
  return s;
}

std::string error_of(const Schema& s, const std::string& toml) {
  try {
    load_toml(s, toml, "test.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, DottedAndQuotedKeysFlattenToKafkaNames) {
  auto s = sample();
  auto v = load_toml(s, "node.id = 7\n\"log.dirs\" = [\"/x\", \"/y\"]\n[auto.create.topics]\nenable = false\n", "t");
  EXPECT_EQ(v.get_int("node.id"), 7);
  EXPECT_EQ(v.get_list("log.dirs"), (std::vector<std::string>{"/x", "/y"}));
  EXPECT_FALSE(v.get_bool("auto.create.topics.enable"));
  EXPECT_EQ(v.get_string("log.level"), "info");  // default
}

TEST(Config, CommaSeparatedStringIsAList) {
  auto s = sample();
  auto v = load_toml(s, "log.dirs = \"/a, /b\"\n", "t");
  EXPECT_EQ(v.get_list("log.dirs"), (std::vector<std::string>{"/a", "/b"}));
}

TEST(Config, ErrorsNameKeyValueAndExpectation) {
  auto s = sample();
  auto e = error_of(s, "node.id = 500\n");
  EXPECT_NE(e.find("node.id"), std::string::npos) << e;
  EXPECT_NE(e.find("500"), std::string::npos) << e;
  EXPECT_NE(e.find("[0, 100]"), std::string::npos) << e;

  e = error_of(s, "node.id = \"seven\"\n");
  EXPECT_NE(e.find("seven"), std::string::npos) << e;
  EXPECT_NE(e.find("an integer"), std::string::npos) << e;

  e = error_of(s, "log.level = \"loud\"\n");
  EXPECT_NE(e.find("one of: debug, info"), std::string::npos) << e;

  e = error_of(s, "no.such.key = 1\n");
  EXPECT_NE(e.find("unknown key 'no.such.key'"), std::string::npos) << e;

  e = error_of(s, "node.id = = 1\n");
  EXPECT_NE(e.find("invalid TOML at line 1"), std::string::npos) << e;
}

TEST(Config, RequiredKeyMissing) {
  Schema s;
  s.add_required_string("bootstrap.servers", "servers");
  auto e = error_of(s, "");
  EXPECT_NE(e.find("required key 'bootstrap.servers' is missing"), std::string::npos) << e;
}

TEST(Config, ParseTextAsKafkaAdminApisSendIt) {
  auto s = sample();
  EXPECT_EQ(std::get<int64_t>(s.parse_text("node.id", "42")), 42);
  EXPECT_THROW(s.parse_text("node.id", "42x"), ConfigError);
  EXPECT_THROW(s.parse_text("node.id", ""), ConfigError);
  EXPECT_THROW(s.parse_text("auto.create.topics.enable", "yes"), ConfigError);
  EXPECT_EQ(std::get<std::vector<std::string>>(s.parse_text("log.dirs", "a,b")), (std::vector<std::string>{"a", "b"}));
}

TEST(Config, HelpAndReferenceListEveryKey) {
  auto s = sample();
  auto help = s.help_text();
  auto md = s.markdown_reference();
  for (const auto& k : s.keys()) {
    EXPECT_NE(help.find(k.name), std::string::npos) << k.name;
    EXPECT_NE(md.find("`" + k.name + "`"), std::string::npos) << k.name;
  }
  EXPECT_NE(help.find("valid: an integer in [0, 100]"), std::string::npos);
}

// Kafka lower-cases the listener name in the override prefix (ListenerName.configPrefix()), so a
// listener written EXTERNAL is overridden by listener.name.external.<key>.
TEST(Config, PerListenerOverrideNameIsLowerCase) {
  EXPECT_EQ(listener_prefix_name("EXTERNAL"), "external");
  EXPECT_EQ(listener_override_key("Sasl_Ssl", "ssl.keystore.location"), "listener.name.sasl_ssl.ssl.keystore.location");
  Schema s;
  s.add_string("ssl.keystore.location", "", "ks").allow_per_listener({"ssl.keystore.location"});
  auto v = load_toml(s,
                     "\"ssl.keystore.location\" = \"/all\"\n"
                     "\"listener.name.external.ssl.keystore.location\" = \"/ext\"\n",
                     "t");
  EXPECT_EQ(std::get<std::string>(listener_value(v, "EXTERNAL", "ssl.keystore.location")), "/ext");
  EXPECT_EQ(std::get<std::string>(listener_value(v, "INTERNAL", "ssl.keystore.location")), "/all");
}
