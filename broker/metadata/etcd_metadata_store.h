// The cluster metadata of a region of several brokers, kept in etcd (issue 17): the same
// MetadataStore as the single-node file store, so the broker does not care which one it runs on.
// Every broker of the region opens one EtcdMetadataStore on the same etcd cluster and prefix; each
// reads from an in-memory copy that an etcd watch keeps current, and writes go straight to etcd.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/metadata/etcd_metadata_layout.h"
#include "broker/metadata/metadata_store.h"
#include "common/etcd_client.h"

namespace ferry::broker {

/// Bounds of the waits of an EtcdMetadataStore. The defaults are what the broker uses; tests
/// shorten them.
struct EtcdMetadataStoreTimeouts {
  /// How long a write keeps retrying after a retriable etcd error (EtcdError::retriable(): no
  /// endpoint reachable, no leader, request timed out) before the last error is thrown. Every
  /// write of the store is idempotent or a compare-and-set, so a retry after a write that timed
  /// out but was applied is safe. 0: one attempt (the client still tries each endpoint once).
  std::chrono::milliseconds retry_window{10000};
  /// How long a write waits for its own revision to come back through the watch into the
  /// in-memory copy (read-your-writes) before it throws std::runtime_error.
  std::chrono::milliseconds watch_wait{10000};
};

/// MetadataStore on etcd v3 (3.4+), under one key prefix `<p>` (e.g. "/ferry"):
///
/// | key                                  | value                                                      |
/// |--------------------------------------|------------------------------------------------------------|
/// | `<p>/cluster_id`                     | the cluster id as plain text (not JSON): 22 chars of       |
/// |                                      |   URL-safe base64 (random_kafka_uuid), created once        |
/// | `<p>/topics/<name>`                  | JSON {"topic_id": str, "partitions": int >= 1,             |
/// |                                      |   "replication_factor": int 1..32767, "configs": {k: str}, |
/// |                                      |   "assignment": [[broker id]] (regions on etcd),           |
/// |                                      |   "reassignments": {"<p>": {"adding", "removing": [id]}}}  |
/// | `<p>/producer_ids/next`              | decimal text: the first producer id not yet reserved       |
/// | `<p>/configs/brokers/<entity>`       | JSON {config key: value text}; entity "<default>" is the   |
/// |                                      |   cluster-wide default "" (Kafka's notation), else node id |
/// | `<p>/scram/<user>/<mechanism name>`  | JSON {"iterations": int >= 1, "salt", "stored_key",        |
/// |                                      |   "server_key": standard base64 of the raw bytes}          |
/// | `<p>/acls/<sha256 hex>`              | JSON {"resource_type", "pattern_type", "operation",        |
/// |                                      |   "permission": Kafka wire codes (int8), "resource_name",  |
/// |                                      |   "principal", "host": str}; the key is the lower-case hex |
/// |                                      |   SHA-256 of the binding's canonical text (acl_key)        |
///
/// Field meanings are those of FileMetadataStore (topic_id as Kafka prints ids; SCRAM per RFC 5802
/// and KIP-554, mechanism names "SCRAM-SHA-256" / "SCRAM-SHA-512"; ACLs per KIP-11 / KIP-290).
/// Unknown fields in a value are ignored; keys under `<p>` outside this layout (e.g.
/// `<p>/brokers/...`, the broker registrations) are ignored silently.
///
/// Reads (topics, broker_configs, scram_credentials, acls, ...) come from an in-memory copy of
/// every key under `<p>/` (the slash included, so "/ferry" never sees "/ferry2/..."): read with
/// one Range at construction, then kept current by an etcd Watch from that read's revision + 1.
/// When the watch's revision has been compacted (or a write's revision does not come back within
/// `watch_wait`) it re-reads everything and watches again. Reads never touch the network and never throw. A write returns
/// once the watch has brought its revision into the copy, so the writer's next read sees it;
/// another store sees it as soon as its own watch delivers it (milliseconds on a LAN).
///
/// A key whose value is not what the layout says (not JSON, wrong types, a hash that does not
/// match its binding, an unknown SCRAM mechanism, ...) is logged as an error naming the key and
/// the problem, treated as absent, and listed by malformed_keys() until a valid value replaces it
/// or it is deleted.
///
/// Errors: the constructor throws what the first Range throws (etcd::EtcdError, whose message
/// names the endpoints tried, when etcd is unreachable). A write throws etcd::EtcdError when etcd
/// refused it or kept failing retriably for `retry_window` (the message names the endpoint and
/// the call), std::invalid_argument for arguments it could not store (more than kMaxTxnOps keys in
/// one transaction, an empty name, ...) before writing anything, and std::runtime_error when its
/// revision did not reach the in-memory copy within `watch_wait` (the write did happen).
/// Thread-safe.
class EtcdMetadataStore final : public MetadataStore {
 public:
  /// What kind of metadata a batch of watched changes touched (set_change_listener).
  using Change = EtcdMetadataChange;  // kTopics, kBrokerConfigs, kScram, kAcls

