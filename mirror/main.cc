// ferry-mirror: MirrorMaker 2-compatible replication between Kafka-protocol clusters. Usage and exit
// codes are in print_usage().
#include <iostream>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "mirror/config.h"
#include "mirror/flow.h"

namespace {

void print_usage(std::ostream& out) {
  out << "ferry-mirror: replicates topics and consumer-group positions between Kafka-protocol clusters,\n"
         "in MirrorMaker 2's formats, resuming from what the target holds (no duplicates, no gaps).\n\n"
         "Usage:\n"
         "  ferry-mirror --config FILE        run the flows of the TOML configuration FILE\n"
         "  ferry-mirror --help               this text\n"
         "  ferry-mirror --config-reference   the configuration reference as Markdown (docs/)\n\n"
         "Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 when starting fails (status\n"
         "port taken), 2 for a bad command line or configuration (the message names the key).\n\n"
         "Minimal configuration:\n"
         "  [clusters.east]\n"
         "  \"bootstrap.servers\" = \"127.0.0.1:9092\"\n"
         "  [clusters.west]\n"
         "  \"bootstrap.servers\" = \"127.0.0.1:9093\"\n"
         "  [[flows]]\n"
         "  source = \"east\"\n"
         "  target = \"west\"\n\n"
         "HTTP (mirror.status.listener): GET /metrics (Prometheus), GET /status (JSON), GET /healthz.\n"
         "Every key: ferry-mirror --config-reference, or docs/mirror-config.md.\n";
}

}  // namespace

int main(int argc, char** argv) {
  auto args = ferry::parse_daemon_args("ferry-mirror", argc, argv);
  if (!args) return 2;
  if (args->action == ferry::DaemonArgs::Action::help) {
    print_usage(std::cout);
    return 0;
  }
  if (args->action == ferry::DaemonArgs::Action::config_reference) {
    std::cout << ferry::mirror::mirror_config_reference();
    return 0;
  }
  std::optional<ferry::mirror::MirrorConfig> config;
  try {
    config.emplace(ferry::mirror::load_mirror_config_file(args->config_path));
    ferry::logging::init("mirror", config->log_level);
  } catch (const std::exception& e) {
    std::cerr << "ferry-mirror: invalid configuration: " << e.what() << "\n";
    return 2;
  }

  const sigset_t stop_signals = ferry::block_stop_signals();

  ferry::metrics::Registry registry;
  std::vector<std::unique_ptr<ferry::mirror::Flow>> flows;
  try {
    for (const auto& f : config->flows) flows.push_back(std::make_unique<ferry::mirror::Flow>(f, config->clusters, registry));
  } catch (const std::invalid_argument& e) {
    // librdkafka refused a client property: a configuration error like any other.
    std::cerr << "ferry-mirror: invalid configuration: " << e.what() << "\n";
    return 2;
  }
  std::unique_ptr<ferry::metrics::MetricsServer> http;
  if (!config->status_listener.empty()) {
    const auto& l = config->status_listener;
    const auto colon = l.rfind(':');
    try {
      http = std::make_unique<ferry::metrics::MetricsServer>(
          registry, l.substr(0, colon), static_cast<uint16_t>(std::stoi(l.substr(colon + 1))),
          std::map<std::string, std::function<std::string()>>{{"/status", [&flows] {
                                                                 nlohmann::json j;
                                                                 j["flows"] = nlohmann::json::array();
                                                                 for (const auto& f : flows)
                                                                   j["flows"].push_back(nlohmann::json::parse(f->status_json()));
                                                                 return j.dump();
                                                               }}});
      spdlog::info("status on http://{}:{}/status", l.substr(0, colon), http->port());
    } catch (const std::exception& e) {
      spdlog::critical("cannot serve {}: {}", l, e.what());
      return 1;
    }
  }
  for (auto& f : flows) {
    f->start();
    spdlog::info("flow {} started", f->config().name());
  }
  spdlog::info("received {}; stopping flows", ferry::wait_for_stop_signal(stop_signals));
  for (auto& f : flows) f->stop();
  http.reset();
  spdlog::info("shutdown complete");
  return 0;
}
