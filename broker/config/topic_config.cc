// Topic-level configs Kafka 3.x documents that Ferry accepts although it has no mechanism for them
// (kafka.apache.org/documentation/#topicconfigs; Kafka's TopicConfig and LogConfig define them,
// LogConfig.validateValues checks them together). Clients and tools (Terraform providers,
// kafka-topics.sh, Confluent's and Strimzi's operators) send them on CreateTopics and
// AlterConfigs, so an unknown-key refusal breaks them; accepting a value Kafka would refuse hides
// a typo, so each is checked the way Kafka checks it.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

#include "broker/config/broker_config.h"

namespace ferry::broker {

using config::ConfigError;

namespace {

constexpr const char* kNoEffect = "Accepted, no effect here: ";

// Kafka's ThrottledReplicaListValidator: the literal "*" or partitionId:brokerId pairs.
void check_throttled_replicas(const std::string& key, const std::string& text,
                              const std::vector<std::string>& items) {
  if (items.size() == 1 && items[0] == "*") return;
  static const std::regex pair("[0-9]+:[0-9]+");
  for (const auto& i : items)
    if (!std::regex_match(i, pair))
      throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected \"*\" or a comma-separated list of "
                                    "partitionId:brokerId",
                                    key, text));
}

// Kafka's MetadataVersionValidator (MetadataVersion.fromVersionString): the first two dotted parts
// (three when the first is 0) with an optional -IVn must name a Kafka release's metadata version.
void check_message_format_version(const std::string& key, const std::string& text) {
  static const std::set<std::string> known = {"0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0", "0.10.1", "0.10.2",
                                              "0.11.0", "1.0", "1.1", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5",
                                              "2.6", "2.7", "2.8", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5",
                                              "3.6", "3.7", "3.8", "3.9"};
  std::string base = text;
  if (auto iv = base.find("-IV"); iv != std::string::npos) {
    const std::string n = base.substr(iv + 3);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) base.clear();
    else base = base.substr(0, iv);
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    auto dot = base.find('.', start);
    parts.push_back(base.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  const size_t take = !parts.empty() && parts[0] == "0" ? 3 : 2;
  std::string key_version;
  for (size_t i = 0; i < take && i < parts.size(); ++i) key_version += (i ? "." : "") + parts[i];
  if (parts.size() < take || !known.count(key_version))
    throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected a Kafka version such as 2.8 or 3.0-IV1 "
                                  "(deprecated: Kafka 3.x accepts and ignores it)",
                                  key, text));
}

// min.cleanable.dirty.ratio is a Kafka DOUBLE in [0, 1].
void check_ratio(const std::string& key, const std::string& text) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s, &end);
  if (text.empty() || errno != 0 || *end != '\0' || !std::isfinite(d) || d < 0.0 || d > 1.0)
    throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected a number in [0, 1]", key, text));
}

int64_t effective_int(const config::Schema& schema, const std::map<std::string, std::string>& configs,
                      const std::string& key) {
  if (auto it = configs.find(key); it != configs.end()) return std::get<int64_t>(schema.parse_text(key, it->second));
  return std::get<int64_t>(schema.find(key)->default_value);
}

}  // namespace

