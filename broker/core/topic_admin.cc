// ReplicaManager's topic administration (KIP-4 CreateTopics/DeleteTopics, KIP-195
// CreatePartitions, topic config overrides): validation, then logs and metadata changed together,
// creation and growth through one open-with-rollback. Split from replica_manager.cc.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/core/replica_manager.h"

namespace ferry::broker {

AdminResult ReplicaManager::open_and_publish(const TopicMetadata& t, int32_t first_new) {
  // Logs first, then metadata: a crash in between leaves unreferenced directories, never a topic
  // whose partitions cannot be opened. A failure removes what this call opened.
  std::vector<std::shared_ptr<Partition>> opened;
  try {
    std::unique_lock lk(mu_);
    // Placement counts the partitions opened here too, so a new topic spreads over the log dirs.
    auto load = partitions_per_dir();
    for (int32_t i = first_new; i < t.partitions; ++i) {
      opened.push_back(load_partition(t, i, log_dir_for(t.name, i, load)));
      register_partition_metrics(opened.back());
    }
    lk.unlock();
    store_.put_topic(t);
  } catch (const std::exception& e) {
    for (auto& p : opened) {
      unregister_partition_metrics(p->topic(), p->index());
      p->log().remove();
    }
    return {protocol::ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
  }
  std::unique_lock lk(mu_);
  topics_[t.name] = t;
  for (auto& p : opened) partitions_[{t.name, p->index()}] = p;
  return {};
}

AdminResult ReplicaManager::validate_configs(const std::map<std::string, std::string>& configs) const {
  try {
    check_topic_configs(topic_schema_, configs);
  } catch (const config::ConfigError& e) {
    return {protocol::ErrorCode::INVALID_CONFIG, e.what()};
  }
  return {};
}

AdminResult ReplicaManager::create_topic(const std::string& name, int32_t partitions, int16_t replication_factor,
                                         const std::map<std::string, std::string>& configs, bool validate_only) {
  using protocol::ErrorCode;
  if (auto why = topic_name_problem(name); !why.empty()) return {ErrorCode::INVALID_TOPIC_EXCEPTION, why};
  if (partitions == -1) partitions = static_cast<int32_t>(config_.values.get_int("num.partitions"));
  if (replication_factor == -1)
    replication_factor = static_cast<int16_t>(config_.values.get_int("default.replication.factor"));
  if (partitions <= 0)
    return {ErrorCode::INVALID_PARTITIONS, fmt::format("number of partitions must be positive, got {}", partitions)};
  if (replication_factor <= 0)
    return {ErrorCode::INVALID_REPLICATION_FACTOR,
            fmt::format("replication factor must be positive, got {}", replication_factor)};
  if (replication_factor > 1)
    return {ErrorCode::INVALID_REPLICATION_FACTOR,
            fmt::format("replication factor {} is larger than the 1 available broker; in-region replication "
                        "arrives with the etcd-backed cluster",
                        replication_factor)};
  if (auto r = validate_configs(configs); !r.ok()) return r;

  std::lock_guard admin(admin_mu_);
  if (topic(name)) return {ErrorCode::TOPIC_ALREADY_EXISTS, fmt::format("topic '{}' already exists", name)};
  if (validate_only) return {};
  TopicMetadata t{name, random_kafka_uuid(), partitions, replication_factor, configs};
  if (auto r = open_and_publish(t, 0); !r.ok())
    return {r.code, fmt::format("creating topic '{}' failed: {}", name, r.message)};
  spdlog::info("created topic {} with {} partitions{}", name, partitions, configs.empty() ? "" : " and overrides");
  return {};
}

AdminResult ReplicaManager::delete_topic(const std::string& name) {
  using protocol::ErrorCode;
  if (is_internal_topic(name))
    return {ErrorCode::INVALID_REQUEST, fmt::format("internal topic '{}' cannot be deleted", name)};
  if (!config_.values.get_bool("delete.topic.enable"))
    return {ErrorCode::TOPIC_DELETION_DISABLED, "delete.topic.enable is false on this broker"};
  std::lock_guard admin(admin_mu_);
  auto t = topic(name);
  if (!t) return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", name)};
  try {
    store_.delete_topic(name);
  } catch (const std::exception& e) {
    return {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
  }
  std::vector<std::shared_ptr<Partition>> removed;
  {
    std::unique_lock lk(mu_);
    topics_.erase(name);
    for (int32_t i = 0; i < t->partitions; ++i) {
      auto it = partitions_.find({name, i});
      if (it == partitions_.end()) continue;
      removed.push_back(it->second);
      partitions_.erase(it);
    }
  }
  for (auto& p : removed) {
    unregister_partition_metrics(name, p->index());
    p->data_waiters().wake_all();
    p->durable_waiters().wake_all();
    p->log().remove();
  }
  spdlog::info("deleted topic {}", name);
  return {};
}

AdminResult ReplicaManager::create_partitions(const std::string& name, int32_t new_count, bool validate_only) {
  using protocol::ErrorCode;
  if (is_internal_topic(name))
    return {ErrorCode::INVALID_REQUEST,
            fmt::format("internal topic '{}' keeps its partition count: groups are placed by it", name)};
  std::lock_guard admin(admin_mu_);
  auto t = topic(name);
  if (!t) return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", name)};
  if (new_count <= t->partitions)
    return {ErrorCode::INVALID_PARTITIONS,
            fmt::format("topic '{}' has {} partitions; the new count {} must be larger", name, t->partitions, new_count)};
  if (validate_only) return {};
  TopicMetadata grown = *t;
  grown.partitions = new_count;
  if (auto r = open_and_publish(grown, t->partitions); !r.ok()) return r;
  spdlog::info("topic {} grown from {} to {} partitions", name, t->partitions, new_count);
  return {};
}

AdminResult ReplicaManager::alter_topic_configs(const std::string& name,
                                                const std::map<std::string, std::string>& overrides,
                                                bool validate_only) {
  using protocol::ErrorCode;
  if (auto r = validate_configs(overrides); !r.ok()) return r;
  std::lock_guard admin(admin_mu_);
  auto t = topic(name);
  if (!t) return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", name)};
  if (validate_only) return {};
  TopicMetadata changed = *t;
  changed.configs = overrides;
  try {
    store_.put_topic(changed);
  } catch (const std::exception& e) {
    return {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
  }
  std::vector<std::shared_ptr<Partition>> live;
  {
    std::unique_lock lk(mu_);
    topics_[name] = changed;
    for (int32_t i = 0; i < changed.partitions; ++i)
      if (auto it = partitions_.find({name, i}); it != partitions_.end()) live.push_back(it->second);
  }
  apply_topic_config(changed, live);
  spdlog::info("topic {}: config overrides now {}", name, overrides.empty() ? "none" : fmt::format("{} key(s)", overrides.size()));
  return {};
}

void ReplicaManager::apply_topic_config(const TopicMetadata& t, const std::vector<std::shared_ptr<Partition>>& parts) {
  const auto cfg = to_log_config(topic_config_locked_free(t));
  for (const auto& p : parts) {
    p->log().update_config(cfg);
    p->set_max_message_bytes(cfg.max_message_bytes);
    p->set_compacted(cfg.compact);
  }
}

}  // namespace ferry::broker
