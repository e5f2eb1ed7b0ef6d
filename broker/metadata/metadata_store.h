// Durable cluster metadata: topic definitions (partition count, replication factor, topic-level
// config overrides) and the cluster identity. Behind an interface so the single-node file store
// here and the etcd-backed store of multi-node clusters are interchangeable.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "security/scram.h"
#include "security/acl.h"

namespace ferry::broker {

/// A replica move in progress on one partition (KIP-455). While it runs, the partition's
/// `TopicMetadata::assignment` entry lists the target replicas first, then the leaving ones;
/// `adding` are the target replicas that were not replicas before, `removing` the replicas that
/// are not in the target. Both empty never occurs (no entry is kept then).
struct PartitionReassignment {
  std::vector<int32_t> adding;
  std::vector<int32_t> removing;
  bool operator==(const PartitionReassignment&) const = default;
};

/// One topic as the metadata store keeps it. `configs` holds only explicit overrides
/// (topic-level Kafka key → value text, as DescribeConfigs shows them).
struct TopicMetadata {
  std::string name;
  std::string topic_id;  // 22-char URL-safe base64 UUID, as Kafka prints topic ids
  int32_t partitions = 0;
  int16_t replication_factor = 1;
  std::map<std::string, std::string> configs;
  /// Replica broker ids per partition (size `partitions`, [0] the preferred leader), as assigned
  /// at creation (KIP-4 CreateTopics) or by the last reassignment: `replication_factor` long, plus
  /// the leaving replicas while a reassignment runs. Empty in the single-node file store: every
  /// partition lives on the one broker.
  std::vector<std::vector<int32_t>> assignment;
  /// Reassignments in progress by partition index (etcd store only; empty elsewhere).
  std::map<int32_t, PartitionReassignment> reassignments;
  /// The etcd mod_revision of the topic's key when it came from EtcdMetadataStore, the token of
  /// its compare-and-set writes (EtcdMetadataStore::put_topic_if); 0 otherwise. Not content: ==
  /// ignores it, so a topic read back equals the one written.
  int64_t mod_revision = 0;
  bool operator==(const TopicMetadata& o) const {
    return name == o.name && topic_id == o.topic_id && partitions == o.partitions &&
           replication_factor == o.replication_factor && configs == o.configs && assignment == o.assignment &&
           reassignments == o.reassignments;
  }
};

/// Thread-safe persistent store of topic metadata. Every mutation is durable when it returns.
/// Errors (I/O, corrupt file) throw std::runtime_error naming the file and the problem.
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;
  /// Cluster id, generated and persisted on first use (22-char base64 UUID, like Kafka's).
  virtual std::string cluster_id() = 0;
  virtual std::vector<TopicMetadata> topics() = 0;
  virtual std::optional<TopicMetadata> topic(const std::string& name) = 0;
  /// Inserts or replaces a topic.
  virtual void put_topic(const TopicMetadata& t) = 0;
  virtual void delete_topic(const std::string& name) = 0;
  /// Reserves `count` producer ids durably and returns the first; ids are never handed out twice,
  /// across restarts too (KIP-98: a reused id could make a new producer look like a duplicate).
  virtual int64_t reserve_producer_ids(int64_t count) = 0;
  /// Dynamic broker configs (KIP-226) by entity: "" is the cluster-wide default, "<node id>" one
  /// broker. Key -> value text, already validated by the caller.
  virtual std::map<std::string, std::map<std::string, std::string>> broker_configs() = 0;
  /// Replaces the dynamic configs of `entity`; an empty map removes the entity.
  virtual void put_broker_configs(const std::string& entity, const std::map<std::string, std::string>& configs) = 0;

