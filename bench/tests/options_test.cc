#include "bench/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ferry::bench {
namespace {

// A readable file standing in for the mirror's TOML; removed with the fixture.
class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/ferry-bench-options-test-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    config_ = path;
  }
  void TearDown() override { std::remove(config_.c_str()); }

  ParsedArgs parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ferry-bench");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_options(static_cast<int>(argv.size()), argv.data());
  }

  std::vector<std::string> mirror_args() {
    return {"--bootstrap",     "127.0.0.1:9092",        "--mirror-target", "127.0.0.1:9093",
            "--mirror-status", "http://127.0.0.1:9464", "--mirror-bin",    "/bin/sh",
            "--mirror-config", config_};
  }

  std::string config_;
};

TEST_F(OptionsTest, MirrorModeUsesItsOwnRecordAndLatencyDefaults) {
  ParsedArgs r = parse(mirror_args());
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_TRUE(r.options.mirror_mode());
  EXPECT_EQ(r.options.records, kMirrorDefaultRecords);
  EXPECT_EQ(r.options.latency_seconds, kMirrorDefaultLatencySeconds);
  EXPECT_EQ(r.options.mirror_partitions, 4);
}

TEST_F(OptionsTest, ExplicitRecordsAndLatencySecondsWinInMirrorMode) {
  auto args = mirror_args();
  args.insert(args.end(), {"--records", "5000", "--latency-seconds=2"});
  ParsedArgs r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.records, 5000);
  EXPECT_EQ(r.options.latency_seconds, 2.0);
}

TEST_F(OptionsTest, BrokerModeKeepsItsDefaults) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_FALSE(r.options.mirror_mode());
  EXPECT_EQ(r.options.records, Options{}.records);
  EXPECT_EQ(r.options.latency_seconds, Options{}.latency_seconds);
}

TEST_F(OptionsTest, MirrorFlagsWithoutTargetAreRefused) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--mirror-bin", "/bin/sh"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--mirror-target"), std::string::npos) << r.error;
}

TEST_F(OptionsTest, TargetWithoutTheMirrorItStartsIsRefused) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--mirror-target", "127.0.0.1:9093",
                        "--mirror-status", "http://127.0.0.1:9464", "--mirror-config", config_});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--mirror-bin"), std::string::npos) << r.error;
}

TEST_F(OptionsTest, StatusUrlMustBeHostAndPortOnly) {
  auto args = mirror_args();
  args[5] = "http://127.0.0.1:9464/status";
  ParsedArgs r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--mirror-status"), std::string::npos) << r.error;

  args[5] = "http://127.0.0.1:9464/";
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.mirror_status, "http://127.0.0.1:9464");
}

TEST_F(OptionsTest, MissingMirrorBinaryIsRefusedUpFront) {
  auto args = mirror_args();
  args[7] = "/nonexistent/ferry-mirror";
  ParsedArgs r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("does not exist"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ferry::bench
