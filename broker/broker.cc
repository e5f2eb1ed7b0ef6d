#include "broker/broker.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <random>
#include <thread>

#include <boost/asio/ip/host_name.hpp>

#include "common/clock.h"
#include "broker/core/group_metadata.h"
#include "broker/core/replica_manager.h"
#include "broker/groups/coordinator.h"
#include "broker/metadata/broker_registration.h"
#include "broker/metadata/controller_election.h"
#include "broker/metadata/etcd_metadata_store.h"
#include "broker/metadata/metadata_store.h"
#include "broker/replication/partition_state.h"
#include "broker/replication/replication.h"
#include "broker/server/socket_server.h"
#include "broker/server/tls.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "security/audit_log.h"
#include "security/acl.h"

namespace ferry::broker {

struct Broker::Impl {
  BrokerConfig config;
  metrics::Registry metrics;
  // Declared before the store, so it outlives it: the etcd store's watch may call the listener
  // that refreshes it (ACL changes) until the store is gone.
  std::unique_ptr<security::Authorizer> authorizer;  // AclAuthorizer or AllowAllAuthorizer (config key authorizer)
  std::unique_ptr<MetadataStore> store;
  EtcdMetadataStore* etcd_store = nullptr;           // `store` when metadata.store = etcd
  std::unique_ptr<BrokerRegistration> registration;  // metadata.store = etcd only
  std::unique_ptr<ControllerElection> election;      // metadata.store = etcd only
  std::unique_ptr<ReplicaManager> replicas;
  std::unique_ptr<replication::Replication> replication;  // metadata.store = etcd only; after replicas
  std::unique_ptr<security::SecurityAuditLog> audit;  // outlives the server (stopped after it)
  std::shared_ptr<GroupMetadataManager> group_metadata;
  std::unique_ptr<groups::GroupCoordinator> coordinator;
  std::unique_ptr<BrokerServices> services;
  // Drives the coordinator's timers (sessions, rebalance timeouts) and offset expiry.
  std::thread group_ticker;
  std::mutex ticker_mu;
  std::condition_variable ticker_cv;
  bool ticker_stop = false;
  std::unique_ptr<Handlers> handlers;
  std::unique_ptr<TlsContexts> tls;  // null when no listener is SSL or SASL_SSL
  std::unique_ptr<SocketServer> server;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  bool stopped = false;

  explicit Impl(BrokerConfig c) : config(std::move(c)) {}