  /// etcd's bound on the operations of one transaction (--max-txn-ops, default 128; rpc.proto
  /// TxnRequest). alter_scram_credentials, add_acls and delete_acls write in one transaction, so
  /// they accept at most this many distinct keys per call.
  static constexpr std::size_t kMaxTxnOps = 128;

  /// Connects to etcd at `options.endpoints`, reads everything under `prefix` + "/" and starts
  /// watching it. `prefix` must start with "/" and not end with "/" (e.g. "/ferry"); anything
  /// else throws std::invalid_argument naming `etcd.prefix`, the value and what is expected.
  /// Throws etcd::EtcdError when the first read fails (etcd unreachable: no retry here).
  EtcdMetadataStore(etcd::ClientOptions options, std::string prefix, EtcdMetadataStoreTimeouts timeouts = {});
  /// Stops the watch; no change listener runs after it returns.
  ~EtcdMetadataStore() override;
  EtcdMetadataStore(const EtcdMetadataStore&) = delete;
  EtcdMetadataStore& operator=(const EtcdMetadataStore&) = delete;

  /// The cluster id; the first store to ask creates it with a Txn (create_revision == 0 → put a
  /// random_kafka_uuid()), so stores racing on an empty cluster all get the winner's id. Throws
  /// std::runtime_error if `<p>/cluster_id` holds something that is not a Kafka UUID.
  std::string cluster_id() override;
  /// Every topic, by name, from the in-memory copy (no network, no throw).
  std::vector<TopicMetadata> topics() override;
  /// One topic from the copy; nullopt when absent or its value is malformed.
  std::optional<TopicMetadata> topic(const std::string& name) override;
  /// Inserts or replaces `<p>/topics/<t.name>`. std::invalid_argument for an empty name,
  /// partitions < 1 or replication_factor < 1.
  void put_topic(const TopicMetadata& t) override;
  /// Deletes the topic; an absent one is not an error.
  void delete_topic(const std::string& name) override;
  /// Reserves ids [first, first + count) with a compare-and-set on `<p>/producer_ids/next`
  /// (create_revision == 0 when absent, else mod_revision == the one read), retried when another
  /// store won the race, so no id is handed out twice across stores and processes. A write that
  /// timed out and is retried may have applied: then its block is skipped, never reused.
  /// std::invalid_argument for count < 1; etcd::EtcdError after `retry_window` of retriable
  /// errors; std::runtime_error if the CAS kept losing for `retry_window` or the key holds
  /// something other than a non-negative decimal.
  int64_t reserve_producer_ids(int64_t count) override;
  /// Dynamic broker configs by entity ("" = cluster-wide default, KIP-226), from the copy.
  std::map<std::string, std::map<std::string, std::string>> broker_configs() override;
  /// Replaces `<p>/configs/brokers/<entity>` ("" → "<default>"); an empty map deletes it.
  /// std::invalid_argument for the entity "<default>" itself (it would collide with "").
  void put_broker_configs(const std::string& entity, const std::map<std::string, std::string>& configs) override;
  /// Every SCRAM credential by user, mechanisms in enum order (KIP-554), from the copy.
  std::map<std::string, std::vector<security::ScramCredential>> scram_credentials() override;
  /// One user's credential for one mechanism from the copy; nullopt when absent or malformed.
  std::optional<security::ScramCredential> scram_credential(const std::string& user,
                                                            security::ScramMechanism mechanism) override;
  /// One Txn: deletions first, then upsertions (so a pair in both ends up stored, as in the file
  /// store). std::invalid_argument, with nothing written, for more than kMaxTxnOps distinct
  /// (user, mechanism) pairs, an empty user name or iterations < 1.
  void alter_scram_credentials(const std::vector<std::pair<std::string, security::ScramCredential>>& upsertions,
                               const std::vector<std::pair<std::string, security::ScramMechanism>>& deletions) override;
  /// Every ACL binding (KIP-11, KIP-290) from the copy, in binding order (AclBinding::operator<).
  std::vector<security::AclBinding> acls() override;
  /// One Txn putting every distinct binding (a binding already stored is rewritten unchanged and
  /// so kept once). std::invalid_argument, nothing written, for more than kMaxTxnOps distinct ones.
  void add_acls(const std::vector<security::AclBinding>& acls) override;
  /// One Txn deleting these bindings; absent ones are ignored. std::invalid_argument, nothing
  /// written, for more than kMaxTxnOps distinct ones.
  void delete_acls(const std::vector<security::AclBinding>& acls) override;

