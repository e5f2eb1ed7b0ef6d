// parse_daemon_args: the command line every daemon (ferry-broker, ferry-mirror) accepts.
#include "common/daemon.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry {
namespace {

struct Run {
  std::optional<DaemonArgs> args;
  std::string err;  ///< what was printed on stderr
};

Run parse(std::vector<std::string> words) {
  words.insert(words.begin(), "ferry-x");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  testing::internal::CaptureStderr();
  Run r;
  r.args = parse_daemon_args("ferry-x", static_cast<int>(argv.size()), argv.data());
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

TEST(DaemonArgs, ConfigBothSpellings) {
  EXPECT_EQ(parse({"--config", "a.toml"}).args->config_path, "a.toml");
  EXPECT_EQ(parse({"--config=b.toml"}).args->config_path, "b.toml");
}

TEST(DaemonArgs, RepeatedConfigLastWins) {
  EXPECT_EQ(parse({"--config", "a", "--config=b"}).args->config_path, "b");
}

TEST(DaemonArgs, HelpAndReference) {
  EXPECT_EQ(parse({"--help"}).args->action, DaemonArgs::Action::help);
  EXPECT_EQ(parse({"-h"}).args->action, DaemonArgs::Action::help);
  EXPECT_EQ(parse({"--config-reference"}).args->action, DaemonArgs::Action::config_reference);
}

TEST(DaemonArgs, MissingConfigIsAUsageError) {
  auto r = parse({});
  EXPECT_FALSE(r.args);
  EXPECT_EQ(r.err, "ferry-x: --config FILE is required; see ferry-x --help\n");
  r = parse({"--config="});
  EXPECT_FALSE(r.args);
  EXPECT_EQ(r.err, "ferry-x: --config FILE is required; see ferry-x --help\n");
}

TEST(DaemonArgs, UnknownArgumentNamesIt) {
  auto r = parse({"--config", "a", "--bogus"});
  EXPECT_FALSE(r.args);
  EXPECT_EQ(r.err, "ferry-x: unknown argument '--bogus'; see ferry-x --help\n");
  r = parse({"--config", "a", "stray"});
  EXPECT_FALSE(r.args);
  EXPECT_EQ(r.err, "ferry-x: unknown argument 'stray'; see ferry-x --help\n");
}

TEST(DaemonArgs, ConfigWithoutValueIsAUsageError) {
  auto r = parse({"--config"});
  EXPECT_FALSE(r.args);
  EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("see ferry-x --help"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ferry
