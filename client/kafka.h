// librdkafka handles and the Admin API calls Ferry's client-side programs share (the mirror, the
// DR orchestrator): RAII ownership, configuration from a key/value map, and one error type. Works
// against any Kafka-compatible cluster: everything goes through the public protocol.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ferry::client {

/// A failed client operation. `code` is librdkafka's error name (rd_kafka_err2name): broker codes
/// such as "TOPIC_ALREADY_EXISTS", client-side ones with a leading underscore ("_TIMED_OUT",
/// "_TRANSPORT"). `retriable` says whether trying again later may succeed.
class KafkaError : public std::runtime_error {
 public:
  KafkaError(rd_kafka_resp_err_t err, const std::string& what);
  rd_kafka_resp_err_t err() const { return err_; }
  const char* code() const { return rd_kafka_err2name(err_); }
  bool retriable() const;

 private:
  rd_kafka_resp_err_t err_;
};

/// Client properties (librdkafka's names, which are Kafka's: bootstrap.servers,
/// security.protocol, sasl.mechanism, ...).
using Properties = std::map<std::string, std::string>;

/// Sets one property on `conf`. Throws std::invalid_argument "client property 'K' = \"V\": reason"
/// (V is "[redacted]" for a key ending in "password", as common/client_properties' is_secret_property)
/// (librdkafka's reason) when the key is unknown or the value invalid; `conf` is left as it was.
void set_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

/// Builds an rd_kafka_conf_t from `props`, with librdkafka's log routed to spdlog (levels 0-3 as
/// warnings, the rest at debug). Throws std::invalid_argument as set_property does.
rd_kafka_conf_t* make_conf(const Properties& props);

/// Owns an rd_kafka_t. On destruction a producer is first flushed for at most 10 s, then the
/// handle is destroyed with `destroy_flags` (rd_kafka_destroy_flags, e.g.
/// RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE for a consumer that never joined a group).
struct HandleDeleter {
  int destroy_flags = 0;
  void operator()(rd_kafka_t* rk) const;
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

/// Creates a producer or consumer from `conf` (ownership taken, also on failure). Throws
/// KafkaError (_INVALID_ARG with librdkafka's reason) on failure.
Handle make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf, int destroy_flags = 0);

/// Owning pointers for librdkafka's Admin API objects and cluster metadata.
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

/// Owning pointers for a partition list (assign, subscribe, offsets) and a consumed message.
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

/// An empty partition list with room for `size` entries.
PartitionListPtr partition_list(int size);

/// Admin options for `op` with the request timeout, and for the APIs that have one
/// (CreateTopics, DeleteTopics, CreatePartitions) the operation timeout, set to `timeout`.
AdminOptionsPtr admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout);

/// How long await_admin_result waits for a result event beyond the request timeout by default.
inline constexpr std::chrono::milliseconds kAdminGrace{5000};

/// Runs one Admin API call: `start(queue)` issues it (with options from admin_options) and this
/// waits for its result event on that queue for `timeout` plus `grace` (librdkafka enforces the
/// request timeout itself; the grace only guards against an event that never comes, so a caller
/// that must give up on a dead cluster soon passes a shorter one). Throws KafkaError "`what`:
/// reason" (just the reason when `what` is empty) for a request-level error, _TIMED_OUT "no reply
/// from the cluster" when no event came. Per-item errors stay in the event for the caller.
EventPtr await_admin_result(rd_kafka_t* rk, std::chrono::milliseconds timeout, const std::string& what,
                            const std::function<void(rd_kafka_queue_t*)>& start,
                            std::chrono::milliseconds grace = kAdminGrace);

/// Metadata of every topic (`all_topics`), of `only` (a topic handle on `rk`), or of the topics
/// `rk` already knows (neither), within `timeout`. Throws KafkaError "Metadata: reason".
MetadataPtr metadata(rd_kafka_t* rk, bool all_topics, rd_kafka_topic_t* only, std::chrono::milliseconds timeout);

/// One partition's offset range: [low, high) — log start and high watermark.
struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;
};

/// A topic partition as the map key of batched calls.
using TopicPartitionKey = std::pair<std::string, int32_t>;

