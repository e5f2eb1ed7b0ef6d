// ReplicaManager's topic administration (KIP-4 CreateTopics/DeleteTopics, KIP-195
// CreatePartitions, topic config overrides): validation, then logs and metadata changed together,
// creation and growth through one open-with-rollback. Split from replica_manager.cc.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/core/replica_manager.h"
#include "common/clock.h"

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
                                         const std::map<std::string, std::string>& configs, bool validate_only,
                                         const std::vector<std::vector<int32_t>>& manual) {
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
  if (replication_factor > 1 && !cluster_mode())
    return {ErrorCode::INVALID_REPLICATION_FACTOR,
            fmt::format("replication factor {} is larger than the 1 available broker (a region of several brokers "
                        "keeps its metadata on etcd: metadata.store = \"etcd\")",
                        replication_factor)};
  if (auto r = validate_configs(configs); !r.ok()) return r;

  std::lock_guard admin(admin_mu_);
  if (topic(name)) return {ErrorCode::TOPIC_ALREADY_EXISTS, fmt::format("topic '{}' already exists", name)};
  TopicMetadata t{name, random_kafka_uuid(), partitions, replication_factor, configs, {}, {}, 0};
  if (cluster_mode()) {
    try {
      t.assignment = manual.empty() ? cluster_.assign(0, partitions, replication_factor) : manual;
    } catch (const std::invalid_argument& e) {
      return {ErrorCode::INVALID_REPLICATION_FACTOR, e.what()};
    }
    if (validate_only) return {};
    return publish_in_cluster(t, "created topic");
  }
  if (validate_only) return {};
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
  remove_partitions(removed);
  spdlog::info("deleted topic {}", name);
  return {};
}

void ReplicaManager::remove_partitions(const std::vector<std::shared_ptr<Partition>>& removed) {
  for (auto& p : removed) {
    unregister_partition_metrics(p->topic(), p->index());
    p->data_waiters().wake_all();
    p->durable_waiters().wake_all();
    p->end_offset_waiters().wake_all();
    p->log().remove();
  }
}

void ReplicaManager::lead_alone(Partition& p) const {
  const int32_t me = config_.node_id;
  p.make_leader(Leadership{me, 0, {me}, {me}, 0, 0}, wall_clock_ms());
}

bool ReplicaManager::hosted_here(const TopicMetadata& t, int32_t index) const {
  if (!cluster_mode()) return true;
  if (index < 0 || static_cast<size_t>(index) >= t.assignment.size()) return false;
  const auto& r = t.assignment[static_cast<size_t>(index)];
  return std::find(r.begin(), r.end(), config_.node_id) != r.end();
}

std::vector<std::shared_ptr<Partition>> ReplicaManager::all_partitions() const {
  std::shared_lock lk(mu_);
  std::vector<std::shared_ptr<Partition>> out;
  out.reserve(partitions_.size());
  for (const auto& [k, p] : partitions_) out.push_back(p);
  return out;
}

