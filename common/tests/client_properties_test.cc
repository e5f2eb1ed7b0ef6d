// resolve_client_secrets: Ferry's sasl.password.file / sasl.password.env indirections.
#include "common/client_properties.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ferry::config {
namespace {

std::string temp_file(const std::string& name, const std::string& content) {
  auto p = std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()));
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

TEST(ClientSecrets, FileContentBecomesPasswordWithTrailingNewlineStripped) {
  const std::string f = temp_file("pw1", "s3cret pass\n");
  std::map<std::string, std::string> p{{"sasl.username", "u"}, {"sasl.password.file", f}};
  resolve_client_secrets(p, "test");
  EXPECT_EQ(p.at("sasl.password"), "s3cret pass");
  EXPECT_FALSE(p.count("sasl.password.file"));
  const std::string crlf = temp_file("pw2", "abc\r\n");
  std::map<std::string, std::string> q{{"sasl.password.file", crlf}};
  resolve_client_secrets(q, "test");
  EXPECT_EQ(q.at("sasl.password"), "abc");
  // Only one newline goes: a password may itself end in spaces.
  const std::string two = temp_file("pw3", "abc \n\n");
  std::map<std::string, std::string> r{{"sasl.password.file", two}};
  resolve_client_secrets(r, "test");
  EXPECT_EQ(r.at("sasl.password"), "abc \n");
  std::filesystem::remove(f);
  std::filesystem::remove(crlf);
  std::filesystem::remove(two);
}

TEST(ClientSecrets, EnvVariableBecomesPassword) {
  ::setenv("FERRY_TEST_PW", "from-env", 1);
  std::map<std::string, std::string> p{{"sasl.password.env", "FERRY_TEST_PW"}};
  resolve_client_secrets(p, "test");
  EXPECT_EQ(p.at("sasl.password"), "from-env");
  EXPECT_FALSE(p.count("sasl.password.env"));
}

TEST(ClientSecrets, ErrorsNameTheSourceNeverThePassword) {
  ::unsetenv("FERRY_TEST_UNSET");
  std::map<std::string, std::string> p{{"sasl.password.env", "FERRY_TEST_UNSET"}};
  try {
    resolve_client_secrets(p, "regions.east client");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("FERRY_TEST_UNSET"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("regions.east client"), std::string::npos) << e.what();
  }
  std::map<std::string, std::string> missing{{"sasl.password.file", "/nonexistent/pw"}};
  EXPECT_THROW(resolve_client_secrets(missing, "t"), ConfigError);
  std::map<std::string, std::string> both{{"sasl.password", "literal-secret"}, {"sasl.password.env", "X"}};
  try {
    resolve_client_secrets(both, "t");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("literal-secret"), std::string::npos) << e.what();
  }
}

TEST(ClientSecrets, LiteralPasswordInAFileStaysAllowed) {
  std::map<std::string, std::string> p{{"sasl.password", "x"}};
  resolve_client_secrets(p, "t");
  EXPECT_EQ(p.at("sasl.password"), "x");
}

TEST(ClientSecrets, RedactsEveryPasswordKey) {
  EXPECT_EQ(shown_property_value("sasl.password", "x"), "[redacted]");
  EXPECT_EQ(shown_property_value("ssl.key.password", "x"), "[redacted]");
  EXPECT_EQ(shown_property_value("sasl.username", "x"), "x");
}

TEST(ClientSecrets, ClusterTableResolvesAndNeverEchoesAPassword) {
  ::setenv("FERRY_TEST_PW2", "env-secret", 1);
  toml::table t = parse_toml_document(
      "[c]\n\"bootstrap.servers\" = \"h:1\"\n[c.client]\n\"sasl.password.env\" = \"FERRY_TEST_PW2\"\n", "t");
  ClusterTable ct = split_cluster_table(*t.get("c"), "[c]", "c");
  EXPECT_EQ(ct.client.at("sasl.password"), "env-secret");
  toml::table bad = parse_toml_document("[c]\n[c.client]\n\"sasl.password\" = [\"array-secret\"]\n", "t");
  try {
    split_cluster_table(*bad.get("c"), "[c]", "c");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("array-secret"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ferry::config
