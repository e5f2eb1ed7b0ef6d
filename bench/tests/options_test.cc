#include "bench/options.h"

#include <fmt/format.h>
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

TEST_F(OptionsTest, OnlyBrokerModeRunsSustainedCasesByDefault) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.min_seconds, 10.0);
  EXPECT_EQ(r.options.records, kBrokerDefaultRecords);
  r = parse({"--bootstrap", "127.0.0.1:9092", "--min-seconds", "0"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.min_seconds, 0.0);

  r = parse(mirror_args());
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.min_seconds, 0.0);
  auto args = mirror_args();
  args.insert(args.end(), {"--min-seconds", "3"});
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.min_seconds, 3.0);

  r = parse({"--bootstrap", "127.0.0.1:9092", "--min-seconds", "-1"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--min-seconds '-1': expects seconds in [0, 600]");
}

TEST_F(OptionsTest, LatencyRateIsHalfTheAcksAllPeakUnlessGiven) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  LatencyPlan plan = latency_plan(r.options, {261557.4, 250842.0});
  EXPECT_EQ(plan.per_s, 130778);
  EXPECT_EQ(plan.rule, "half the best acks=all produce rate of this run (261557 records/s)");
  plan = latency_plan(r.options, {});
  EXPECT_EQ(plan.per_s, 2000);
  EXPECT_EQ(plan.rule, "default (no acks=all produce rate measured)");

  r = parse({"--bootstrap", "127.0.0.1:9092", "--latency-rate", "1000000"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  plan = latency_plan(r.options, {261557.4});
  EXPECT_EQ(plan.per_s, 1000000);
  EXPECT_EQ(plan.rule, "--latency-rate");
  r = parse({"--bootstrap", "127.0.0.1:9092", "--latency-rate", "1000001"});
  EXPECT_EQ(r.kind, ParsedArgs::Kind::usage_error);
}

TEST_F(OptionsTest, MirrorModeMeasuresLatencyAt10MBPerSecondOfItsRecords) {
  ParsedArgs r = parse(mirror_args());
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  LatencyPlan plan = latency_plan(r.options, {261557.4});  // measured rates do not matter here
  EXPECT_EQ(plan.per_s, kMirrorLatencyBytesPerS / r.options.record_size);
  EXPECT_EQ(plan.rule, fmt::format("10 MB/s of {}-byte values (issue 16's replication latency goal)", r.options.record_size));
  auto args = mirror_args();
  args.insert(args.end(), {"--record-size", "100", "--latency-rate", "500"});
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(latency_plan(r.options, {}).per_s, 500);
  args = mirror_args();
  args.insert(args.end(), {"--record-size", "100"});
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(latency_plan(r.options, {}).per_s, 100'000);
}

TEST_F(OptionsTest, LatencyLingerDefaultsToTheProduceCasesOnlyInBrokerMode) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(latency_plan(r.options, {}).linger_ms, kBrokerLatencyLingerMs);
  r = parse({"--bootstrap", "127.0.0.1:9092", "--latency-linger-ms", "0"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(latency_plan(r.options, {}).linger_ms, 0);
  r = parse(mirror_args());
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(latency_plan(r.options, {}).linger_ms, 0);
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

TEST_F(OptionsTest, ExtraMirrorConfigsAreAListOfReadableFiles) {
  auto args = mirror_args();
  args.insert(args.end(), {"--mirror-extra-configs", config_ + "," + config_});
  ParsedArgs r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.mirror_extra_configs, (std::vector<std::string>{config_, config_}));

  args.back() = config_ + ",/nonexistent/mirror-2.toml";
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--mirror-extra-configs"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("/nonexistent/mirror-2.toml does not exist"), std::string::npos) << r.error;

  args.back() = config_ + ",";
  r = parse(args);
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("an empty file name"), std::string::npos) << r.error;
}

TEST_F(OptionsTest, BadValueNamesTheFlagTheValueAndWhatWasExpected) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--records", "abc"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--records 'abc': expects an integer in 1..100000000");
  r = parse({"--bootstrap=127.0.0.1:9092", "--seconds=0"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--seconds '0': expects seconds in (0, 600]");
  r = parse({"--bootstrap", "127.0.0.1:9092", "--latency-linger-ms", "-1"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--latency-linger-ms '-1': expects an integer in 0..1000");
  r = parse({"--bootstrap", "127.0.0.1:9092", "--broker-pid", "0"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--broker-pid '0': expects an integer in 1..4194304");
}

TEST_F(OptionsTest, MissingValueNamesTheFlag) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--records"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_NE(r.error.find("--records"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(" N"), std::string::npos) << r.error << ": names the metavar";
}

TEST_F(OptionsTest, UnknownOptionsAndStrayWordsAreRefused) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:9092", "--frobnicate=3"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "unknown option '--frobnicate' (see --help)");
  r = parse({"--bootstrap", "127.0.0.1:9092", "stray"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "unexpected argument 'stray'");
  r = parse({"--records", "5"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::usage_error);
  EXPECT_EQ(r.error, "--bootstrap HOST:PORT is required");
}

TEST_F(OptionsTest, LastOfARepeatedFlagWins) {
  ParsedArgs r = parse({"--bootstrap", "127.0.0.1:1", "--records", "5", "--bootstrap=127.0.0.1:2",
                        "--records=7"});
  ASSERT_EQ(r.kind, ParsedArgs::Kind::run) << r.error;
  EXPECT_EQ(r.options.bootstrap, "127.0.0.1:2");
  EXPECT_EQ(r.options.records, 7);
}

TEST_F(OptionsTest, HelpWinsAnywhere) {
  EXPECT_EQ(parse({"--help"}).kind, ParsedArgs::Kind::help);
  EXPECT_EQ(parse({"--records", "abc", "-h"}).kind, ParsedArgs::Kind::help);
}

TEST(UsageText, ListsEveryFlagWithItsMetavarHelpAndDefault) {
  const std::string text = usage_text();
  for (const char* line :
       {"  --bootstrap HOST:PORT\n      Broker to measure (required).",
        "  --records N\n"
        "      Records produced at least in each of the four produce cases (mirror and\n"
        "      security modes have their own defaults). Default: 1500000.\n",
        "  --seconds S\n", "Default: 10.\n", "  --data-dir DIR\n", "Default: /tmp.\n",
        "  --latency-linger-ms MS\n", "  --replication-factor N\n", "  --min-insync-replicas N\n",
        "  --mirror-target HOST:PORT\n", "  --mirror-log FILE\n",
        "  --mirror-extra-configs FILE[,FILE...]\n",
        "DATA_DIR/ferry-mirror.log.\n", "  --mirror-partitions P\n", "  -h,--help\n",
        "  -X,--client-property KEY=VALUE\n", "  --security-ssl HOST:PORT\n", "  --broker-pid PID\n",
        "Exit status: 0 ok, 1 the run failed, 2 bad arguments."}) {
    EXPECT_NE(text.find(line), std::string::npos) << "'" << line << "' in\n" << text;
  }
  // Every --flag line is followed by its help ending in a default, wrapped within 80 columns.
  size_t flags = 0;
  size_t pos = 0;
  while ((pos = text.find("\n  --", pos)) != std::string::npos) {
    ++pos;
    ++flags;
    const size_t next = text.find("\n  -", pos);
    const std::string entry = text.substr(pos, next == std::string::npos ? next : next - pos);
    EXPECT_NE(entry.find(" Default:"), std::string::npos) << entry;
  }
  EXPECT_EQ(flags, 32u) << text;
  size_t start = text.find("Options:");
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(end - start, 80u) << text.substr(start, end - start);
  }
}

}  // namespace
}  // namespace ferry::bench
