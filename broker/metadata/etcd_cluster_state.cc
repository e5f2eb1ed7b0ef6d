// EtcdMetadataStore's cluster state: registrations, partition leadership and the controller, read
// from the watched copy and written by compare-and-set (etcd_metadata_store.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/metadata/etcd_metadata_store.h"
#include "broker/metadata/etcd_retry.h"

namespace ferry::broker {

std::map<int32_t, BrokerInfo> EtcdMetadataStore::brokers() {
  std::lock_guard lk(mu_);
  return state_->brokers;
}

std::map<std::pair<std::string, int32_t>, replication::PartitionState> EtcdMetadataStore::partition_states() {
  std::lock_guard lk(mu_);
  return state_->partitions;
}

std::optional<replication::PartitionState> EtcdMetadataStore::partition_state(const std::string& topic,
                                                                               int32_t index) {
  std::lock_guard lk(mu_);
  auto it = state_->partitions.find({topic, index});
  if (it == state_->partitions.end()) return std::nullopt;
  return it->second;
}

std::pair<int32_t, int64_t> EtcdMetadataStore::controller() {
  std::lock_guard lk(mu_);
  return {state_->controller_id, state_->controller_epoch};
}

size_t EtcdMetadataStore::write_partition_states(const std::vector<replication::PartitionWrite>& writes,
                                                 int64_t controller_epoch) {
  size_t applied = 0;
  for (size_t first = 0; first < writes.size(); first += kStateWritesPerTxn) {
    const size_t end = std::min(writes.size(), first + kStateWritesPerTxn);
    std::vector<etcd::Compare> compares;
    std::vector<etcd::Op> puts;
    if (controller_epoch > 0) compares.push_back(etcd::Compare::create_revision_is(controller_key(), controller_epoch));
    for (size_t i = first; i < end; ++i) {
      const auto& w = writes[i];
      const std::string key = partition_key(w.topic, w.partition);
      compares.push_back(w.expected_mod_revision == 0 ? etcd::Compare::create_revision_is(key, 0)
                                                      : etcd::Compare::mod_revision_is(key, w.expected_mod_revision));
      puts.push_back(etcd::Op::put(key, replication::encode_partition_state(w.state)));
    }
    // A transaction that timed out may have applied; retrying it then fails its compares, which
    // the caller treats like losing a race (it re-reads the copy).
    const auto r = with_retries(timeouts_.retry_window, "writing partition states",
                                [&] { return client_->txn(compares, puts, {}); });
    if (r.succeeded) {
      applied += end - first;
      wait_applied(r.revision);
    } else {
      spdlog::info("etcd metadata store {}: {} partition-state writes lost a compare-and-set (another writer, or "
                   "controller epoch {} deposed); they are decided again from the new state",
                   prefix_, end - first, controller_epoch);
    }
  }
  return applied;
}

bool EtcdMetadataStore::put_topic_if(const TopicMetadata& t, const std::vector<replication::PartitionWrite>& states,
                                     int64_t controller_epoch) {
  if (states.size() > kStateWritesPerTxn)
    throw std::invalid_argument(fmt::format("etcd metadata store: {} partition states in one topic write; at most {}",
                                            states.size(), kStateWritesPerTxn));
  if (t.name.empty() || t.partitions < 1 || t.replication_factor < 1)
    throw std::invalid_argument(fmt::format("etcd metadata store: topic '{}' has {} partitions and replication factor "
                                            "{}; both must be at least 1",
                                            t.name, t.partitions, t.replication_factor));
  const std::string key = topic_key(t.name);
  std::vector<etcd::Compare> compares;
  std::vector<etcd::Op> puts{etcd::Op::put(key, etcd_layout::encode_topic(t))};
  compares.push_back(t.mod_revision == 0 ? etcd::Compare::create_revision_is(key, 0)
                                         : etcd::Compare::mod_revision_is(key, t.mod_revision));
  if (controller_epoch > 0) compares.push_back(etcd::Compare::create_revision_is(controller_key(), controller_epoch));
  for (const auto& w : states) {
    const std::string pk = partition_key(w.topic, w.partition);
    compares.push_back(w.expected_mod_revision == 0 ? etcd::Compare::create_revision_is(pk, 0)
                                                    : etcd::Compare::mod_revision_is(pk, w.expected_mod_revision));
    puts.push_back(etcd::Op::put(pk, replication::encode_partition_state(w.state)));
  }
  const auto r = with_retries(timeouts_.retry_window, "writing " + key, [&] { return client_->txn(compares, puts, {}); });
  if (!r.succeeded) return false;
  wait_applied(r.revision);
  return true;
}

}  // namespace ferry::broker