  void run_group_ticker();
  void start_audit_log();
  void register_in_etcd();
  ReplicaManager::ClusterHooks cluster_hooks();
};

// How a broker of a region on etcd places replicas: Kafka's assignment over the registered
// brokers, with its random start index and replica shift.
ReplicaManager::ClusterHooks Broker::Impl::cluster_hooks() {
  ReplicaManager::ClusterHooks h;
  h.assign = [this](int32_t first, int32_t count, int16_t rf) {
    std::vector<replication::BrokerNode> nodes;
    for (const auto& [id, info] : etcd_store->brokers()) nodes.push_back({id, info.rack});
    if (nodes.empty()) throw std::invalid_argument("no broker of the region is registered in etcd yet");
    if (rf > static_cast<int16_t>(nodes.size()))
      throw std::invalid_argument(fmt::format("replication factor {} is larger than the {} live broker(s) of the region",
                                              rf, nodes.size()));
    static thread_local std::mt19937 rng{std::random_device{}()};
    const auto n = static_cast<int32_t>(nodes.size());
    return replication::assign_replicas(nodes, first, count, rf, static_cast<int32_t>(rng() % n),
                                        static_cast<int32_t>(rng() % n));
  };
  h.await_leaders = [this](const std::string& topic, int32_t count) {
    return replication && replication->await_leaders(topic, count, std::chrono::seconds(10));
  };
  h.put_topic_if = [this](const TopicMetadata& t) { return etcd_store->put_topic_if(t); };
  return h;
}

// Opens the security audit log per the audit.log.* keys and makes it the authorizer's observer.
void Broker::Impl::start_audit_log() {
  auto& i = *this;
  const auto& v = i.config.values;
  if (!v.get_bool("audit.log.enable")) {
    spdlog::warn("security audit log disabled (audit.log.enable=false)");
    return;
  }
  const std::filesystem::path first_dir(i.config.log_dirs.front());
  std::filesystem::path dir = v.get_string("audit.log.dir");
  if (dir.empty()) dir = first_dir / "ferry-audit";
  security::AuditLogOptions o;
  o.file = dir / "security-audit.log";
  o.anchor = first_dir / "security-audit-anchor.json";
  o.categories = security::parse_audit_categories(v.get_list("audit.log.events"));
  o.max_bytes = v.get_int("audit.log.max.bytes");
  o.max_files = static_cast<int>(v.get_int("audit.log.max.files"));
  o.repeat_window_ms = v.get_int("audit.log.repeat.window.ms");
  o.cluster_id = i.services->cluster_id;
  i.audit = std::make_unique<security::SecurityAuditLog>(std::move(o));
  i.authorizer->set_observer(i.audit.get());
  i.services->audit = i.audit.get();
  auto* a = i.audit.get();
  i.metrics.gauge_callback("ferry_audit_log_lines_total", "Lines written to the security audit log.", {},
                           [a] { return static_cast<double>(a->stats().lines); });
  i.metrics.gauge_callback("ferry_audit_log_folded_events_total",
                           "Security audit events counted into a repeats line instead of written one by one.", {},
                           [a] { return static_cast<double>(a->stats().folded); });
  i.metrics.gauge_callback("ferry_audit_log_dropped_events_total",
                           "Security audit events lost: the writer's queue was full or a write failed.", {},
                           [a] { return static_cast<double>(a->stats().dropped); });
  spdlog::info("security audit log {} (events: {})", (dir / "security-audit.log").string(),
               fmt::join(v.get_list("audit.log.events"), ","));
}

void Broker::Impl::run_group_ticker() {
  // Coordinator timers are at least a session timeout (>= 1 ms, typically seconds) away, so a
  // 100 ms tick bounds their lateness well below any client-visible timeout.
  constexpr auto kTick = std::chrono::milliseconds(100);
  const int64_t check_ms = config.values.get_int("offsets.retention.check.interval.ms");
  int64_t next_expiry = wall_clock_ms() + check_ms;
  std::unique_lock lk(ticker_mu);
  while (!ticker_cv.wait_for(lk, kTick, [&] { return ticker_stop; })) {
    lk.unlock();
    const int64_t now = wall_clock_ms();
    coordinator->tick(now);
    if (now >= next_expiry) {
      next_expiry = now + check_ms;
      std::map<std::string, int64_t> empty_since;
      for (const auto& g : coordinator->list({groups::GroupState::empty})) empty_since[g.group_id] = g.state_since_ms;
      auto emptied = group_metadata->expire_offsets(now, [&](const std::string& id) -> std::optional<int64_t> {
        auto it = empty_since.find(id);
        if (it == empty_since.end()) return std::nullopt;
        return it->second;
      });
      // Kafka removes an Empty group once it has no offsets (its last ones expired, or it never
      // committed), so abandoned groups do not pile up. A group Empty for under a minute is
      // spared: it may be a standalone committer between its membership check and its write.
      // delete_groups refuses any group that gained members meanwhile.
      for (const auto& [id, since] : empty_since)
        if (now - since >= 60'000 && !group_metadata->has_offsets(id)) emptied.push_back(id);
      std::sort(emptied.begin(), emptied.end());
      emptied.erase(std::unique(emptied.begin(), emptied.end()), emptied.end());
      if (!emptied.empty()) {
        coordinator->delete_groups(emptied);
        spdlog::info("removed {} empty groups without committed offsets", emptied.size());
      }
    }
    lk.lock();
  }
}

std::filesystem::path Broker::metadata_path(const BrokerConfig& config) {
  return std::filesystem::path(config.log_dirs.front()) / "ferry-metadata.toml";
}

etcd::ClientOptions Broker::etcd_options(const BrokerConfig& config) {
  etcd::ClientOptions o;
  o.endpoints = config.values.get_list("etcd.endpoints");
  return o;
}

std::unique_ptr<MetadataStore> Broker::open_metadata_store(const BrokerConfig& config) {
  if (config.values.get_string("metadata.store") == "etcd") {
    auto store = std::make_unique<EtcdMetadataStore>(etcd_options(config), config.values.get_string("etcd.prefix"));
    spdlog::info("cluster metadata on etcd ({}) under {}", fmt::join(config.values.get_list("etcd.endpoints"), ","),
                 config.values.get_string("etcd.prefix"));
    return store;
  }
  std::filesystem::create_directories(metadata_path(config).parent_path());
  return std::make_unique<FileMetadataStore>(metadata_path(config));
}

// Registers the started broker under a lease (metadata.store = etcd), with the endpoints clients
// are told in Metadata: advertised listeners, with the bound port where the configured one is 0.
void Broker::Impl::register_in_etcd() {
  auto& i = *this;
  BrokerInfo info;
  info.node_id = i.config.node_id;
  info.rack = i.config.values.get_string("broker.rack");
  info.incarnation = random_kafka_uuid();
  for (const auto& l : i.config.listeners) {
    const Listener* a = &l;
    for (const auto& adv : i.config.advertised_listeners)
      if (adv.name == l.name) a = &adv;
    int port = a->port != 0 ? a->port : i.services->bound_ports[l.name];
    // A wildcard listener is registered under the machine's host name, as Kafka does.
    std::string host = a->host.empty() || a->host == "0.0.0.0" || a->host == "::" ? boost::asio::ip::host_name() : a->host;
    info.endpoints.push_back(fmt::format("{}://{}:{}", l.name, host, port));
  }
  i.registration = std::make_unique<BrokerRegistration>(
      Broker::etcd_options(i.config), i.config.values.get_string("etcd.prefix"), info,
      std::chrono::milliseconds(i.config.values.get_int("broker.session.timeout.ms")),
      std::chrono::milliseconds(i.config.values.get_int("broker.heartbeat.interval.ms")));
  i.registration->register_now();
  auto* r = i.registration.get();
  i.metrics.gauge_callback("ferry_broker_registered",
                           "1 while this broker's etcd registration is alive (its lease renewed), else 0.", {},
                           [r] { return r->registered() ? 1.0 : 0.0; });
  // The controller's duties (leaders for every partition) run on the replication thread while
  // this broker holds the controller epoch; a change of controller wakes it through the store.
  i.election->start();
  i.replication->start();
  auto* e = i.election.get();
  i.metrics.gauge_callback("kafka_controller_kafkacontroller_activecontrollercount",
                           "1 on the broker that is the elected controller, else 0 (Kafka's ActiveControllerCount).",
                           {}, [e] { return e->epoch() > 0 ? 1.0 : 0.0; });
}

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Broker::~Broker() { stop(std::chrono::milliseconds(0)); }

void Broker::start() {
  auto& i = *impl_;
  std::filesystem::create_directories(i.config.log_dirs.front());
  i.store = open_metadata_store(i.config);
  i.etcd_store = dynamic_cast<EtcdMetadataStore*>(i.store.get());
  if (i.etcd_store) {
    // Wait out a SIGKILLed predecessor's registration before any log is opened or client served;
    // the registration's transaction refuses a live broker with the same node.id atomically once
    // the listeners are bound.
    etcd::Client client(etcd_options(i.config));
    await_node_id_free(client, i.config.values.get_string("etcd.prefix"), i.config.node_id,
                       std::chrono::milliseconds(i.config.values.get_int("broker.session.timeout.ms")));
  }
  i.replicas = std::make_unique<ReplicaManager>(i.config, *i.store, i.metrics);
  if (i.etcd_store) i.replicas->set_cluster_mode(i.cluster_hooks());
  i.replicas->startup();
  // Group state is loaded completely before the first request is served, so no client ever sees
  // Kafka's COORDINATOR_LOAD_IN_PROGRESS.
  const int64_t now = wall_clock_ms();
  i.group_metadata = std::make_shared<GroupMetadataManager>(*i.replicas, i.config);
  auto loaded = i.group_metadata->load(now);
  groups::CoordinatorConfig cc;
  cc.min_session_timeout_ms = static_cast<int32_t>(i.config.values.get_int("group.min.session.timeout.ms"));
  cc.max_session_timeout_ms = static_cast<int32_t>(i.config.values.get_int("group.max.session.timeout.ms"));
  cc.initial_rebalance_delay_ms = static_cast<int32_t>(i.config.values.get_int("group.initial.rebalance.delay.ms"));
  i.coordinator = std::make_unique<groups::GroupCoordinator>(cc, i.group_metadata, now);
  i.coordinator->restore(loaded.groups);
  spdlog::info("loaded {} groups and {} committed offsets from {} ({} records, {} skipped)", loaded.groups.size(),
               loaded.offsets, kConsumerOffsetsTopic, loaded.records, loaded.skipped);
  i.metrics.gauge_callback("ferry_group_metadata_write_errors_total",
                           "Writes to __consumer_offsets that failed (the group kept working from memory).", {},
                           [gm = i.group_metadata] { return static_cast<double>(gm->write_errors()); });
  i.metrics.gauge_callback("kafka_coordinator_group_groupmetadatamanager_numgroups", "Consumer groups loaded.", {},
                           [gc = i.coordinator.get()] { return static_cast<double>(gc->list().size()); });
  i.group_ticker = std::thread([&i] { i.run_group_ticker(); });
  security::AclAuthorizer* acls = nullptr;
  if (effective_authorizer(i.config) == "acl") {
    auto a = std::make_unique<security::AclAuthorizer>(super_users(i.config),
                                                       i.config.values.get_bool("allow.everyone.if.no.acl.found"));
    a->replace_all(i.store->acls());
    spdlog::info("authorizer: Kafka ACLs ({} loaded, {} super users, allow.everyone.if.no.acl.found={})", a->size(),
                 super_users(i.config).size(), i.config.values.get_bool("allow.everyone.if.no.acl.found"));
    acls = a.get();
    i.authorizer = std::move(a);
  } else {
    i.authorizer = std::make_unique<security::AllowAllAuthorizer>();
    spdlog::info("authorizer: allow-all (every request is allowed; the ACL APIs answer SECURITY_DISABLED)");
  }
  i.services.reset(new BrokerServices{i.config, *i.replicas, *i.store, *i.authorizer, i.metrics, *i.coordinator,
                                      *i.group_metadata, i.store->cluster_id(), {}, {}});
  i.services->acls = acls;
  i.start_audit_log();
  i.handlers = std::make_unique<Handlers>(*i.services);
  if (std::any_of(i.config.listeners.begin(), i.config.listeners.end(), [](const Listener& l) { return l.tls(); })) {
    // Certificates set through AlterConfigs (KIP-226, per broker) override the file's.
    i.tls = std::make_unique<TlsContexts>(
        i.config.listeners,
        with_dynamic_ssl(i.config.values, i.replicas->dynamic_broker_configs(std::to_string(i.config.node_id))));
    i.services->tls = i.tls.get();
  }
  // The metrics listener opens first: a port that cannot be bound fails the start before any
  // Kafka listener accepts a client.
  const auto& m = i.config.values.get_string("metrics.listener");
  if (!m.empty()) {
    auto colon = m.rfind(':');
    i.metrics_server = std::make_unique<metrics::MetricsServer>(i.metrics, m.substr(0, colon),
                                                                static_cast<uint16_t>(std::stoi(m.substr(colon + 1))));
    spdlog::info("metrics on http://{}:{}/metrics", m.substr(0, colon), i.metrics_server->port());
  }
  if (i.etcd_store) {
    i.election = std::make_unique<ControllerElection>(
        Broker::etcd_options(i.config), i.config.values.get_string("etcd.prefix"), i.config.node_id,
        std::chrono::milliseconds(i.config.values.get_int("broker.session.timeout.ms")),
        std::chrono::milliseconds(i.config.values.get_int("broker.heartbeat.interval.ms")), nullptr, nullptr);
    i.replication =
        std::make_unique<replication::Replication>(i.config, *i.etcd_store, *i.replicas, *i.election, i.metrics);
    i.services->replication = i.replication.get();
    // The group coordinator follows the leadership of __consumer_offsets' partitions (Kafka's
    // onLeadershipChange → GroupCoordinator.onElection / onResignation).
    i.replication->set_offsets_leadership_listener([&i](int32_t partition, bool leader) {
      if (leader) {
        auto loaded = i.group_metadata->load_partition(partition, wall_clock_ms());
        i.coordinator->restore(loaded.groups);
        spdlog::info("group coordinator: took over {}-{} ({} groups, {} committed offsets)", kConsumerOffsetsTopic,
                     partition, loaded.groups.size(), loaded.offsets);
      } else {
        auto ids = i.group_metadata->unload_partition(partition);
        i.coordinator->unload_groups(ids);
        spdlog::info("group coordinator: handed {}-{} over ({} groups)", kConsumerOffsetsTopic, partition, ids.size());
      }
    });
  }
  i.server = std::make_unique<SocketServer>(*i.services, *i.handlers, i.tls.get());
  i.server->start();
  for (const auto& l : i.config.listeners) i.services->bound_ports[l.name] = i.server->port(l.name);
  if (auto* etcd_store = i.etcd_store) {
    // ACLs changed by another broker of the region reach this one's authorizer through the watch;
    // topics, registrations and partition states reach replication.
    etcd_store->set_change_listener([acls, etcd_store, r = i.replication.get(),
                                     replicas = i.replicas.get()](EtcdMetadataStore::Change c) {
      if (c == EtcdMetadataStore::Change::kAcls && acls) acls->replace_all(etcd_store->acls());
      // Dynamic broker configs altered through another broker (ferry-dr fencing the region with
      // ferry.cluster.role on the cluster default): every broker of the region applies them.
      if (c == EtcdMetadataStore::Change::kBrokerConfigs) replicas->reload_broker_configs();
      r->on_change(c);
    });
    i.register_in_etcd();
  }
  spdlog::info("ferry-broker node {} started (cluster id {})", i.config.node_id, i.services->cluster_id);
}

void Broker::stop(std::chrono::milliseconds grace) {
  auto& i = *impl_;
  if (i.stopped || !i.replicas) return;
  i.stopped = true;
  if (i.replication && i.registration && grace.count() > 0 &&
      i.config.values.get_bool("controlled.shutdown.enable")) {
    // Controlled shutdown: leave the region first, so the controller hands this broker's
    // leaderships to other in-sync replicas while it still serves; clients follow them without
    // waiting for a session timeout, and acks=all producers lose no time.
    spdlog::info("controlled shutdown: deregistering so the controller moves this broker's leaderships");
    i.registration.reset();
    if (i.replication->shutdown_leaderships(grace)) spdlog::info("controlled shutdown: no leadership left to move");
  }
  spdlog::info("shutting down: draining requests in flight");
  // Pending JoinGroup/SyncGroup requests would otherwise hold the drain for up to a rebalance
  // timeout: answer them NOT_COORDINATOR (Kafka's resignation), and refuse new ones.
  if (i.services) i.services->stopping = true;
  if (i.coordinator) i.coordinator->shutdown();
  if (i.server) i.server->stop(grace);
  // Before what its gauges read (the election, replication, registration) goes.
  i.metrics_server.reset();
  // After the last request: the registration's lease is revoked, so the cluster sees this broker
  // leave at once rather than after broker.session.timeout.ms.
  if (i.etcd_store) i.etcd_store->set_change_listener(nullptr);
  if (i.replication) i.replication->stop();
  i.election.reset();
  i.registration.reset();
  // After the server: every request's audit event is queued; stop() writes and fsyncs them.
  if (i.audit) i.audit->stop();
  if (i.group_ticker.joinable()) {
    {
      std::lock_guard lk(i.ticker_mu);
      i.ticker_stop = true;
    }
    i.ticker_cv.notify_all();
    i.group_ticker.join();
  }
  i.replicas->shutdown();
  spdlog::info("shutdown complete");
}

size_t Broker::reload_tls() {
  auto& i = *impl_;
  if (!i.tls) return 0;
  return i.tls->reload(
      with_dynamic_ssl(i.config.values, i.replicas->dynamic_broker_configs(std::to_string(i.config.node_id))));
}

uint16_t Broker::port(const std::string& listener_name) const {
  return impl_->server ? impl_->server->port(listener_name) : 0;
}

}  // namespace ferry::broker
