#include "bench/client_properties.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/options.h"

namespace ferry::bench {
namespace {

constexpr const char* kSecret = "s3cret-pw";

class ClientPropertiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/ferry-bench-password-test-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    password_file_ = path;
    std::ofstream(password_file_) << kSecret << "\n";
  }
  void TearDown() override {
    std::remove(password_file_.c_str());
    ::unsetenv("FERRY_BENCH_TEST_PASSWORD");
  }

  ParsedArgs parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ferry-bench");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_options(static_cast<int>(argv.size()), argv.data());
  }

  std::vector<std::string> security_args() {
    return {"--bootstrap", "127.0.0.1:9092", "--security-ssl", "127.0.0.1:9093",
            "--security-sasl-ssl", "127.0.0.1:9094", "--security-sasl-plaintext", "127.0.0.1:9095",
            "--security-audit-all", "127.0.0.1:9096", "-X", "sasl.username=bench",
            "-X", "sasl.password.file=" + password_file_};
  }

  std::string password_file_;
};

std::string value_of(const ClientProperties& props, const std::string& key) {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return "<absent>";
}

TEST_F(ClientPropertiesTest, RepeatedXKeepsEveryPropertyInOrder) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "-X", "security.protocol=SSL",
                        "--client-property", "ssl.ca.location=/tmp/ca=1.crt", "-X", "debug="});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  const ClientProperties expected = {
      {"security.protocol", "SSL"}, {"ssl.ca.location", "/tmp/ca=1.crt"}, {"debug", ""}};
  EXPECT_EQ(r.options.client_properties, expected);
}

TEST_F(ClientPropertiesTest, PasswordOnTheCommandLineIsRefusedWithoutEchoingIt) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "-X", std::string("sasl.password=") + kSecret});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("sasl.password.file"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find(kSecret), std::string::npos) << r.error;
}

TEST_F(ClientPropertiesTest, PasswordFileIsReadWithoutItsTrailingNewline) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "-X", "sasl.password.file=" + password_file_});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(value_of(r.options.client_properties, "sasl.password"), kSecret);
  EXPECT_EQ(value_of(r.options.client_properties, "sasl.password.file"), "<absent>");
}

TEST_F(ClientPropertiesTest, PasswordEnvIsReadAndAnUnsetVariableIsAnError) {
  ::setenv("FERRY_BENCH_TEST_PASSWORD", kSecret, 1);
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "-X", "sasl.password.env=FERRY_BENCH_TEST_PASSWORD"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(value_of(r.options.client_properties, "sasl.password"), kSecret);
  EXPECT_EQ(value_of(r.options.client_properties, "sasl.password.env"), "<absent>");

  ::unsetenv("FERRY_BENCH_TEST_PASSWORD");
  r = parse({"--bootstrap", "127.0.0.1:9092", "-X", "sasl.password.env=FERRY_BENCH_TEST_PASSWORD"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("FERRY_BENCH_TEST_PASSWORD"), std::string::npos) << r.error;
}

TEST_F(ClientPropertiesTest, MissingFileOrBothSourcesAreErrors) {
  ClientProperties missing = {{"sasl.password.file", "/nonexistent/ferry-pw"}};
  EXPECT_NE(resolve_password(missing), "");
  ClientProperties both = {{"sasl.password.file", password_file_}, {"sasl.password.env", "X"}};
  EXPECT_NE(resolve_password(both), "");
  ClientProperties none = {{"sasl.username", "u"}};
  EXPECT_EQ(resolve_password(none), "");
  EXPECT_EQ(none, (ClientProperties{{"sasl.username", "u"}}));
}

TEST_F(ClientPropertiesTest, SecretKeysAreTheOnesNamingAPassword) {
  EXPECT_TRUE(is_secret_property("sasl.password"));
  EXPECT_TRUE(is_secret_property("ssl.key.password"));
  EXPECT_FALSE(is_secret_property("sasl.username"));
  EXPECT_FALSE(is_secret_property("ssl.ca.location"));
}

TEST_F(ClientPropertiesTest, SecurityModeUsesItsOwnDefaultsAndNeedsEveryListenerAndCredential) {
  ParsedArgs r = parse(security_args());
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_TRUE(r.options.security_mode());
  EXPECT_EQ(r.options.records, kSecurityDefaultRecords);
  EXPECT_EQ(r.options.seconds, kSecurityDefaultSeconds);

  for (const char* flag : {"--security-sasl-ssl", "--security-sasl-plaintext", "--security-audit-all"}) {
    auto args = security_args();
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == flag) {
        args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
        break;
      }
    }
    r = parse(args);
    EXPECT_EQ(r.kind, ParsedArgs::Kind::usage_error) << flag;
    EXPECT_NE(r.error.find(flag), std::string::npos) << r.error;
  }
  auto no_password = security_args();
  no_password.resize(no_password.size() - 2);
  r = parse(no_password);
  EXPECT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("sasl.password.file"), std::string::npos) << r.error;
}

TEST_F(ClientPropertiesTest, SecurityFlagsWithoutSecuritySslAreAnError) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--security-audit-all", "127.0.0.1:9096"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--security-ssl"), std::string::npos) << r.error;
}

TEST_F(ClientPropertiesTest, XIsRefusedInMirrorMode) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--mirror-target", "127.0.0.1:9093",
                        "--mirror-status", "http://127.0.0.1:9464", "--mirror-bin", "/bin/sh",
                        "--mirror-config", password_file_, "-X", "security.protocol=SSL"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("mirror"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ferry::bench
