#include "wan-proxy/cli.h"

#include <stdexcept>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace ferry::wanproxy {

std::string proxy_usage() {
  return R"(Usage: ferry-wan-proxy --route LISTEN_HOST:PORT=UPSTREAM_HOST:PORT [--route ...] [options]

A TCP proxy that puts a simulated WAN link between clients and their upstreams: every byte
is delayed, the link's bandwidth can be capped and it can be cut. Make a broker advertise the
listen address (advertised.listeners) so every Kafka client goes through it.

  --route L=U            forward connections accepted on L to U; repeatable; a listen port
                         of 0 picks a free one (the ready line on stdout gives it)
  --delay-ms MS          one-way delay in each direction (a round trip costs 2 x MS); default 0
  --delay-up-ms MS       one-way delay client -> upstream (overrides --delay-ms)
  --delay-down-ms MS     one-way delay upstream -> client (overrides --delay-ms)
  --rate-mbit R          bandwidth cap of each direction in megabits/s, shared by every
                         connection; 0 = unlimited (default)
  --rate-up-mbit R       cap client -> upstream (overrides --rate-mbit)
  --rate-down-mbit R     cap upstream -> client (overrides --rate-mbit)
  --window-bytes N       bytes one direction of one connection may have unacknowledged, like
                         a TCP receive window: at most one window per round trip
                         (65536 .. 1073741824); default 6291456
  --cut none|blackhole|reset
                         start cut (default none); change it at run time with POST /link
  --control HOST:PORT    HTTP control endpoint: GET /status, POST /link with a JSON object of
                         delay_ms, delay_up_ms, delay_down_ms, rate_mbit, rate_up_mbit,
                         rate_down_mbit, cut; GET /metrics, GET /healthz. Port 0 picks one.
  --log-level LEVEL      trace, debug, info (default), warn, error
  -h, --help             this text

Once every address is bound it prints one JSON line on stdout:
  {"routes":[{"listen":"127.0.0.1:40001","upstream":"127.0.0.1:9092"}],"link":{...},"control":"127.0.0.1:40002"}
SIGTERM or SIGINT stops it. Exit status: 0 stopped, 1 cannot bind, 2 bad arguments.
)";
}

std::optional<ProxyArgs> parse_proxy_args(int argc, char** argv) {
  CLI::App app{"ferry-wan-proxy", "ferry-wan-proxy"};
  app.set_help_flag();  // our own --help text
  bool help = false;
  std::vector<std::string> routes;
  std::optional<double> delay, delay_up, delay_down, rate, rate_up, rate_down;
  int64_t window = static_cast<int64_t>(WanProxy::Options{}.window_bytes);
  std::string cut = "none", control, level = "info";
  app.add_flag("-h,--help", help);
  app.add_option("--route", routes)->take_all()->allow_extra_args(false);
  app.add_option("--delay-ms", delay);
  app.add_option("--delay-up-ms", delay_up);
  app.add_option("--delay-down-ms", delay_down);
  app.add_option("--rate-mbit", rate);
  app.add_option("--rate-up-mbit", rate_up);
  app.add_option("--rate-down-mbit", rate_down);
  app.add_option("--window-bytes", window);
  app.add_option("--cut", cut);
  app.add_option("--control", control);
  app.add_option("--log-level", level);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
  if (help) return std::nullopt;

  ProxyArgs args;
  if (routes.empty()) throw std::invalid_argument("--route is required (LISTEN_HOST:PORT=UPSTREAM_HOST:PORT)");
  for (const std::string& r : routes) args.proxy.routes.push_back(parse_route(r));
  const auto to_delay = [](const std::optional<double>& v, const char* flag) {
    return v ? delay_from_ms(*v, flag) : std::chrono::microseconds(0);
  };
  const auto to_rate = [](const std::optional<double>& v, const char* flag) {
    return v ? mbit_to_bytes_per_s(*v, flag) : uint64_t{0};
  };
  LinkSettings& link = args.proxy.link;
  link.up.delay = link.down.delay = to_delay(delay, "--delay-ms");
  if (delay_up) link.up.delay = to_delay(delay_up, "--delay-up-ms");
  if (delay_down) link.down.delay = to_delay(delay_down, "--delay-down-ms");
  link.up.rate_bytes_per_s = link.down.rate_bytes_per_s = to_rate(rate, "--rate-mbit");
  if (rate_up) link.up.rate_bytes_per_s = to_rate(rate_up, "--rate-up-mbit");
  if (rate_down) link.down.rate_bytes_per_s = to_rate(rate_down, "--rate-down-mbit");
  try {
    link.cut = parse_cut(cut);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--cut: ") + e.what());
  }
  if (window < 65536 || window > (int64_t{1} << 30))
    throw std::invalid_argument(fmt::format("--window-bytes {}: expected 65536 .. 1073741824", window));
  args.proxy.window_bytes = static_cast<uint64_t>(window);
  if (!control.empty()) {
    parse_host_port(control, "--control", true, args.control_host, args.control_port);
    args.control = true;
  }
  static constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool known = false;
  for (const char* l : kLevels) known = known || level == l;
  if (!known)
    throw std::invalid_argument(
        fmt::format("--log-level \"{}\": expected trace, debug, info, warn or error", level));
  args.log_level = level;
  return args;
}

}  // namespace ferry::wanproxy
