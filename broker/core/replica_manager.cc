#include "broker/core/replica_manager.h"
#include "broker/core/replica_manager_internal.h"
#include "common/clock.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>

namespace ferry::broker {
using internal::kCleanerOffsetFile;
using internal::kLogStartOffsetFile;
using internal::kRecoveryPointFile;
using internal::run_on_threads;

std::string topic_name_problem(const std::string& name) {
  if (name.empty()) return "topic name is empty";
  if (name.size() > 249) return fmt::format("topic name is {} characters; at most 249 are allowed", name.size());
  if (name == "." || name == "..") return "topic name cannot be '.' or '..'";
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return fmt::format("topic name '{}' contains '{}'; only ASCII letters, digits, '.', '_' and '-' are allowed",
                         name, c);
  return "";
}

ReplicaManager::ReplicaManager(const BrokerConfig& config, MetadataStore& store, metrics::Registry& metrics)
    : config_(config),
      store_(store),
      metrics_(metrics),
      // Kafka's LogFlushStats.LogFlushRateAndTimeMs; 0.125 ms .. ~4 s.
      flush_ms_(metrics.histogram("kafka_log_logflushstats_logflushrateandtimems",
                                  "Time of one log flush by the group-commit flusher or the flush.ms / "
                                  "flush.messages policy (fdatasync of the log's unsynced segments), ms.",
                                  metrics::exponential_buckets(0.125, 2, 16))),
      topic_schema_(make_topic_schema(config.values)),
      dynamic_(config, metrics) {}

ReplicaManager::~ReplicaManager() { shutdown(); }

std::map<std::string, int> ReplicaManager::partitions_per_dir() const {
  std::map<std::string, int> load;
  for (const auto& d : config_.log_dirs) load[d] = 0;
  for (const auto& [k, p] : partitions_) load[p->log_dir().string()]++;
  return load;
}

std::filesystem::path ReplicaManager::log_dir_for(const std::string& topic, int32_t index,
                                                  std::map<std::string, int>& load) const {
  for (const auto& d : config_.log_dirs)
    if (std::filesystem::exists(std::filesystem::path(d) / partition_dir_name(topic, index))) return d;
  std::string best = config_.log_dirs.front();
  for (const auto& d : config_.log_dirs)
    if (load[d] < load[best]) best = d;
  load[best]++;
  return best;
}

size_t ReplicaManager::recovery_threads() const {
  return static_cast<size_t>(config_.values.get_int("num.recovery.threads.per.data.dir")) * config_.log_dirs.size();
}

std::shared_ptr<Partition> ReplicaManager::load_partition(const TopicMetadata& t, int32_t index,
                                                          const std::filesystem::path& dir) const {
  storage::TopicPartition tp{t.name, index};
  auto offset_in = [&tp](const auto& m) -> int64_t {
    auto it = m.find(tp);
    return it == m.end() ? 0 : it->second;
  };
  storage::RecoveryReport report;
  auto cfg = to_log_config(topic_config_locked_free(t));
  auto log = storage::Log::open(dir / partition_dir_name(t.name, index), cfg, offset_in(log_start_offsets_),
                                offset_in(recovery_points_), &report, offset_in(cleaner_offsets_));
  for (const auto& line : report.actions) spdlog::warn("recovery of {}-{}: {}", t.name, index, line);
  log->set_offline_listener([this, dir, name = fmt::format("{}-{}", t.name, index)](const std::string& why) {
    on_log_dir_failure(dir, name, why);
  });
  auto p = std::make_shared<Partition>(t.name, index, dir, std::move(log), config_.node_id);
  // On a one-broker region this broker leads every partition it holds: the epoch goes into the
  // history now, so produce never writes the leader-epoch-checkpoint (it would fsync on the
  // request path). In a cluster the controller's partition state decides (Replication).
  if (!cluster_mode()) lead_alone(*p);
  p->set_max_message_bytes(cfg.max_message_bytes);
  p->set_compacted(cfg.compact);
  p->set_min_insync_replicas(static_cast<int32_t>(topic_config_locked_free(t).get_int("min.insync.replicas")));
  if (int64_t replayed = p->rebuild_producer_state(wall_clock_ms()); replayed > 0)
    spdlog::info("{}-{}: producer state rebuilt, {} batch(es) replayed after the snapshot", t.name, index, replayed);
  return p;
}

namespace internal {

void run_on_threads(size_t count, size_t threads, const std::function<void(size_t)>& fn) {
  std::vector<std::exception_ptr> errors(count);
  {
    boost::asio::thread_pool pool(std::max<size_t>(1, std::min(threads, count)));
    for (size_t i = 0; i < count; ++i) {
      boost::asio::post(pool, [&, i] {
        try {
          fn(i);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    pool.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace internal

void ReplicaManager::startup() {
  for (const auto& d : config_.log_dirs) {
    std::filesystem::create_directories(d);
    for (auto& [tp, off] : storage::read_offset_checkpoint(std::filesystem::path(d) / kRecoveryPointFile))
      recovery_points_[tp] = off;
    for (auto& [tp, off] : storage::read_offset_checkpoint(std::filesystem::path(d) / kLogStartOffsetFile))
      log_start_offsets_[tp] = off;
    for (auto& [tp, off] : storage::read_offset_checkpoint(std::filesystem::path(d) / kCleanerOffsetFile))
      cleaner_offsets_[tp] = off;
  }
  {
    dynamic_.load(store_.broker_configs());
  }
  auto start = std::chrono::steady_clock::now();
  {
    // Logs open on num.recovery.threads.per.data.dir threads per log dir, as in Kafka's
    // LogManager.loadLogs: after a crash each one replays its unflushed tail, and the reads and
    // fsyncs of many partitions overlap.
    std::unique_lock lk(mu_);
    for (auto& t : store_.topics()) topics_[t.name] = t;
    struct Job {
      const TopicMetadata* topic;
      int32_t index;
      std::filesystem::path dir;
      std::shared_ptr<Partition> partition;
    };
    std::vector<Job> jobs;
    auto load = partitions_per_dir();
    for (const auto& [name, t] : topics_)
      for (int32_t i = 0; i < t.partitions; ++i)
        if (hosted_here(t, i)) jobs.push_back({&t, i, log_dir_for(name, i, load), nullptr});
    run_on_threads(jobs.size(), recovery_threads(),
                   [&](size_t i) { jobs[i].partition = load_partition(*jobs[i].topic, jobs[i].index, jobs[i].dir); });
    for (auto& j : jobs) {
      register_partition_metrics(j.partition);
      partitions_[{j.topic->name, j.index}] = std::move(j.partition);
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("loaded {} topics, {} partitions in {} ms", topics_.size(), partitions_.size(), ms);
  // Everything recovered is now known-good; record it so a crash soon after does not re-scan.
  // Producer state snapshots wait for the first periodic checkpoint: after a crash every
  // partition replayed a batch or more, and 10,000 fsynced snapshot writes here kept a restarted
  // broker from serving for ~11 s (issue 16). A crash before that checkpoint replays the same
  // batches again, from the same snapshots.
  write_checkpoint(kRecoveryPointFile, [](Partition& p) { return std::optional(p.log().recovery_point()); });

  metrics_.gauge_callback("kafka_server_replicamanager_partitioncount", "Partitions on this broker.", {},
                          [this] {
                            std::shared_lock lk(mu_);
                            return static_cast<double>(partitions_.size());
                          });
  // Counted over the partitions this broker leads, as Kafka's ReplicaManager does, so a region's
  // totals are the sums over its brokers.
  auto count_led = [this](auto&& pred) {
    double n = 0;
    for (const auto& p : all_partitions())
      if (p->is_leader() && pred(*p)) ++n;
    return n;
  };
  metrics_.gauge_callback("kafka_server_replicamanager_underreplicatedpartitions",
                          "Partitions led here whose ISR is smaller than their replica set.", {}, [count_led] {
                            return count_led([](Partition& p) { return p.isr_size() < p.replica_count(); });
                          });
  metrics_.gauge_callback("kafka_server_replicamanager_underminisrpartitioncount",
                          "Partitions led here whose ISR is smaller than min.insync.replicas.", {}, [count_led] {
                            return count_led([](Partition& p) { return p.isr_size() < p.effective_min_isr(); });
                          });
  metrics_.gauge_callback("kafka_server_replicamanager_leadercount", "Partitions led by this broker.", {},
                          [count_led] { return count_led([](Partition&) { return true; }); });
  // A region on etcd: the controller counts offline partitions (replication::Replication).
  if (!cluster_mode())
    metrics_.gauge("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader.").set(0);

  std::lock_guard lk(bg_mu_);
  started_ = true;
  background_ = std::thread([this] { background_loop(); });
  flush_pool_ = std::make_unique<boost::asio::thread_pool>(kParallelFlushes);
  flusher_ = std::thread([this] { flusher_loop(); });
}

void ReplicaManager::on_log_dir_failure(const std::filesystem::path& dir, const std::string& partition,
                                        const std::string& why) const {
  std::lock_guard lk(offline_mu_);
  if (!offline_dirs_.insert(dir).second) return;
  if (shutting_down_.load()) {
    spdlog::error("log dir {} failed during shutdown ({}: {})", dir.string(), partition, why);
    return;
  }
  spdlog::error("log dir {} is offline: {} failed: {}. Its logs refuse appends (KAFKA_STORAGE_ERROR) until the "
                "broker restarts",
                dir.string(), partition, why);
  if (offline_dirs_.size() < config_.log_dirs.size()) return;
  spdlog::critical("every log dir of this broker has failed ({}): halting (exit 1) as Kafka does, so that the "
                   "controller moves its leaderships once its registration expires; fix the disk, then restart it",
                   dir.string());
  spdlog::default_logger()->flush();
  std::_Exit(1);
}

std::set<std::filesystem::path> ReplicaManager::offline_log_dirs() const {
  std::lock_guard lk(offline_mu_);
  return offline_dirs_;
}

void ReplicaManager::shutdown() {
  shutting_down_ = true;
  {
    std::lock_guard lk(bg_mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  bg_cv_.notify_all();
  if (background_.joinable()) background_.join();
  if (flusher_.joinable()) flusher_.join();
  if (flush_pool_) flush_pool_->join();
  wake_all_waiters();
  std::unique_lock lk(mu_);
  // Each close seals and fsyncs a log; on num.recovery.threads.per.data.dir threads per log dir
  // (Kafka's LogManager.shutdown) the file system commits concurrent fsyncs together.
  std::vector<std::shared_ptr<Partition>> all;
  for (auto& [k, p] : partitions_) all.push_back(p);
  run_on_threads(all.size(), recovery_threads(), [&all](size_t i) {
    try {
      all[i]->log().close();
    } catch (const std::exception& e) {
      spdlog::error("closing {}-{} failed: {}", all[i]->topic(), all[i]->index(), e.what());
    }
  });
  lk.unlock();
  checkpoint_recovery_points();
  checkpoint_log_start_offsets();
  spdlog::info("all logs flushed and closed; checkpoints written");
}

std::shared_ptr<Partition> ReplicaManager::partition(const std::string& topic, int32_t index) const {
  std::shared_lock lk(mu_);
  auto it = partitions_.find({topic, index});
  return it == partitions_.end() ? nullptr : it->second;
}

std::optional<TopicMetadata> ReplicaManager::topic(const std::string& name) const {
  std::shared_lock lk(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

std::vector<TopicMetadata> ReplicaManager::topics() const {
  std::shared_lock lk(mu_);
  std::vector<TopicMetadata> out;
  for (auto& [n, t] : topics_) out.push_back(t);
  return out;
}

config::Values ReplicaManager::topic_config_locked_free(const TopicMetadata& t) const {
  config::Values v(topic_schema_);
  // Dynamic broker configs sit between the topic's overrides and the file: the cluster default
  // first, then this broker's own, each replacing what came before.
  for (const auto& [broker_key, text] : dynamic_.in_precedence_order()) {
    const std::string topic_key = topic_key_for(broker_key);
    if (topic_key.empty()) continue;
    try {
      v.set(topic_key, topic_schema_.parse_text(topic_key, text));
    } catch (const config::ConfigError& e) {
      spdlog::warn("ignoring stored dynamic broker config: {}", e.what());
    }
  }
  for (auto& [k, text] : t.configs) {
    try {
      v.set(k, topic_schema_.parse_text(k, text));
    } catch (const config::ConfigError& e) {
      spdlog::warn("topic {}: ignoring stored config: {}", t.name, e.what());
    }
  }
  return v;
}

config::Values ReplicaManager::topic_config(const std::string& name) const {
  auto t = topic(name);
  if (!t) return config::Values(topic_schema_);
  return topic_config_locked_free(*t);
}

std::map<std::string, std::string> ReplicaManager::dynamic_broker_configs(const std::string& entity) const {
  return dynamic_.of(entity);
}

AdminResult ReplicaManager::alter_broker_configs(const std::string& entity,
                                                 const std::map<std::string, std::string>& configs, bool validate_only) {
  using protocol::ErrorCode;
  for (const auto& [k, v] : configs) {
    if (!broker_schema().find(k))
      return {ErrorCode::INVALID_CONFIG, fmt::format("unknown broker config '{}'", k)};
    if (!is_dynamic_broker_key(k))
      return {ErrorCode::INVALID_CONFIG,
              fmt::format("broker config '{}' cannot be changed at run time; set it in the config file and restart", k)};
    if (topic_key_for(k).empty()) {
      // A role key: no topic synonym, so its own schema entry is the rule (the enum's allowed set).
      try {
        auto parsed = broker_schema().parse_text(k, v);
        if (k == "ferry.standby.allowed.principals")
          check_principal_list(k, std::get<std::vector<std::string>>(parsed));
      } catch (const config::ConfigError& e) {
        return {ErrorCode::INVALID_CONFIG, fmt::format("broker config {}", e.what())};
      }
      continue;
    }
    // The same value rules as the topic key it is the default of (ranges, cleanup.policy words).
    if (auto r = validate_configs({{topic_key_for(k), v}}); !r.ok())
      return {r.code, fmt::format("broker config '{}': {}", k, r.message)};
  }
  if (validate_only) return {};
  std::lock_guard admin(admin_mu_);
  try {
    store_.put_broker_configs(entity, configs);
  } catch (const std::exception& e) {
    return {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
  }
  dynamic_.set(entity, configs);
  reapply_topic_configs();
  spdlog::info("dynamic broker configs of {} now {}", entity.empty() ? "the cluster default" : "broker " + entity,
               configs.empty() ? "none" : fmt::format("{} key(s)", configs.size()));
  return {};
}

void ReplicaManager::reapply_topic_configs() {
  // Every topic's effective config again: a topic without its own override follows the change.
  std::vector<std::pair<TopicMetadata, std::vector<std::shared_ptr<Partition>>>> live;
  {
    std::shared_lock lk(mu_);
    for (const auto& [name, t] : topics_) {
      auto& entry = live.emplace_back(t, std::vector<std::shared_ptr<Partition>>{});
      for (int32_t i = 0; i < t.partitions; ++i)
        if (auto it = partitions_.find({name, i}); it != partitions_.end()) entry.second.push_back(it->second);
    }
  }
  for (auto& [t, parts] : live) apply_topic_config(t, parts);
}

void ReplicaManager::reload_broker_configs() {
  auto stored = store_.broker_configs();
  if (!dynamic_.replace(std::move(stored))) return;
  reapply_topic_configs();
  spdlog::info("dynamic broker configs changed in the region's metadata: applied here");
}

void ReplicaManager::register_partition_metrics(const std::shared_ptr<Partition>& p) {
  metrics::Labels labels{{"topic", p->topic()}, {"partition", std::to_string(p->index())}};
  std::weak_ptr<Partition> w = p;
  auto read = [w](auto fn) {
    return [w, fn]() -> double {
      auto sp = w.lock();
      return sp ? static_cast<double>(fn(*sp)) : 0.0;
    };
  };
  metrics_.gauge_callback("kafka_log_log_logendoffset", "Log end offset of the partition.", labels,
                          read([](Partition& x) { return x.log().log_end_offset(); }));
  metrics_.gauge_callback("kafka_log_log_logstartoffset", "Log start offset of the partition.", labels,
                          read([](Partition& x) { return x.log().log_start_offset(); }));
  metrics_.gauge_callback("kafka_log_log_size", "Bytes of the partition's log segments.", labels,
                          read([](Partition& x) { return x.log().size_bytes(); }));
}

void ReplicaManager::unregister_partition_metrics(const std::string& topic, int32_t index) {
  metrics::Labels labels{{"topic", topic}, {"partition", std::to_string(index)}};
  metrics_.remove("kafka_log_log_logendoffset", labels);
  metrics_.remove("kafka_log_log_logstartoffset", labels);
  metrics_.remove("kafka_log_log_size", labels);
}

}  // namespace ferry::broker
