// The link model, route/flag parsing and POST /link bodies of ferry-wan-proxy.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wan-proxy/cli.h"
#include "wan-proxy/link.h"

namespace ferry::wanproxy {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(DirectionSchedule, WithoutACapEveryChunkArrivesOneDelayLater) {
  DirectionSchedule s;
  const DirectionSettings d{milliseconds(25), 0};
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(s.deliver_at(t0, 1 << 20, d), t0 + milliseconds(25));
  EXPECT_EQ(s.deliver_at(t0, 1 << 20, d), t0 + milliseconds(25));  // no serialisation
  EXPECT_EQ(s.deliver_at(t0 + milliseconds(3), 0, d), t0 + milliseconds(28));
}

TEST(DirectionSchedule, ACapSerialisesChunksOneAfterAnother) {
  DirectionSchedule s;
  const DirectionSettings d{milliseconds(10), 1'000'000};  // 1 MB/s: 1 byte per microsecond
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(s.deliver_at(t0, 1000, d), t0 + microseconds(1000) + milliseconds(10));
  // Offered at the same instant, the second waits for the first to leave.
  EXPECT_EQ(s.deliver_at(t0, 1000, d), t0 + microseconds(2000) + milliseconds(10));
  // After the link went idle, serialisation starts when the bytes are offered.
  const Clock::time_point later = t0 + milliseconds(50);
  EXPECT_EQ(s.deliver_at(later, 500, d), later + microseconds(500) + milliseconds(10));
}

TEST(DirectionSchedule, ThroughputOverManyChunksIsTheCap) {
  DirectionSchedule s;
  const DirectionSettings d{milliseconds(0), 12'500'000};  // 100 Mbit/s
  const Clock::time_point t0 = Clock::now();
  Clock::time_point last{};
  for (int i = 0; i < 1000; ++i) last = s.deliver_at(t0, 125'000, d);  // 125 MB offered at once
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(last - t0).count(), 10'000);
}

TEST(Parse, RoutesAndTheirErrors) {
  const Route r = parse_route("127.0.0.1:0=localhost:9092");
  EXPECT_EQ(r.listen_host, "127.0.0.1");
  EXPECT_EQ(r.listen_port, 0);
  EXPECT_EQ(r.upstream_host, "localhost");
  EXPECT_EQ(r.upstream_port, 9092);
  const Route v6 = parse_route("[::1]:19092=[::1]:9092");
  EXPECT_EQ(v6.listen_host, "::1");
  EXPECT_EQ(v6.listen_port, 19092);

  const auto error_of = [](const std::string& text) {
    try {
      parse_route(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("127.0.0.1:9092").find("expected LISTEN_HOST:PORT=UPSTREAM_HOST:PORT"), std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:0=127.0.0.1:0").find("port 0 is not a destination"), std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:x=127.0.0.1:1").find("--route listen address \"127.0.0.1:x\""),
            std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:1=127.0.0.1:70000").find("above 65535"), std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:1=:9092").find("no host"), std::string::npos);
  EXPECT_NE(error_of("::1:1=127.0.0.1:9092").find("brackets"), std::string::npos);
}

TEST(Parse, UnitsAndRanges) {
  EXPECT_EQ(mbit_to_bytes_per_s(100, "x"), 12'500'000u);
  EXPECT_EQ(mbit_to_bytes_per_s(0, "x"), 0u);
  EXPECT_EQ(delay_from_ms(0.5, "x"), microseconds(500));
  EXPECT_THROW(mbit_to_bytes_per_s(-1, "x"), std::invalid_argument);
  EXPECT_THROW(delay_from_ms(-1, "x"), std::invalid_argument);
  EXPECT_THROW(delay_from_ms(1e12, "x"), std::invalid_argument);
  EXPECT_EQ(parse_cut("blackhole"), Cut::blackhole);
  EXPECT_THROW(parse_cut("drop"), std::invalid_argument);
}

TEST(LinkUpdate, FieldsArePartialAndDirectionSpecificOnesWin) {
  LinkSettings base;
  base.up.delay = milliseconds(5);
  base.down.rate_bytes_per_s = 1000;
  const LinkSettings a = apply_link_update(base, R"({"delay_ms": 25, "delay_down_ms": 40})");
  EXPECT_EQ(a.up.delay, milliseconds(25));
  EXPECT_EQ(a.down.delay, milliseconds(40));
  EXPECT_EQ(a.down.rate_bytes_per_s, 1000u);  // untouched
  EXPECT_EQ(a.cut, Cut::none);
  const LinkSettings b = apply_link_update(a, R"({"cut": "reset", "rate_mbit": 8})");
  EXPECT_EQ(b.cut, Cut::reset);
  EXPECT_EQ(b.up.rate_bytes_per_s, 1'000'000u);
  EXPECT_EQ(b.up.delay, milliseconds(25));
  EXPECT_EQ(apply_link_update(b, "{}"), b);

  const nlohmann::json j = link_json(b);
  EXPECT_EQ(j["delay_up_ms"], 25.0);
  EXPECT_EQ(j["delay_down_ms"], 40.0);
  EXPECT_EQ(j["rate_up_mbit"], 8.0);
  EXPECT_EQ(j["cut"], "reset");
}

TEST(LinkUpdate, BadBodiesNameTheFieldAndChangeNothing) {
  const auto error_of = [](const std::string& body) {
    try {
      apply_link_update(LinkSettings{}, body);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("not json").find("is not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("[1]").find("is not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"latency": 5})").find("field \"latency\" is not one of"), std::string::npos);
  EXPECT_NE(error_of(R"({"delay_ms": "5"})").find("field \"delay_ms\" is \"5\"; expected a number"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"delay_ms": -5})").find("delay_ms -5"), std::string::npos);
  EXPECT_NE(error_of(R"({"cut": "drop"})").find("cut \"drop\" is not one of"), std::string::npos);
  EXPECT_NE(error_of(R"({"cut": 1})").find("field \"cut\" is 1"), std::string::npos);
}

std::string cli_error(std::vector<std::string> words) {
  words.insert(words.begin(), "ferry-wan-proxy");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  try {
    parse_proxy_args(static_cast<int>(argv.size()), argv.data());
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(Cli, FlagsBecomeOptions) {
  std::vector<std::string> words{"ferry-wan-proxy", "--route", "127.0.0.1:0=127.0.0.1:9092", "--route",
                                 "127.0.0.1:0=127.0.0.1:9093", "--delay-ms", "25", "--delay-down-ms", "5",
                                 "--rate-up-mbit", "80", "--control", "127.0.0.1:0", "--cut", "blackhole"};
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  const auto args = parse_proxy_args(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(args);
  ASSERT_EQ(args->proxy.routes.size(), 2u);
  EXPECT_EQ(args->proxy.routes[1].upstream_port, 9093);
  EXPECT_EQ(args->proxy.link.up.delay, milliseconds(25));
  EXPECT_EQ(args->proxy.link.down.delay, milliseconds(5));
  EXPECT_EQ(args->proxy.link.up.rate_bytes_per_s, 10'000'000u);
  EXPECT_EQ(args->proxy.link.down.rate_bytes_per_s, 0u);
  EXPECT_EQ(args->proxy.link.cut, Cut::blackhole);
  EXPECT_TRUE(args->control);
  EXPECT_EQ(args->control_host, "127.0.0.1");
}

TEST(Cli, BadArgumentsNameTheFlag) {
  EXPECT_NE(cli_error({}).find("--route is required"), std::string::npos);
  EXPECT_NE(cli_error({"--route", "x"}).find("--route \"x\""), std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--delay-ms", "-3"}).find("--delay-ms -3"),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--delay-ms", "soon"}).find("--delay-ms"),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--rate-mbit", "-1"}).find("--rate-mbit -1"),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--window-bytes", "10"}).find("--window-bytes 10"),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--cut", "drop"}).find("--cut: cut \"drop\""),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--control", "nowhere"}).find("--control \"nowhere\""),
            std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--loss", "1"}).find("--loss"), std::string::npos);
  EXPECT_NE(cli_error({"--route", "127.0.0.1:0=127.0.0.1:1", "--log-level", "loud"}).find("--log-level \"loud\""),
            std::string::npos);
}

}  // namespace
}  // namespace ferry::wanproxy