/// One partition's answer to a batched ListOffsets: the offset, or the partition's own error.
struct PartitionOffset {
  int64_t offset = -1;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

/// ListOffsets timestamps with a special meaning (Kafka protocol, ListOffsets; KIP-79).
inline constexpr int64_t kListOffsetsLatest = -1;    ///< the log end offset (high watermark)
inline constexpr int64_t kListOffsetsEarliest = -2;  ///< the log start offset

/// ListOffsets of `partitions` at `timestamp` (a time in ms, or kListOffsetsLatest /
/// kListOffsetsEarliest), one request per partition leader, the whole call bounded by `timeout`.
/// Every requested partition is in the result, with its offset or its own error:
/// _UNKNOWN_PARTITION when the cluster does not list it, _TRANSPORT when its leader could not be
/// reached, else the broker's code. Throws KafkaError when the request as a whole failed: none of
/// them known (_UNKNOWN_PARTITION), no broker or no leader reachable within `timeout`
/// (_TIMED_OUT), TLS or SASL refused (_SSL, SASL_AUTHENTICATION_FAILED).
///
/// Sent by Ferry's own wire client (WireOffsets, wire_offsets.h) with `rk`'s bootstrap servers,
/// security properties and isolation.level, over connections kept per handle until the handle
/// is destroyed, never by librdkafka: rd_kafka_query_watermark_offsets waits for its replies with
/// no deadline (against a dead leader it never returns), and rd_kafka_offsets_for_times returns at
/// its timeout with requests still out whose late replies then write into its dead stack frame
/// (ferry-mirror's SIGSEGV after a broker of a three-broker region came back).
std::map<TopicPartitionKey, PartitionOffset> list_offsets(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions,
                                                          int64_t timestamp, std::chrono::milliseconds timeout);
/// Sends, through `rk`'s own broker threads, one ListOffsets (latest) per leader of `partitions`
/// and ignores the answer: the request is an operation on each leader's librdkafka thread, which
/// wakes and decides again what to fetch (ferry-mirror's FetchWaker; docs/mirror.md, "Keeping the
/// source consumer fetching"). Nothing else may use it: it is rd_kafka_offsets_for_times, whose
/// late answers after its `timeout` run on a freed stack frame in librdkafka 2.0.2 (list_offsets
/// above); a wake reaches live leaders within milliseconds, so only a wake of a leader that died
/// can meet that, and the waker fires only while the consumer's queue refills.
void wake_leaders(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions, std::chrono::milliseconds timeout);
/// Closes the connections list_offsets keeps for `rk` (HandleDeleter calls it before destroying
/// a handle; a handle destroyed otherwise should be forgotten the same way).
void forget_wire_offsets(const rd_kafka_t* rk);

/// Metadata for one topic on `rk`, so librdkafka's cache knows its partitions and leaders now
/// rather than at its next periodic refresh or topic scan (a grown topic; a topic new to this
/// handle, whose first record would otherwise wait up to 1 s). Errors are ignored: the next call
/// that needs the topic reports them.
void refresh_topic_metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout);


/// One partition's answer to a batched watermarks(): [low, high), or the partition's own error.
struct PartitionWatermarks {
  int64_t low = -1;
  int64_t high = -1;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

/// The watermarks of every partition in `partitions` with two list_offsets calls (earliest, then
/// latest), each bounded by `timeout`: about two round trips to each leader whatever the count,
/// where a loop of watermarks() costs two per partition (20,000 for 10,000 partitions, minutes
/// across a WAN). Partitions librdkafka does not know yet are asked once more after a metadata
/// refresh of their topics. Every requested partition is in the result, with its watermarks or its
/// own error. Throws KafkaError as list_offsets does.
std::map<TopicPartitionKey, PartitionWatermarks> watermarks(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions,
                                                            std::chrono::milliseconds timeout);

/// One partition's watermarks: the batched watermarks() above with one key (so a partition
/// librdkafka does not know yet is looked up once more after a metadata refresh). Throws KafkaError
/// with the partition's own error, or list_offsets' error for the whole request.
Watermarks watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition, std::chrono::milliseconds timeout);

/// Per-topic facts from Metadata.
struct TopicInfo {
  std::string name;
  int32_t partitions = 0;
  bool is_internal = false;
};

/// A consumer group's committed offset of one partition.
struct GroupOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::string metadata;
};

/// A group as ListGroups reports it (KIP-518 state; "" when the broker does not say).
struct GroupListing {
  std::string group_id;
  std::string state;
  bool simple = false;  ///< no protocol type: offsets committed without membership
};

/// One resource's answer to DescribeConfigs (Kafka protocol, DescribeConfigs): its entries with a
/// value (name -> value), or its own error (`err` set, `error` the broker's message or
/// librdkafka's text for the code, `values` empty).
struct ResourceConfigs {
  std::map<std::string, std::string> values;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string error;
};

/// One Kafka ACL binding (KIP-11, KIP-290) with Kafka's wire codes, which librdkafka's enums share:
/// resource type TOPIC 2, GROUP 3, CLUSTER 4 (RD_KAFKA_RESOURCE_BROKER), TRANSACTIONAL_ID 5; pattern
/// type LITERAL 3, PREFIXED 4 (in filters also ANY 1, MATCH 2); operation ALL 2 … IDEMPOTENT_WRITE
/// 12; permission DENY 2, ALLOW 3. In a filter an empty name, principal or host means any.
struct AclBinding {
  int resource_type = 2;
  std::string resource_name;
  int pattern_type = 3;
  std::string principal;
  std::string host = "*";
  int operation = 2;
  int permission = 3;
  bool operator==(const AclBinding&) const = default;
  auto operator<=>(const AclBinding&) const = default;
};

