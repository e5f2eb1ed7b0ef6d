#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dr-orchestrator/config.h"

namespace ferry::dr {
namespace {

const std::string kGood = R"(
[dr]
"state.dir" = "/tmp/x"
"bootstrap.file" = "/tmp/x/bootstrap"
[regions.east]
"bootstrap.servers" = "127.0.0.1:9092"
"metrics.url" = "http://127.0.0.1:9404/metrics"
[regions.east.client]
"socket.timeout.ms" = 5000
[regions.west]
"bootstrap.servers" = "127.0.0.1:9093"
[[flows]]
source = "east"
target = "west"
"status.urls" = ["http://127.0.0.1:8083/"]
[policy]
"max.data.loss.records" = 10
)";

// Loads `text` expecting a ConfigError and returns its message.
std::string error_of(const std::string& text) {
  try {
    load_dr_config(text, "t.toml");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(DrConfig, LoadsAValidFileWithDefaults) {
  DrConfig c = load_dr_config(kGood, "t.toml");
  EXPECT_EQ(c.state_dir, "/tmp/x");
  EXPECT_EQ(c.audit_log, std::filesystem::path("/tmp/x/audit.jsonl"));
  EXPECT_EQ(c.metrics_listener, "127.0.0.1:9405");
  EXPECT_EQ(c.watch_interval, std::chrono::seconds(2));
  ASSERT_EQ(c.regions.size(), 2u);
  EXPECT_EQ(c.region("east").client.at("socket.timeout.ms"), "5000");
  EXPECT_EQ(c.region("east").properties().at("bootstrap.servers"), "127.0.0.1:9092");
  ASSERT_EQ(c.flows.size(), 1u);
  EXPECT_EQ(c.flows[0].status_urls[0], "http://127.0.0.1:8083");  // trailing slash dropped
  EXPECT_EQ(c.flows[0].name(), "east->west");
  EXPECT_NE(c.flow("east", "west"), nullptr);
  EXPECT_EQ(c.flow("west", "east"), nullptr);
  EXPECT_EQ(c.policy.max_data_loss_records, 10);
  EXPECT_EQ(c.policy.drain_timeout, std::chrono::seconds(60));
}

TEST(DrConfig, UnknownRegionLookupNamesTheKnownOnes) {
  DrConfig c = load_dr_config(kGood, "t.toml");
  try {
    c.region("north");
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("north"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("east, west"), std::string::npos);
  }
}

TEST(DrConfig, EachBadInputNamesItsKey) {
  struct Case {
    std::string from, to, expect;
  };
  const std::vector<Case> cases{
      {"\"state.dir\" = \"/tmp/x\"\n", "", "state.dir"},
      {"\"bootstrap.file\" = \"/tmp/x/bootstrap\"\n", "", "bootstrap.file"},
      {"\"state.dir\"", "\"state.dri\"", "state.dri"},
      {"[policy]\n", "[policy]\n\"drain.timeout.seconds\" = 0\n", "drain.timeout.seconds"},
      {"[policy]\n", "[policy]\n\"max.data.loss\" = 1\n", "max.data.loss"},
      {"[policy]\n", "[policy]\n\"heartbeat.max.age.seconds\" = \"x\"\n", "heartbeat.max.age.seconds"},
      {"target = \"west\"", "target = \"north\"", "target"},
      {"target = \"west\"", "target = \"east\"", "source"},
      {"[\"http://127.0.0.1:8083/\"]", "[\"ftp://x\"]", "status.urls"},
      {"[\"http://127.0.0.1:8083/\"]", "[]", "status.urls"},
      {"\"http://127.0.0.1:9404/metrics\"", "\"127.0.0.1:9404\"", "metrics.url"},
      {"[dr]\n", "[dr]\n\"metrics.listener\" = \"nope\"\n", "metrics.listener"},
      {"[dr]\n", "[dr]\n\"log.level\" = \"loud\"\n", "log.level"},
      {"[regions.west]\n\"bootstrap.servers\" = \"127.0.0.1:9093\"\n", "", "at least two"},
      {"[regions.west]", "[regions.\"we st\"]", "we st"},
      {"\"socket.timeout.ms\" = 5000", "\"socket.timeout.ms\" = [1]", "socket.timeout.ms"},
      {"[policy]", "[polcy]", "polcy"},
      {"\"socket.timeout.ms\" = 5000", "\"no.such.property\" = 1", "no.such.property"},
      {"\"socket.timeout.ms\" = 5000", "\"socket.timeout.ms\" = \"soon\"", "socket.timeout.ms"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(replace(kGood, c.from, c.to));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << msg;
    EXPECT_NE(msg.find("t.toml"), std::string::npos) << msg;
  }
}

TEST(DrConfig, DuplicateFlowIsRefused) {
  std::string text = kGood + "[[flows]]\nsource = \"east\"\ntarget = \"west\"\n\"status.urls\" = [\"http://h:1\"]\n";
  // [policy] precedes the second [[flows]] in TOML order, which is fine.
  EXPECT_NE(error_of(text).find("duplicate flow east->west"), std::string::npos);
}

TEST(DrConfig, SyntaxErrorsGiveThePosition) {
  EXPECT_NE(error_of("[dr\n").find("line 1"), std::string::npos);
}

TEST(DrConfig, UrlChecks) {
  EXPECT_EQ(check_http_url("http://127.0.0.1:8083"), "");
  EXPECT_EQ(check_http_url("https://mirror.example:443/x"), "");
  EXPECT_EQ(check_http_url("http://[::1]:80"), "");
  EXPECT_NE(check_http_url("http://host:99999"), "");
  EXPECT_NE(check_http_url("mirror:8083"), "");
  EXPECT_NE(check_http_url("http://"), "");
}

TEST(DrConfig, DocsMatchTheSchema) {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/docs/dr-config.md");
  ASSERT_TRUE(in) << "docs/dr-config.md missing; regenerate with ferry-dr --config-reference";
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), dr_config_reference()) << "regenerate docs/dr-config.md with ferry-dr --config-reference";
}

}  // namespace
}  // namespace ferry::dr