  /// `listener` is called on the watch's thread after each batch of watched changes, once per
  /// kind of metadata the batch touched (in enum order; a malformed value counts, as it removes
  /// what the key held), for this store's own writes too; and on the store's re-read thread after
  /// a re-read (compaction) for each kind that differs. When it runs, reads of this store already
  /// see the batch. It must not block for long or write to this store (a write waits for the
  /// watch the listener is holding up, and fails after `watch_wait`), and should not throw
  /// (exceptions are logged and dropped), nor call set_change_listener (it would wait for
  /// itself). Replaces the previous listener and returns only once no call of the old one is
  /// running, so what the old one uses may go right after. nullptr removes it.
  void set_change_listener(std::function<void(Change)> listener);

  /// Reads everything under the prefix again and returns once the copy holds that read (the
  /// watch restarts after it). For a broker that did not run for a while (SIGSTOP, a stall longer
  /// than its session): its watch would bring what it missed only after it had already answered
  /// from the stale copy. Throws std::runtime_error when no re-read succeeded within `timeout`.
  void refresh(std::chrono::milliseconds timeout);

  /// Full etcd keys under the prefix whose value is malformed right now, sorted.
  std::vector<std::string> malformed_keys();

  // The region's cluster state (issue 17): registrations, partition leadership, the controller.
  // Reads come from the copy, like the rest (no network, no throw).
  /// Live broker registrations (`<p>/brokers/ids/<id>`, BrokerRegistration) by node id.
  std::map<int32_t, BrokerInfo> brokers();
  /// Every partition's leadership by (topic, index), with its partition epoch and mod_revision.
  std::map<std::pair<std::string, int32_t>, replication::PartitionState> partition_states();
  /// One partition's leadership; nullopt when it has none yet (or its value is malformed).
  std::optional<replication::PartitionState> partition_state(const std::string& topic, int32_t index);
  /// The elected controller's (node id, epoch), from `<p>/controller` (ControllerElection); (-1, 0)
  /// when there is none.
  std::pair<int32_t, int64_t> controller();
  /// Writes partition states by compare-and-set, in transactions of at most kStateWritesPerTxn:
  /// each write requires its key's mod_revision to equal `expected_mod_revision` (0: absent) and,
  /// when `controller_epoch` > 0, `<p>/controller`'s create_revision to equal it (a deposed
  /// controller's writes all fail). A transaction whose compares fail writes nothing and is not
  /// retried: the caller sees the state that beat it in the copy and decides again. Returns the
  /// number of writes applied; they are in the copy when it returns. Throws like put_topic.
  size_t write_partition_states(const std::vector<replication::PartitionWrite>& writes, int64_t controller_epoch);
  /// Writes topic `t` and `states` in one transaction, if `<p>/topics/<t.name>`'s mod_revision is
  /// still `t.mod_revision` (the copy's, as topic() returned it), each state's key matches its
  /// expected_mod_revision and, when `controller_epoch` > 0, the controller is unchanged (as in
  /// write_partition_states). For reassignments (KIP-455), whose request and completion both
  /// change a topic's replica lists and its partitions' leadership together. Returns whether it
  /// applied (then the copy has it); false when another writer came first, nothing written.
  /// std::invalid_argument as put_topic, and for more than kStateWritesPerTxn states.
  bool put_topic_if(const TopicMetadata& t, const std::vector<replication::PartitionWrite>& states = {},
                    int64_t controller_epoch = 0);
  /// Partition-state writes per transaction: two compares per write plus the controller's stay
  /// within etcd's 128 (--max-txn-ops counts compares and operations separately).
  static constexpr size_t kStateWritesPerTxn = 100;