/// DescribeAcls, CreateAcls and DeleteAcls on any handle (Admin's methods and ferry-admin use
/// them), each bounded by `timeout` plus `grace` (await_admin_result). Semantics as the Admin
/// methods below. Throw KafkaError. Defined in kafka_acls.cc.
std::vector<AclBinding> describe_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                      std::chrono::milliseconds grace, const AclBinding& filter);
void create_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout, std::chrono::milliseconds grace,
                 const std::vector<AclBinding>& bindings);
std::vector<AclBinding> delete_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds grace, const AclBinding& filter);

/// Admin and metadata requests against one cluster through a producer-type handle, with every
/// call bounded by `timeout` (Admin API calls: plus `grace`, see await_admin_result). Not
/// thread-safe across concurrent calls on one instance only in the sense that calls are
/// sequential; librdkafka itself is thread-safe.
class Admin {
 public:
  /// Throws std::invalid_argument for bad properties (see make_conf), KafkaError otherwise.
  explicit Admin(const Properties& props, std::chrono::milliseconds timeout = std::chrono::seconds(15),
                 std::chrono::milliseconds grace = kAdminGrace);
  rd_kafka_t* handle() const { return rk_.get(); }
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Every topic with its partition count (Metadata for all topics).
  std::vector<TopicInfo> topics();
  /// client::watermarks on this handle, bounded by the timeout.
  Watermarks watermarks(const std::string& topic, int32_t partition);
  /// client::watermarks of many partitions on this handle (two round trips per leader), each call
  /// bounded by the timeout.
  std::map<TopicPartitionKey, PartitionWatermarks> watermarks(const std::vector<TopicPartitionKey>& partitions);
  /// CreateTopics; TOPIC_ALREADY_EXISTS is not an error (returns false). Throws KafkaError.
  bool create_topic(const std::string& name, int32_t partitions, int replication_factor,
                    const std::map<std::string, std::string>& configs);
  /// CreatePartitions to `total`. Throws KafkaError.
  void create_partitions(const std::string& name, int32_t total);
  /// DescribeConfigs of the resources `names` of `type` (RD_KAFKA_RESOURCE_TOPIC: topic names;
  /// RD_KAFKA_RESOURCE_BROKER: broker ids as decimal strings) in one request: per resource every
  /// entry with a value, or with `overrides_only` only those set on a topic itself (source
  /// DYNAMIC_TOPIC_CONFIG), or the resource's own error. Throws KafkaError only when the request
  /// as a whole failed or went unanswered.
  std::map<std::string, ResourceConfigs> describe_configs(rd_kafka_ResourceType_t type, const std::vector<std::string>& names,
                                                          bool overrides_only = false);
  /// DescribeConfigs of `names` in one request: per topic, every entry with a value (the topic's
  /// effective configuration, defaults included), or with `overrides_only` only the entries set on
  /// the topic itself (source DYNAMIC_TOPIC_CONFIG). Throws KafkaError, naming the topic, when the
  /// request or any topic's answer failed.
  std::map<std::string, std::map<std::string, std::string>> describe_topic_configs(const std::vector<std::string>& names,
                                                                                   bool overrides_only);
  /// DescribeConfigs of a topic: only entries set on the topic itself (source DYNAMIC_TOPIC_CONFIG),
  /// which are what a mirror copies. Throws KafkaError.
  std::map<std::string, std::string> topic_overrides(const std::string& name);
  /// IncrementalAlterConfigs is not in librdkafka 2.0; AlterConfigs replaces the topic's set.
  void alter_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs);
  /// DescribeConfigs of broker `node_id`: every entry that has a value (the value in effect on
  /// that broker). Throws KafkaError, also for the broker resource's own error.
  std::map<std::string, std::string> describe_broker_configs(int32_t node_id);
  /// ListGroups (every state). Throws KafkaError.
  std::vector<GroupListing> list_groups();
  /// OffsetFetch of every partition the group has committed. Throws KafkaError.
  std::vector<GroupOffset> group_offsets(const std::string& group);
  /// OffsetCommit as an outsider (generation -1): only accepted for an Empty or absent group
  /// (the broker refuses active groups). Throws KafkaError with the first per-partition error.
  void alter_group_offsets(const std::string& group, const std::vector<GroupOffset>& offsets);
  /// DescribeAcls with `filter` (empty strings: any; pattern type ANY 1 / MATCH 2 allowed; an
  /// operation or permission of 1 = ANY). Throws KafkaError (SECURITY_DISABLED from a cluster
  /// without an ACL authorizer). Defined in kafka_acls.cc.
  std::vector<AclBinding> describe_acls(const AclBinding& filter);
  /// CreateAcls; a binding already present is kept once (Kafka's rule). Throws KafkaError with the
  /// first binding's error.
  void create_acls(const std::vector<AclBinding>& bindings);
  /// DeleteAcls of every binding matching `filter`; returns what was deleted. Throws KafkaError.
  std::vector<AclBinding> delete_acls(const AclBinding& filter);

 private:
  Handle rk_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds grace_;
};

}  // namespace ferry::client