void add_accepted_topic_keys(config::Schema& s) {
  s.add_enum("compression.type", "producer", {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
             std::string(kNoEffect) + "batches are stored as the producer compressed them (Kafka's `producer`).")
      .add_int("compression.gzip.level", -1, -1, 9,
               std::string(kNoEffect) + "level of broker-side gzip recompression (Kafka 3.8, KIP-390; -1 = codec "
                                        "default); Ferry does not recompress.")
      .add_int("compression.lz4.level", 9, 1, 17,
               std::string(kNoEffect) + "level of broker-side lz4 recompression (Kafka 3.8, KIP-390).")
      .add_int("compression.zstd.level", 3, -131072, 22,
               std::string(kNoEffect) + "level of broker-side zstd recompression (Kafka 3.8, KIP-390).")
      .add_int("file.delete.delay.ms", 60000, 0, INT64_MAX,
               std::string(kNoEffect) + "deleted segments are unlinked at once.")
      .add_list("follower.replication.throttled.replicas", {},
                std::string(kNoEffect) + "\"*\" or partitionId:brokerId pairs throttled on followers; a single "
                                         "broker has no replication.")
      .add_list("leader.replication.throttled.replicas", {},
                std::string(kNoEffect) + "\"*\" or partitionId:brokerId pairs throttled on the leader; a single "
                                         "broker has no replication.")
      .add_int("local.retention.bytes", -2, -2, INT64_MAX,
               std::string(kNoEffect) + "local part of tiered storage (-2 = retention.bytes); no tiered storage.")
      .add_int("local.retention.ms", -2, -2, INT64_MAX,
               std::string(kNoEffect) + "local part of tiered storage (-2 = retention.ms); no tiered storage.")
      .add_int("max.compaction.lag.ms", INT64_MAX, 1, INT64_MAX,
               std::string(kNoEffect) + "the cleaner runs every log.cleaner.backoff.ms; must not be below "
                                        "min.compaction.lag.ms.")
      .add_bool("message.downconversion.enable", true,
                std::string(kNoEffect) + "Ferry serves record batch v2 only and never down-converts.")
      .add_string("message.format.version", "3.0-IV1",
                  std::string(kNoEffect) + "deprecated; Kafka 3.x accepts a valid version (e.g. 2.8, 3.0-IV1) "
                                           "and ignores it.")
      .add_int("message.timestamp.difference.max.ms", INT64_MAX, 0, INT64_MAX,
               std::string(kNoEffect) + "record timestamps are not checked against the broker's clock.")
      .add_int("message.timestamp.before.max.ms", INT64_MAX, 0, INT64_MAX,
               std::string(kNoEffect) + "record timestamps are not checked (Kafka 3.6, KIP-937).")
      .add_int("message.timestamp.after.max.ms", INT64_MAX, 0, INT64_MAX,
               std::string(kNoEffect) + "record timestamps are not checked (Kafka 3.6, KIP-937).")
      .add_string("min.cleanable.dirty.ratio", "0.5",
                  std::string(kNoEffect) + "a number in [0, 1]; the cleaner compacts whenever it runs.")
      .add_bool("preallocate", false, std::string(kNoEffect) + "segment files grow as written.")
      .add_bool("remote.storage.enable", false,
                std::string(kNoEffect) + "only false is accepted; this broker has no tiered storage (Kafka "
                                         "refuses true when remote.log.storage.system.enable is false).")
      .add_int("segment.jitter.ms", 0, 0, INT64_MAX, std::string(kNoEffect) + "segments roll at segment.ms exactly.")
      .add_bool("unclean.leader.election.enable", false,
                "When no in-sync replica of a partition is alive, elect a live replica outside the ISR (records "
                "it lacks are lost) instead of leaving the partition offline until an ISR member returns. "
                "Read by the controller of a region on etcd.");
}

void check_topic_configs(const config::Schema& schema, const std::map<std::string, std::string>& configs) {
  for (const auto& [k, text] : configs) {
    auto value = schema.parse_text(k, text);
    if (k == "cleanup.policy") {
      auto& l = std::get<std::vector<std::string>>(value);
      if (l.empty()) throw ConfigError("key 'cleanup.policy' is empty; expected delete and/or compact");
      for (auto& e : l)
        if (e != "delete" && e != "compact")
          throw ConfigError(fmt::format("key 'cleanup.policy' has value \"{}\"; expected delete and/or compact", text));
    } else if (k == "follower.replication.throttled.replicas" || k == "leader.replication.throttled.replicas") {
      check_throttled_replicas(k, text, std::get<std::vector<std::string>>(value));
    } else if (k == "message.format.version") {
      check_message_format_version(k, text);
    } else if (k == "min.cleanable.dirty.ratio") {
      check_ratio(k, text);
    } else if (k == "compression.gzip.level" && std::get<int64_t>(value) == 0) {
      throw ConfigError(fmt::format("key 'compression.gzip.level' has value \"{}\"; expected -1 or 1-9", text));
    } else if (k == "remote.storage.enable" && std::get<bool>(value)) {
      throw ConfigError(fmt::format("key 'remote.storage.enable' has value \"{}\"; expected false: tiered storage "
                                    "is disabled on this broker",
                                    text));
    }
  }
  // LogConfig.validateValues: the compaction lags must not contradict each other.
  if (configs.count("min.compaction.lag.ms") || configs.count("max.compaction.lag.ms")) {
    const int64_t min_lag = effective_int(schema, configs, "min.compaction.lag.ms");
    const int64_t max_lag = effective_int(schema, configs, "max.compaction.lag.ms");
    if (min_lag > max_lag)
      throw ConfigError(fmt::format("key 'min.compaction.lag.ms' has value \"{}\", above max.compaction.lag.ms "
                                    "\"{}\"; expected min.compaction.lag.ms <= max.compaction.lag.ms",
                                    min_lag, max_lag));
  }
}

std::string topic_config_reference(const config::Values& broker) {
  return make_topic_schema(broker).markdown_reference();
}

}  // namespace ferry::broker
