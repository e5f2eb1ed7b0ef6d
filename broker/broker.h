// The assembled broker: config → metadata store → replica manager → handlers → socket server,
// plus the metrics endpoint. Owns startup order and the graceful-shutdown order (stop accepting,
// drain in-flight requests, flush logs, write checkpoints).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "broker/config/broker_config.h"
#include "common/etcd_client.h"

namespace ferry::broker {

class MetadataStore;

class Broker {
 public:
  explicit Broker(BrokerConfig config);
  /// Where the metadata store of a broker with `config` lives: ferry-metadata.toml in the first of
  /// log.dirs (topics, dynamic configs, SCRAM credentials).
  static std::filesystem::path metadata_path(const BrokerConfig& config);
  /// The metadata store `config` names (metadata.store): the file store at metadata_path(), or an
  /// EtcdMetadataStore on etcd.endpoints under etcd.prefix. Throws etcd::EtcdError naming the
  /// endpoints when etcd cannot be read, std::runtime_error for a corrupt file.
  static std::unique_ptr<MetadataStore> open_metadata_store(const BrokerConfig& config);
  /// How the broker reaches etcd (etcd.endpoints); only meaningful when metadata.store = etcd.
  static etcd::ClientOptions etcd_options(const BrokerConfig& config);
  ~Broker();
  /// Opens logs (recovering them), binds listeners, starts serving. Throws on failure (bind
  /// failure, unusable log dir, corrupt metadata) with a message naming what failed.
  void start();
  /// Graceful shutdown; idempotent. In-flight requests get up to `grace` to finish.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Reloads the certificates and keys of every SSL/SASL_SSL listener from their files (SIGHUP):
  /// new connections get them, open ones keep theirs. Returns the number of listeners reloaded.
  /// Throws config::ConfigError naming the key and file when one cannot be loaded; then nothing
  /// changes.
  size_t reload_tls();
  /// Bound port of a listener (0 if unknown).
  uint16_t port(const std::string& listener_name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::broker