  // SCRAM credentials (KIP-554): per user and mechanism the salt, StoredKey, ServerKey and
  // iteration count of RFC 5802 — never a password.
  /// Every stored credential, by user name.
  virtual std::map<std::string, std::vector<security::ScramCredential>> scram_credentials() = 0;
  /// One user's credential for one mechanism; nullopt when there is none.
  virtual std::optional<security::ScramCredential> scram_credential(const std::string& user,
                                                                    security::ScramMechanism mechanism) = 0;
  /// Stores `upsertions` (replacing the user's credential of the same mechanism) and removes
  /// `deletions`, durably and in one write (all or nothing).
  virtual void alter_scram_credentials(
      const std::vector<std::pair<std::string, security::ScramCredential>>& upsertions,
      const std::vector<std::pair<std::string, security::ScramMechanism>>& deletions) = 0;

  // ACLs
  /// Every stored ACL binding (Kafka ACLs, KIP-11 / KIP-290), in binding order. Bindings are
  /// validated by the caller (security::invalid_binding_reason) before they are stored.
  virtual std::vector<security::AclBinding> acls() = 0;
  /// Adds bindings durably; a binding already stored is kept once (as Kafka's AclControlManager).
  virtual void add_acls(const std::vector<security::AclBinding>& acls) = 0;
  /// Removes these bindings durably; absent ones are ignored.
  virtual void delete_acls(const std::vector<security::AclBinding>& acls) = 0;
};

/// The single-node store: one TOML file rewritten atomically (temp file, fsync, rename, fsync of
/// the directory) on every change, so a crash leaves either the old or the new content. The file
/// is mode 0600: it holds SCRAM StoredKeys and ServerKeys.
class FileMetadataStore final : public MetadataStore {
 public:
  /// Loads `file` if it exists. Throws std::runtime_error if it exists but cannot be parsed.
  explicit FileMetadataStore(std::filesystem::path file);
  std::string cluster_id() override;
  std::vector<TopicMetadata> topics() override;
  std::optional<TopicMetadata> topic(const std::string& name) override;
  void put_topic(const TopicMetadata& t) override;
  void delete_topic(const std::string& name) override;
  int64_t reserve_producer_ids(int64_t count) override;
  std::map<std::string, std::map<std::string, std::string>> broker_configs() override;
  void put_broker_configs(const std::string& entity, const std::map<std::string, std::string>& configs) override;
  std::map<std::string, std::vector<security::ScramCredential>> scram_credentials() override;
  std::optional<security::ScramCredential> scram_credential(const std::string& user,
                                                            security::ScramMechanism mechanism) override;
  void alter_scram_credentials(const std::vector<std::pair<std::string, security::ScramCredential>>& upsertions,
                               const std::vector<std::pair<std::string, security::ScramMechanism>>& deletions) override;

 private:
  void save_locked();
  std::filesystem::path file_;
  std::mutex mu_;
  std::string cluster_id_;
  int64_t next_producer_id_ = 0;  // first id not yet reserved
  std::map<std::string, TopicMetadata> topics_;
  std::map<std::string, std::map<std::string, std::string>> broker_configs_;
  std::map<std::string, std::map<security::ScramMechanism, security::ScramCredential>> scram_;  // by user

  // ACLs
 public:
  std::vector<security::AclBinding> acls() override;
  void add_acls(const std::vector<security::AclBinding>& acls) override;
  void delete_acls(const std::vector<security::AclBinding>& acls) override;

 private:
  std::set<security::AclBinding> acls_;  // loaded and saved with the rest of the file
};

/// A random UUID rendered as Kafka renders ids: 22 characters of URL-safe base64, no padding.
std::string random_kafka_uuid();

/// The 16 bytes of a UUID rendered as random_kafka_uuid() renders it (22 characters of URL-safe
/// base64, RFC 4648 §5, no padding), most significant first as Kafka's Uuid goes on the wire.
/// nullopt for anything else, including the empty id of a topic created before ids existed.
std::optional<std::array<uint8_t, 16>> parse_kafka_uuid(std::string_view text);

}  // namespace ferry::broker
