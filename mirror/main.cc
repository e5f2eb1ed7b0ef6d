// ferry-mirror: MirrorMaker 2-compatible replication between Kafka-protocol clusters. Usage and exit
// codes are in print_usage().
#include <charconv>
#include <cstdlib>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "mirror/config.h"
#include "mirror/flow_tasks.h"
#include "mirror/flow_control_state.h"
#include "mirror/status_types.h"

namespace {

void print_usage(std::ostream& out) {
  out << "ferry-mirror: replicates topics and consumer-group positions between Kafka-protocol clusters,\n"
         "in MirrorMaker 2's formats, resuming from what the target holds (no duplicates, no gaps).\n\n"
         "Usage:\n"
         "  ferry-mirror --config FILE        run the flows of the TOML configuration FILE\n"
         "  ferry-mirror --help               this text\n"
         "  ferry-mirror --config-reference   the configuration reference as Markdown (docs/)\n\n"
         "Exit codes: 0 after a shutdown (SIGTERM or SIGINT; at most task.shutdown.graceful.timeout.ms\n"
         "even when a cluster is gone), 1 when starting fails (status\n"
         "port taken), 2 for a bad command line or configuration (the message names the key).\n\n"
         "Minimal configuration:\n"
         "  [clusters.east]\n"
         "  \"bootstrap.servers\" = \"127.0.0.1:9092\"\n"
         "  [clusters.west]\n"
         "  \"bootstrap.servers\" = \"127.0.0.1:9093\"\n"
         "  [[flows]]\n"
         "  source = \"east\"\n"
         "  target = \"west\"\n\n"
         "HTTP (mirror.status.listener): GET /metrics (Prometheus), GET /status (JSON), GET /healthz,\n"
         "POST /flows/<source>/<target>/pause|resume|checkpoint[?timeout_ms=N] (docs/mirror.md).\n"
         "Every key: ferry-mirror --config-reference, or docs/mirror-config.md.\n";
}

// POST /flows/<source>/<target>/<pause|resume|checkpoint>[?timeout_ms=N] (docs/mirror.md,
// "Control API"): 404 for an unknown flow or action, 400 for a bad timeout_ms. With `state`
// (mirror.state.dir), pause and resume are recorded durably before they take effect: a resume that
// cannot be recorded is refused (500); a pause that cannot be recorded still pauses (the safe
// direction) and answers 500 saying a restart would resume the flow.
ferry::metrics::JsonReply control_request(const std::vector<std::unique_ptr<ferry::mirror::FlowTasks>>& flows,
                                          ferry::mirror::FlowControlState* state, const std::string& path,
                                          const std::string& query) {
  auto error = [](int status, const std::string& what) {
    return ferry::metrics::JsonReply{status, nlohmann::json(ferry::mirror::ErrorReply{what, std::nullopt}).dump()};
  };
  // Aliases are [A-Za-z0-9._-]+, so '/' separates the parts unambiguously.
  std::vector<std::string> parts;
  for (size_t at = 1; at <= path.size();) {
    const size_t slash = std::min(path.find('/', at), path.size());
    parts.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  if (parts.size() != 4 || parts[0] != "flows") return error(404, "no such path: " + path);
  const std::string& action = parts[3];
  if (action != "pause" && action != "resume" && action != "checkpoint")
    return error(404, "unknown action '" + action + "' (pause, resume, checkpoint)");
  ferry::mirror::FlowTasks* flow = nullptr;
  for (const auto& f : flows)
    if (f->config().source == parts[1] && f->config().target == parts[2]) flow = f.get();
  if (!flow) return error(404, "no flow " + parts[1] + "->" + parts[2] + " in this process");
  int64_t timeout_ms = 30'000;
  for (size_t at = 0; at < query.size();) {
    const size_t amp = std::min(query.find('&', at), query.size());
    const std::string param = query.substr(at, amp - at);
    at = amp + 1;
    if (!param.starts_with("timeout_ms=")) continue;
    const std::string v = param.substr(11);
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), timeout_ms);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || timeout_ms < 0 || timeout_ms > 3'600'000)
      return error(400, "timeout_ms must be an integer in [0, 3600000], not '" + v + "'");
  }
  const std::chrono::milliseconds timeout(timeout_ms);
  if (action == "checkpoint") return flow->checkpoint(timeout);
  // One pause or resume at a time, so the recorded order is the applied order.
  static std::mutex control_mu;
  std::lock_guard lk(control_mu);
  const std::string name = flow->config().name();
  std::string not_recorded;
  if (state) {
    try {
      state->set(name, action == "pause", ferry::wall_clock_ms());
    } catch (const std::exception& e) {
      not_recorded = e.what();
      spdlog::error("flow {}: cannot record {} in {}: {}", name, action, state->file().string(), not_recorded);
    }
  }
  if (action == "resume") {
    if (!not_recorded.empty())
      return error(500, fmt::format("flow {} not resumed: the decision could not be recorded in {} ({})", name,
                                    state->file().string(), not_recorded));
    return flow->resume();
  }
  auto reply = flow->pause(timeout);
  if (not_recorded.empty()) return reply;
  return error(500, fmt::format("flow {} paused, but the pause could not be recorded in {} ({}); a restarted "
                                "ferry-mirror would resume it",
                                name, state->file().string(), not_recorded));
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

  // Pauses and resumes from the control API survive a restart (mirror.state.dir).
  std::optional<ferry::mirror::FlowControlState> control_state;
  if (!config->state_dir.empty()) {
    try {
      control_state.emplace(ferry::mirror::FlowControlState::open(config->state_dir));
    } catch (const std::exception& e) {
      std::cerr << "ferry-mirror: mirror.state.dir " << config->state_dir << ": " << e.what() << "\n";
      return 1;
    }
    for (auto& f : config->flows) {
      if (auto e = control_state->get(f.name())) {
        if (e->paused != f.paused)
          spdlog::warn("flow {}: starts {} as the control API last set it at {} ({}), not as its paused key says",
                       f.name(), e->paused ? "paused" : "running", ferry::rfc3339_ms(e->updated_ms),
                       control_state->file().string());
        f.paused = e->paused;
      }
    }
  } else if (!config->status_listener.empty()) {
    spdlog::warn("mirror.state.dir is not set: a pause or resume through the control API lasts until this process "
                 "exits; a restart goes back to each flow's paused key");
  }

  const sigset_t stop_signals = ferry::block_stop_signals();

  ferry::metrics::Registry registry;
  std::vector<std::unique_ptr<ferry::mirror::FlowTasks>> flows;
  try {
    for (const auto& f : config->flows) flows.push_back(std::make_unique<ferry::mirror::FlowTasks>(f, config->clusters, registry));
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
          std::map<std::string, std::function<std::string()>>{{"/status",
                                                               [&flows, &control_state] {
                                                                 ferry::mirror::MirrorStatus s;
                                                                 if (control_state) s.flow_control_state = control_state->file().string();
                                                                 for (const auto& f : flows) s.flows.push_back(f->status());
                                                                 return nlohmann::json(s).dump();
                                                               }}},
          std::map<std::string, ferry::metrics::PostHandler>{
              {"/flows/*", [&flows, &control_state](const std::string& path, const std::string& query, const std::string&) {
                 return control_request(flows, control_state ? &*control_state : nullptr, path, query);
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
  // Every flow is told first, so they all stop together within task.shutdown.graceful.timeout.ms.
  for (auto& f : flows) f->request_stop();
  const auto deadline = std::chrono::steady_clock::now() + config->shutdown_timeout;
  bool finished = true;
  for (auto& f : flows) {
    if (f->stop(deadline)) continue;
    finished = false;
    spdlog::warn("flow {}: thread(s) {} still waiting on a cluster after task.shutdown.graceful.timeout.ms = {}; "
                 "exiting without them (nothing is lost: the next start resumes from the target)",
                 f->config().name(), fmt::join(f->live_threads(), ", "), config->shutdown_timeout.count());
  }
  if (!finished) {
    // Destroying a Flow would wait for its threads; the process ends here instead.
    spdlog::info("shutdown complete (forced)");
    spdlog::shutdown();
    std::_Exit(0);
  }
  http.reset();
  spdlog::info("shutdown complete");
  return 0;
}
