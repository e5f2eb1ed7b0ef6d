// ferry-wan-proxy: a TCP proxy that puts a simulated WAN link (one-way delay per direction,
// a bandwidth cap, cuts) between Kafka clients and a broker that advertises it. A test and
// benchmark tool: this kernel has no netem. Usage and semantics: wan-proxy/README.md.
#include <cstdio>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "wan-proxy/cli.h"
#include "wan-proxy/proxy.h"

int main(int argc, char** argv) {
  using namespace ferry::wanproxy;
  const sigset_t signals = ferry::block_stop_signals();
  ProxyArgs args;
  try {
    const auto parsed = parse_proxy_args(argc, argv);
    if (!parsed) {  // --help
      std::cout << proxy_usage();
      return 0;
    }
    args = *parsed;
  } catch (const std::invalid_argument& e) {
    std::cerr << "ferry-wan-proxy: " << e.what() << "; see ferry-wan-proxy --help\n";
    return 2;
  }
  ferry::logging::init("ferry-wan-proxy", args.log_level);

  std::unique_ptr<WanProxy> proxy;
  try {
    proxy = std::make_unique<WanProxy>(args.proxy);
  } catch (const std::system_error& e) {
    std::cerr << "ferry-wan-proxy: " << e.what() << "\n";
    return 1;
  }

  ferry::metrics::Registry registry;
  for (const char* direction : {"up", "down"})
    registry.gauge_callback("ferry_wan_proxy_bytes_delivered", "Bytes written to the far side, since start",
                            {{"direction", direction}}, [&proxy, up = std::string(direction) == "up"] {
                              return static_cast<double>(proxy->bytes_delivered(up));
                            });
  std::unique_ptr<ferry::metrics::MetricsServer> control;
  if (args.control) {
    try {
      control = std::make_unique<ferry::metrics::MetricsServer>(
          registry, args.control_host, args.control_port,
          std::map<std::string, std::function<std::string()>>{{"/status", [&] { return proxy->status().dump(); }}},
          std::map<std::string, ferry::metrics::PostHandler>{
              {"/link", [&](const std::string&, const std::string&, const std::string& body) {
                 try {
                   const LinkSettings next = apply_link_update(proxy->link(), body);
                   proxy->set_link(next);
                   spdlog::info("link now {}", link_json(next).dump());
                   return ferry::metrics::JsonReply{200, link_json(next).dump()};
                 } catch (const std::invalid_argument& e) {
                   return ferry::metrics::JsonReply{400, nlohmann::json{{"error", e.what()}}.dump()};
                 }
               }}});
    } catch (const std::system_error& e) {
      std::cerr << "ferry-wan-proxy: --control " << args.control_host << ":" << args.control_port << ": "
                << e.what() << "\n";
      return 1;
    }
  }

  // One line on stdout once everything is bound, for scripts and tests to read the ports.
  nlohmann::json ready{{"routes", nlohmann::json::array()}, {"link", link_json(proxy->link())}};
  for (const Route& r : proxy->routes())
    ready["routes"].push_back({{"listen", fmt::format("{}:{}", r.listen_host, r.listen_port)},
                               {"upstream", fmt::format("{}:{}", r.upstream_host, r.upstream_port)}});
  ready["control"] = control ? nlohmann::json(fmt::format("{}:{}", args.control_host.empty() ? "0.0.0.0" : args.control_host,
                                                          control->port()))
                             : nlohmann::json(nullptr);
  std::cout << ready.dump() << std::endl;

  std::thread io([&] { proxy->run(); });
  const char* signal = ferry::wait_for_stop_signal(signals);
  spdlog::info("{}: stopping", signal);
  proxy->stop();
  io.join();
  control.reset();
  return 0;
}
