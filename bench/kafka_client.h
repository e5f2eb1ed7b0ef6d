#pragma once

#include <librdkafka/rdkafka.h>

#include "bench/client_properties.h"
#include "client/kafka.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::bench {

/// A librdkafka configuration under construction (properties set through client::set_property).
/// Every handle gets client.id=ferry-bench and an error callback that reports client-level errors
/// (broker down, request timeouts) on stderr, since those explain bad numbers; librdkafka's own
/// log stays on stderr too, never on stdout where the JSON report goes. Keys are librdkafka's
/// (CONFIGURATION.md of librdkafka 2.0.2). `extra` (the run's `-X` properties, e.g. security
/// settings) is applied in the constructor, so the settings a bench case makes afterwards win
/// on a conflict and `-X` cannot change what a case measures.
class KafkaConfig {
 public:
  explicit KafkaConfig(const std::string& bootstrap, const ClientProperties& extra = {});
  KafkaConfig(const KafkaConfig&) = delete;
  KafkaConfig& operator=(const KafkaConfig&) = delete;
  ~KafkaConfig();

  /// Sets one property. Throws BenchError with librdkafka's reason when the key is unknown
  /// or the value out of range.
  KafkaConfig& set(const std::string& key, const std::string& value);

  /// The properties passed to set(), in order, for the report; values of secret keys
  /// (is_secret_property()) read "(hidden)".
  const std::vector<std::pair<std::string, std::string>>& settings() const { return settings_; }

  rd_kafka_conf_t* raw() { return conf_; }
  /// Hands ownership of the underlying conf to the caller (rd_kafka_new takes it).
  rd_kafka_conf_t* release() { return std::exchange(conf_, nullptr); }

 private:
  rd_kafka_conf_t* conf_;
  std::vector<std::pair<std::string, std::string>> settings_;
};

/// A client handle (client::Handle: producers flush for at most 10 s on destruction). Consumers
/// skip rd_kafka_consumer_close() on destruction: assign()ed consumers never join a group, so
/// there is nothing to leave, and a broker without group APIs must not make shutdown wait. Group
/// members call rd_kafka_consumer_close() themselves first.
using KafkaHandle = client::Handle;

struct TopicDestroy {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDestroy>;

/// Creates a producer from `conf` (consumed on success). Throws BenchError.
KafkaHandle make_producer(KafkaConfig& conf);

/// Creates a consumer from `conf` (consumed on success) and routes the main queue into the
/// consumer queue so errors surface from rd_kafka_consumer_poll(). Throws BenchError.
KafkaHandle make_consumer(KafkaConfig& conf);

/// A topic handle for produce/metadata calls on `rk`. Throws BenchError.
TopicHandle open_topic(rd_kafka_t* rk, const std::string& name);

/// A topic the bench creates before measuring (replication factor 1 unless told otherwise).
struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 1;
  std::map<std::string, std::string> configs = {};
};

/// Sends one Metadata request to `bootstrap` and throws BenchError naming the cluster when
/// no answer comes within `timeout`: a clear early failure instead of a later, vaguer one.
void require_metadata(const std::string& bootstrap, std::chrono::milliseconds timeout,
                      const ClientProperties& extra = {});

/// Creates `topics` with one CreateTopics request through librdkafka's admin API (which
/// sends it to the ControllerId from Metadata). Any per-topic error, including
/// TOPIC_ALREADY_EXISTS, throws BenchError: the bench relies on starting from empty topics.
void create_topics(const std::string& bootstrap, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout, const ClientProperties& extra = {});

/// Polls Metadata until the broker reports exactly `partitions` partitions for the topic,
/// each with a leader, so that connection setup and leader lookup happen before any timer
/// starts. Throws BenchError after `timeout` with the last reason seen.
void wait_for_leaders(rd_kafka_t* rk, rd_kafka_topic_t* rkt, int partitions,
                      std::chrono::milliseconds timeout);

/// Assigns partitions 0..partitions-1 of `topic` starting at the earliest offset (ListOffsets
/// with timestamp -2), without subscribing: no group membership, no commits. Throws
/// BenchError.
void assign_from_beginning(rd_kafka_t* rk, const std::string& topic, int partitions);

/// Values of broker configuration keys as DescribeConfigs (Kafka protocol API 32, resource
/// type 4 = broker, KIP-133) reports them for the broker that answered Metadata, i.e. the
/// value in effect there. On a single-node cluster that broker is also the group coordinator.
struct BrokerConfigValues {
  /// One entry per requested key; nullopt when the broker did not report that key (or
  /// reported it without a value, as for sensitive keys).
  std::map<std::string, std::optional<std::string>> values;
  /// Why nothing could be read (no DescribeConfigs support, authorization, timeout), else
  /// empty. Not fatal: the bench reports the keys as unknown and goes on.
  std::string error;

  /// The key's value as an integer, or nullopt when unknown or not an integer.
  std::optional<int64_t> get_int(const std::string& key) const;
  /// The key's value as a boolean ("true"/"false", Kafka's spelling), or nullopt.
  std::optional<bool> get_bool(const std::string& key) const;
};

/// Asks the broker that answers Metadata on `bootstrap` for `keys` with one DescribeConfigs
/// request. Never throws for a broker-side refusal; see BrokerConfigValues::error.
BrokerConfigValues describe_broker_configs(const std::string& bootstrap,
                                           const std::vector<std::string>& keys,
                                           std::chrono::milliseconds timeout,
                                           const ClientProperties& extra = {});

}  // namespace ferry::bench
