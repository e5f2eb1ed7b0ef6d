#include "broker/broker.h"

#include <spdlog/spdlog.h>

#include "broker/core/replica_manager.h"
#include "broker/metadata/metadata_store.h"
#include "broker/server/socket_server.h"
#include "common/metrics.h"
#include "common/metrics_http.h"

namespace ferry::broker {

struct Broker::Impl {
  BrokerConfig config;
  metrics::Registry metrics;
  std::unique_ptr<FileMetadataStore> store;
  std::unique_ptr<ReplicaManager> replicas;
  security::AllowAllAuthorizer authorizer;
  std::unique_ptr<BrokerServices> services;
  std::unique_ptr<Handlers> handlers;
  std::unique_ptr<SocketServer> server;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  bool stopped = false;

  explicit Impl(BrokerConfig c) : config(std::move(c)) {}
};

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Broker::~Broker() { stop(std::chrono::milliseconds(0)); }

void Broker::start() {
  auto& i = *impl_;
  std::filesystem::create_directories(i.config.log_dirs.front());
  // Topic metadata lives beside the logs of the first log dir (a later issue moves it to etcd).
  i.store = std::make_unique<FileMetadataStore>(std::filesystem::path(i.config.log_dirs.front()) /
                                                "ferry-metadata.toml");
  i.replicas = std::make_unique<ReplicaManager>(i.config, *i.store, i.metrics);
  i.replicas->startup();
  i.services.reset(new BrokerServices{i.config, *i.replicas, *i.store, i.authorizer, i.metrics,
                                      i.store->cluster_id(), {}, {}});
  i.handlers = std::make_unique<Handlers>(*i.services);
  i.server = std::make_unique<SocketServer>(*i.services, *i.handlers);
  i.server->start();
  for (const auto& l : i.config.listeners) i.services->bound_ports[l.name] = i.server->port(l.name);
  const auto& m = i.config.values.get_string("metrics.listener");
  if (!m.empty()) {
    auto colon = m.rfind(':');
    i.metrics_server = std::make_unique<metrics::MetricsServer>(i.metrics, m.substr(0, colon),
                                                                static_cast<uint16_t>(std::stoi(m.substr(colon + 1))));
    spdlog::info("metrics on http://{}:{}/metrics", m.substr(0, colon), i.metrics_server->port());
  }
  spdlog::info("ferry-broker node {} started (cluster id {})", i.config.node_id, i.services->cluster_id);
}

void Broker::stop(std::chrono::milliseconds grace) {
  auto& i = *impl_;
  if (i.stopped || !i.replicas) return;
  i.stopped = true;
  spdlog::info("shutting down: draining requests in flight");
  if (i.server) i.server->stop(grace);
  i.replicas->shutdown();
  i.metrics_server.reset();
  spdlog::info("shutdown complete");
}

uint16_t Broker::port(const std::string& listener_name) const {
  return impl_->server ? impl_->server->port(listener_name) : 0;
}

}  // namespace ferry::broker