  /// The keys of the layout above, for tools and tests that write etcd directly.
  std::string cluster_id_key() const { return dir_ + "cluster_id"; }
  std::string producer_ids_key() const { return dir_ + "producer_ids/next"; }
  std::string topic_key(const std::string& name) const { return dir_ + "topics/" + name; }
  std::string partition_key(const std::string& topic, int32_t index) const {
    return dir_ + "partitions/" + topic + "/" + std::to_string(index);
  }
  std::string controller_key() const { return dir_ + "controller"; }
  /// "" → `<p>/configs/brokers/<default>`.
  std::string broker_config_key(const std::string& entity) const;
  std::string scram_key(const std::string& user, security::ScramMechanism mechanism) const;
  /// `<p>/acls/` + lower-case hex SHA-256 of the binding's canonical text: the JSON array
  /// [resource_type, resource_name, pattern_type, principal, host, operation, permission] as
  /// nlohmann::json::dump() writes it (no spaces; codes as numbers).
  std::string acl_key(const security::AclBinding& binding) const;

 private:
  void load(const etcd::RangeResult& range, std::vector<Change>* changed);
  void start_watch(int64_t from_revision);
  void on_watch_events(const std::vector<etcd::WatchEvent>& events);
  void on_watch_error(const etcd::EtcdError& error);
  void resync_loop();
  void notify(const std::vector<Change>& changed);
  /// Waits until the copy has applied revision `revision` (or, when `absent_keys` is given, until
  /// each of them is absent from the copy or was created after `revision`).
  void wait_applied(int64_t revision, const std::vector<std::string>* absent_keys = nullptr);
  /// Deletes `keys` (distinct, at most kMaxTxnOps) in one Txn, then waits as above.
  void delete_keys(const std::vector<std::string>& keys);

  const etcd::ClientOptions options_;
  const std::string prefix_;
  const std::string dir_;  // prefix_ + "/"
  const EtcdMetadataStoreTimeouts timeouts_;
  std::unique_ptr<etcd::Client> client_;

  std::mutex mu_;
  std::condition_variable applied_cv_;  // applied_revision_ advanced or the copy changed
  std::condition_variable resync_cv_;   // resync_ or stopping_ set
  std::unique_ptr<EtcdMetadataCopy> state_;  // the in-memory copy, under mu_
  int64_t applied_revision_ = 0;        // the copy is current up to this revision, under mu_
  bool resync_ = false;                 // the watch needs a re-read, under mu_
  uint64_t refresh_asked_ = 0;          // refresh() calls so far, under mu_
  uint64_t refresh_done_ = 0;           // the refresh_asked_ a successful re-read started after, under mu_
  bool stopping_ = false;               // under mu_
  bool watch_failing_ = false;          // a watch error was logged and no event came since, under mu_

  std::mutex listener_mu_;
  std::shared_ptr<std::function<void(Change)>> listener_;  // under listener_mu_

  std::unique_ptr<etcd::Watch> watch_;  // the constructor's, then the resync thread's
  std::thread resync_thread_;
};

}  // namespace ferry::broker
