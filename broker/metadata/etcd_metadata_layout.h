// The key layout and value encoding of EtcdMetadataStore (its header has the table), and the
// in-memory copy of the keys that the store's watch keeps current. Pure functions and data: no
// etcd I/O here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "broker/metadata/broker_registration.h"
#include "broker/metadata/metadata_store.h"
#include "broker/replication/partition_state.h"
#include "common/etcd_client.h"

namespace ferry::broker {

/// What kind of metadata a watched change touched (EtcdMetadataStore::Change).
/// kBrokers: a registration (`<p>/brokers/ids/<id>`) came or went; kPartitions: a partition's
/// leadership (`<p>/partitions/<topic>/<index>`); kController: `<p>/controller` changed hands.
enum class EtcdMetadataChange { kTopics, kBrokerConfigs, kScram, kAcls, kBrokers, kPartitions, kController };

namespace etcd_layout {

/// The key segment of the cluster-wide default config entity "" (Kafka's own notation for it:
/// kafka-configs --entity-default, DescribeConfigs of the empty broker name).
inline constexpr const char* kDefaultEntity = "<default>";

/// `<p>/topics/<name>`: {"topic_id","partitions","replication_factor","configs"}. Throws
/// std::invalid_argument when a string is not UTF-8 (JSON cannot carry it).
std::string encode_topic(const TopicMetadata& t);
/// `<p>/configs/brokers/<entity>`: {key: value}. std::invalid_argument as above.
std::string encode_broker_configs(const std::map<std::string, std::string>& configs);
/// `<p>/scram/<user>/<mechanism>`: {"iterations","salt","stored_key","server_key"}, byte strings
/// in standard base64 (RFC 4648 §4), the field names of FileMetadataStore.
std::string encode_scram(const security::ScramCredential& c);
/// `<p>/acls/<acl_hash>`: {"resource_type","resource_name","pattern_type","principal","host",
/// "operation","permission"}, codes as Kafka's wire codes (KIP-11, KIP-290). std::invalid_argument
/// as above.
std::string encode_acl(const security::AclBinding& b);
/// Lower-case hex SHA-256 (FIPS 180-4) of the binding's canonical text: the JSON array
/// [resource_type, resource_name, pattern_type, principal, host, operation, permission] as
/// nlohmann::json::dump() writes it (no spaces, codes as numbers). Equal bindings, equal keys: a
/// binding is stored once however often it is added.
std::string acl_hash(const security::AclBinding& b);

/// `<p>/producer_ids/next`: decimal digits only (no sign, no spaces) of a value in [0, INT64_MAX];
/// nullopt for anything else.
std::optional<int64_t> parse_decimal(std::string_view text);

}  // namespace etcd_layout

/// The decoded content of every key of the layout under one prefix, as of the last event applied.
/// Not thread-safe (EtcdMetadataStore guards it with its mutex).
struct EtcdMetadataCopy {
  std::string cluster_id;  // "" while absent or malformed
  std::map<std::string, TopicMetadata> topics;
  std::map<std::string, std::map<std::string, std::string>> configs;  // entity ("" = default) → configs
  std::map<std::string, std::map<security::ScramMechanism, security::ScramCredential>> scram;  // by user
  std::map<std::string, security::AclBinding> acls;  // by acl_hash
  std::map<int32_t, BrokerInfo> brokers;             // live registrations by node id
  std::map<std::pair<std::string, int32_t>, replication::PartitionState> partitions;  // by (topic, index)
  int32_t controller_id = -1;    // the elected controller's node id, -1 when none
  int64_t controller_epoch = 0;  // create_revision of `<p>/controller` (ControllerElection's epoch), 0 when none
  std::map<std::string, int64_t> create_revisions;   // every key of the layout present → its create_revision
  std::map<std::string, std::string> malformed;      // key → what is wrong with its value

  /// Applies a put of `kv` (`put`) or a delete of `kv.key`, where `dir` is the prefix + "/". A
  /// malformed value is logged (spdlog error naming the key and the problem), recorded in
  /// `malformed` and treated as absent; a key outside the layout is ignored. Returns the kind of
  /// metadata the key belongs to (nullopt for cluster id, producer ids and unknown keys). Never
  /// throws for anything in `kv`.
  std::optional<EtcdMetadataChange> apply(const std::string& dir, const etcd::KeyValue& kv, bool put);
};

}  // namespace ferry::broker