AdminResult ReplicaManager::publish_in_cluster(const TopicMetadata& t, const char* what) {
  // The assignment goes to etcd; every broker then opens its replicas (sync_topics, through the
  // watch) and the controller elects leaders. The answer waits for those leaders, so a client that
  // produces right after CreateTopics finds them (Kafka answers once the metadata is written and
  // lets clients retry LEADER_NOT_AVAILABLE; waiting spares them that).
  try {
    // By compare-and-set: a topic created through two brokers at once (ferry-mirror creates its
    // heartbeats topic from both flows' ends) must not be written twice under two topic ids, or
    // every replica of the first is dropped as "deleted and created again".
    const bool written = cluster_.put_topic_if ? cluster_.put_topic_if(t) : (store_.put_topic(t), true);
    if (!written) {
      if (t.mod_revision == 0)
        return {protocol::ErrorCode::TOPIC_ALREADY_EXISTS, fmt::format("topic '{}' already exists", t.name)};
      return {protocol::ErrorCode::REQUEST_TIMED_OUT,
              fmt::format("topic '{}' changed while this request was decided; try again", t.name)};
    }
  } catch (const std::exception& e) {
    return {protocol::ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
  }
  sync_topics(store_.topics());
  spdlog::info("{} {}: {} partitions, replication factor {}", what, t.name, t.partitions, t.replication_factor);
  if (cluster_.await_leaders && !cluster_.await_leaders(t.name, t.partitions))
    return {protocol::ErrorCode::REQUEST_TIMED_OUT,
            fmt::format("topic '{}' is stored, but not every partition has a leader yet (is a controller elected and "
                        "are its replicas' brokers alive?)",
                        t.name)};
  return {};
}

size_t ReplicaManager::sync_topics(const std::vector<TopicMetadata>& topics) {
  std::map<std::string, TopicMetadata> wanted;
  for (const auto& t : topics) wanted[t.name] = t;
  std::vector<std::shared_ptr<Partition>> removed;
  std::vector<std::pair<TopicMetadata, std::vector<std::shared_ptr<Partition>>>> reconfigured;
  size_t changes = 0;
  std::unique_lock lk(mu_);
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    for (int32_t i = 0; i < it->second.partitions; ++i)
      if (auto p = partitions_.find({it->first, i}); p != partitions_.end()) {
        removed.push_back(p->second);
        partitions_.erase(p);
      }
    spdlog::info("topic {} was deleted: removing its replicas here", it->first);
    it = topics_.erase(it);
  }
  auto load = partitions_per_dir();
  for (const auto& [name, t] : wanted) {
    auto known = topics_.find(name);
    if (known != topics_.end() && known->second.topic_id != t.topic_id) {
      // Deleted and created again under the same name between two looks: the old logs go, now,
      // before the new incarnation's logs open in the same directories (removed later, they
      // would take the new logs' files with them).
      std::vector<std::shared_ptr<Partition>> old;
      for (int32_t i = 0; i < known->second.partitions; ++i)
        if (auto p = partitions_.find({name, i}); p != partitions_.end()) {
          old.push_back(p->second);
          partitions_.erase(p);
        }
      spdlog::info("topic {} was deleted and created again (topic id {} -> {}): its old replicas here go", name,
                   known->second.topic_id, t.topic_id);
      changes += old.size();
      remove_partitions(old);
      known = topics_.end();
    }
    const bool config_changed = known != topics_.end() && known->second.configs != t.configs;
    topics_[name] = t;
    std::vector<std::shared_ptr<Partition>> live;
    for (int32_t i = 0; i < t.partitions; ++i) {
      auto p = partitions_.find({name, i});
      if (p != partitions_.end() && !hosted_here(t, i)) {
        // A reassignment (KIP-455) completed without this broker: its replica goes, as after
        // Kafka's StopReplica with delete.
        spdlog::info("{}-{}: this broker is no longer a replica (reassigned to {}): removing its replica here", name, i,
                     fmt::join(t.assignment[static_cast<size_t>(i)], ","));
        removed.push_back(p->second);
        partitions_.erase(p);
        continue;
      }
      if (p != partitions_.end()) {
        live.push_back(p->second);
        continue;
      }
      if (!hosted_here(t, i)) continue;
      try {
        auto opened = load_partition(t, i, log_dir_for(name, i, load));
        register_partition_metrics(opened);
        partitions_[{name, i}] = opened;
        ++changes;
      } catch (const std::exception& e) {
        spdlog::error("cannot open replica {}-{}: {} (tried again on the next metadata change)", name, i, e.what());
      }
    }
    if (config_changed) reconfigured.emplace_back(t, std::move(live));
  }
  lk.unlock();
  changes += removed.size();
  remove_partitions(removed);
  for (const auto& [t, parts] : reconfigured) apply_topic_config(t, parts);
  return changes;
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
  TopicMetadata grown = *t;
  grown.partitions = new_count;
  if (cluster_mode()) {
    try {
      auto more = cluster_.assign(t->partitions, new_count - t->partitions, t->replication_factor);
      grown.assignment.insert(grown.assignment.end(), more.begin(), more.end());
    } catch (const std::invalid_argument& e) {
      return {ErrorCode::INVALID_REPLICATION_FACTOR, e.what()};
    }
    if (validate_only) return {};
    return publish_in_cluster(grown, "grew topic");
  }
  if (validate_only) return {};
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
    if (!cluster_.put_topic_if) {
      store_.put_topic(changed);
    } else {
      // On etcd, by compare-and-set on the store's current value, so a reassignment or a grow
      // written through another broker meanwhile is kept, not overwritten with this copy.
      bool written = false;
      for (int attempt = 0; attempt < 10 && !written; ++attempt) {
        auto current = store_.topic(name);
        if (!current) return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", name)};
        changed = *current;
        changed.configs = overrides;
        written = cluster_.put_topic_if(changed);
      }
      if (!written)
        return {ErrorCode::REQUEST_TIMED_OUT,
                fmt::format("topic '{}' kept changing while its configs were written; try again", name)};
    }
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
    p->set_min_insync_replicas(static_cast<int32_t>(topic_config_locked_free(t).get_int("min.insync.replicas")));
  }
}

}  // namespace ferry::broker
