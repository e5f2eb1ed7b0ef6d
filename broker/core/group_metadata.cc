#include "broker/core/group_metadata.h"
#include "common/clock.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "broker/core/replica_manager.h"
#include "broker/storage/batch_records.h"
#include "broker/storage/batch_writer.h"

namespace ferry::broker {
namespace {

using groups::Bytes;
using protocol::ErrorCode;

// Records per batch when a write is large: keeps each batch far below max.message.bytes.
constexpr size_t kRecordsPerBatch = 500;

std::string_view as_view(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// Decodes one UTF-8 code point at s[i], advancing i; malformed input yields U+FFFD for one byte.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80; };
  auto c = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k]) & 0x3F); };
  uint32_t cp = 0xFFFD;
  size_t len = 1;
  if (b0 < 0x80) {
    cp = b0;
  } else if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    cp = ((b0 & 0x1Fu) << 6) | c(1);
    len = cp >= 0x80 ? 2 : 1;
    if (len == 1) cp = 0xFFFD;
  } else if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    cp = ((b0 & 0x0Fu) << 12) | (c(1) << 6) | c(2);
    len = 3;
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD, len = 1;
  } else if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    cp = ((b0 & 0x07u) << 18) | (c(1) << 12) | (c(2) << 6) | c(3);
    len = 4;
    if (cp < 0x10000 || cp > 0x10FFFF) cp = 0xFFFD, len = 1;
  }
  i += len;
  return cp;
}

}  // namespace

int32_t offsets_partition_for(std::string_view group_id, int32_t partitions) {
  // Java's String.hashCode: h = 31*h + c over UTF-16 code units, in 32-bit wrap-around arithmetic.
  uint32_t h = 0;
  for (size_t i = 0; i < group_id.size();) {
    uint32_t cp = next_code_point(group_id, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = 31 * h + (0xD800 + (cp >> 10));
      h = 31 * h + (0xDC00 + (cp & 0x3FF));
    } else {
      h = 31 * h + cp;
    }
  }
  // Kafka's Utils.abs maps Integer.MIN_VALUE to 0 rather than overflowing.
  const auto signed_h = static_cast<int32_t>(h);
  const int32_t abs_h = signed_h == INT32_MIN ? 0 : (signed_h < 0 ? -signed_h : signed_h);
  return abs_h % partitions;
}

GroupMetadataManager::GroupMetadataManager(ReplicaManager& replicas, const BrokerConfig& config)
    : replicas_(replicas),
      num_partitions_(static_cast<int32_t>(config.values.get_int("offsets.topic.num.partitions"))),
      segment_bytes_(config.values.get_int("offsets.topic.segment.bytes")),
      retention_ms_(config.values.get_int("offsets.retention.minutes") * 60'000),
      max_metadata_bytes_(static_cast<size_t>(config.values.get_int("offset.metadata.max.bytes"))) {}

GroupLoadReport GroupMetadataManager::load(int64_t now_ms) {
  const std::string topic(kConsumerOffsetsTopic);
  auto meta = replicas_.topic(topic);
  if (!meta && replicas_.cluster_mode()) {
    // A region on etcd: the topic is placed over its brokers when groups first need it, not by
    // whichever broker happens to start first (Kafka creates it on the first FindCoordinator).
    std::lock_guard lk(mu_);
    loaded_ = true;
    return {};
  }
  if (!meta) {
    auto r = replicas_.create_topic(topic, num_partitions_, 1,
                                    {{"cleanup.policy", "compact"}, {"segment.bytes", std::to_string(segment_bytes_)}},
                                    false);
    if (!r.ok() && r.code != ErrorCode::TOPIC_ALREADY_EXISTS)
      throw std::runtime_error(fmt::format("cannot create {}: {}", topic, r.message));
    meta = replicas_.topic(topic);
    if (!meta) throw std::runtime_error(fmt::format("{} vanished right after being created", topic));
    spdlog::info("created {} with {} partitions", topic, meta->partitions);
  }
  if (meta->partitions != num_partitions_)
    spdlog::warn("{} has {} partitions; offsets.topic.num.partitions={} applies only when it is created", topic,
                 meta->partitions, num_partitions_);

  GroupLoadReport report;
  std::map<std::string, groups::GroupSnapshot> snapshots;
  std::lock_guard lk(mu_);
  for (int32_t p = 0; p < meta->partitions; ++p) {
    auto part = replicas_.partition(topic, p);
    if (!part && replicas_.cluster_mode()) continue;  // a replica on other brokers only
    if (!part) throw std::runtime_error(fmt::format("{}-{} is not open", topic, p));
    // On a region on etcd groups are loaded when leadership arrives (load_partition).
    if (replicas_.cluster_mode()) continue;
    read_partition_locked(*part, now_ms, snapshots, report);
  }
  finish_report_locked(now_ms, snapshots, report, [](const std::string&) { return true; });
  loaded_ = true;
  return report;
}

void GroupMetadataManager::read_partition_locked(Partition& part, int64_t now_ms,
                                                 std::map<std::string, groups::GroupSnapshot>& snapshots,
                                                 GroupLoadReport& report) {
  const std::string& topic = part.topic();
  const int32_t p = part.index();
  auto& log = part.log();
  int64_t offset = log.log_start_offset();
  const int64_t end = log.log_end_offset();
  std::vector<uint8_t> scratch;
  while (offset < end) {
    auto [err, data] = log.read(offset, 4 << 20, end, true);
    if (err != storage::errc::ok) throw std::runtime_error(fmt::format("cannot read {}-{} at offset {}", topic, p, offset));
    if (data.records.empty()) break;
    size_t pos = 0;
    const int64_t before = offset;
    while (pos < data.records.size()) {
      auto h = storage::parse_batch_header(data.records.data() + pos, data.records.size() - pos);
      if (!h || h->size_in_bytes() > data.records.size() - pos) break;
      if (!h->is_control()) {
        std::string why = storage::for_each_record(
            data.records.data() + pos, h->size_in_bytes(), *h, false, scratch, [&](const storage::RecordView& r) {
              ++report.records;
              if (h->base_offset + r.offset_delta >= offset)
                apply_loaded(r.key, r.key_length, r.value, r.value_length, now_ms, snapshots, report.skipped);
              return true;
            });
        if (!why.empty()) {
          spdlog::warn("{}-{}: skipping unreadable batch at offset {}: {}", topic, p, h->base_offset, why);
          ++report.skipped;
        }
      }
      offset = h->last_offset() + 1;
      pos += h->size_in_bytes();
    }
    if (offset == before) break;  // nothing readable: never spin
  }
}

void GroupMetadataManager::finish_report_locked(int64_t now_ms, std::map<std::string, groups::GroupSnapshot>& snapshots,
                                                GroupLoadReport& report,
                                                const std::function<bool(const std::string&)>& include) {
  // Groups known only through their offsets were simple (standalone) groups: Empty, no protocol.
  for (const auto& [group, g] : groups_) {
    if (!include(group)) continue;
    if (!snapshots.contains(group)) {
      groups::GroupSnapshot s;
      s.group_id = group;
      s.state_timestamp_ms = now_ms;
      snapshots.emplace(group, std::move(s));
    }
    report.offsets += g.offsets.size();
  }
  for (auto& [_, s] : snapshots) report.groups.push_back(std::move(s));
}

int32_t GroupMetadataManager::partition_of(const std::string& group_id) const {
  auto meta = replicas_.topic(std::string(kConsumerOffsetsTopic));
  if (!meta || meta->partitions <= 0) return -1;
  return offsets_partition_for(group_id, meta->partitions);
}

bool GroupMetadataManager::coordinates(const std::string& group_id) const {
  std::lock_guard lk(mu_);
  if (!replicas_.cluster_mode()) return loaded_;
  const int32_t p = partition_of(group_id);
  return p >= 0 && owned_.contains(p);
}

GroupLoadReport GroupMetadataManager::load_partition(int32_t partition, int64_t now_ms) {
  auto part = replicas_.partition(std::string(kConsumerOffsetsTopic), partition);
  if (!part) throw std::runtime_error(fmt::format("{}-{} is not open here", kConsumerOffsetsTopic, partition));
  GroupLoadReport report;
  std::map<std::string, groups::GroupSnapshot> snapshots;
  std::lock_guard lk(mu_);
  auto mine = [&](const std::string& g) { return partition_of(g) == partition; };
  // Whatever an earlier leadership of this partition left here is stale: read it afresh.
  for (auto it = groups_.begin(); it != groups_.end();) it = mine(it->first) ? groups_.erase(it) : std::next(it);
  read_partition_locked(*part, now_ms, snapshots, report);
  finish_report_locked(now_ms, snapshots, report, mine);
  owned_.insert(partition);
  loaded_ = true;
  return report;
}

std::vector<std::string> GroupMetadataManager::unload_partition(int32_t partition) {
  std::lock_guard lk(mu_);
  std::vector<std::string> ids;
  owned_.erase(partition);
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (partition_of(it->first) == partition) {
      ids.push_back(it->first);
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }
  return ids;
}

void GroupMetadataManager::apply_loaded(const uint8_t* key, int32_t key_len, const uint8_t* value, int32_t value_len,
                                        int64_t now_ms, std::map<std::string, groups::GroupSnapshot>& snapshots,
                                        size_t& skipped) {
  if (key_len < 0) {
    ++skipped;
    return;
  }
  std::optional<std::span<const uint8_t>> v;
  if (value_len >= 0) v = std::span<const uint8_t>(value, static_cast<size_t>(value_len));
  try {
    auto rec = groups::decode_record(std::span<const uint8_t>(key, static_cast<size_t>(key_len)), v);
    if (auto* o = std::get_if<groups::OffsetRecord>(&rec)) {
      PartitionKey pk{o->key.topic, o->key.partition};
      if (o->value) {
        groups_[o->key.group].offsets[pk] = *o->value;
      } else if (auto it = groups_.find(o->key.group); it != groups_.end()) {
        it->second.offsets.erase(pk);
        if (it->second.offsets.empty() && !snapshots.contains(o->key.group)) groups_.erase(it);
      }
    } else {
      auto& g = std::get<groups::GroupRecord>(rec);
      if (g.value) {
        snapshots[g.key.group] = groups::to_snapshot(g.key, *g.value, now_ms);
        groups_[g.key.group].protocol_type = g.value->protocol_type;
      } else {
        // A group tombstone is written with the tombstones of all its offsets (DeleteGroups).
        snapshots.erase(g.key.group);
        groups_.erase(g.key.group);
      }
    }
  } catch (const groups::UnknownKeyVersion& e) {
    // KIP-915: records of coordinators this broker does not run are skipped, not fatal.
    spdlog::debug("{}: skipping record with key version {}", kConsumerOffsetsTopic, e.version());
    ++skipped;
  } catch (const std::exception& e) {
    spdlog::warn("{}: skipping undecodable record: {}", kConsumerOffsetsTopic, e.what());
    ++skipped;
  }
}

std::shared_ptr<Partition> GroupMetadataManager::partition_for(const std::string& group_id) const {
  auto meta = replicas_.topic(std::string(kConsumerOffsetsTopic));
  if (!meta) return nullptr;
  return replicas_.partition(meta->name, offsets_partition_for(group_id, meta->partitions));
}

GroupWrite GroupMetadataManager::append_locked(const std::string& group_id,
                                               const std::vector<std::pair<Bytes, std::optional<Bytes>>>& records) {
  GroupWrite out;
  if (!loaded_) {
    out.error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    return out;
  }
  if (records.empty()) return out;
  auto part = partition_for(group_id);
  if (!part) {
    out.error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    return out;
  }
  if (replicas_.cluster_mode() && !owned_.contains(part->index())) {
    out.error = ErrorCode::NOT_COORDINATOR;  // the group's partition is led elsewhere now
    return out;
  }
  const int64_t now = wall_clock_ms();
  std::vector<uint8_t> blob;
  for (size_t i = 0; i < records.size(); i += kRecordsPerBatch) {
    std::vector<storage::NewRecord> batch;
    for (size_t j = i; j < std::min(records.size(), i + kRecordsPerBatch); ++j) {
      const auto& [k, v] = records[j];
      batch.push_back({as_view(k), v ? std::optional<std::string_view>(as_view(*v)) : std::nullopt});
    }
    auto b = storage::build_batch(batch, now);
    blob.insert(blob.end(), b.begin(), b.end());
  }
  auto v = storage::validate_produce_records(blob.data(), blob.size(), part->max_message_bytes());
  if (v.error != storage::errc::ok) {
    spdlog::error("{}-{}: group {} write refused: {}", part->topic(), part->index(), group_id, v.message);
    out.error = to_kafka_error(v.error);
    ++write_errors_;
    return out;
  }
  auto res = part->append(blob, v.batches, now);
  if (res.error != ErrorCode::NONE) {
    spdlog::error("{}-{}: group {} write failed: {}", part->topic(), part->index(), group_id,
                  protocol::error_name(res.error));
    out.error = res.error;
    ++write_errors_;
    return out;
  }
  replicas_.request_flush(part);
  out.partition = part;
  out.end_offset = res.result.last_offset + 1;
  return out;
}

void GroupMetadataManager::persist(const groups::GroupSnapshot& snapshot) {
  std::lock_guard lk(mu_);
  auto value = groups::encode_value(groups::to_group_value(snapshot));
  auto w = append_locked(snapshot.group_id, {{groups::encode_key(groups::GroupMetadataKey{snapshot.group_id}), value}});
  if (w.error == ErrorCode::NONE) groups_[snapshot.group_id].protocol_type = snapshot.protocol_type;
}

ErrorCode GroupMetadataManager::check(const groups::GroupSnapshot& snapshot) const {
  auto part = partition_for(snapshot.group_id);
  if (!part) return ErrorCode::COORDINATOR_NOT_AVAILABLE;
  // A one-record batch: header, record framing (at most ~25 bytes of varints), key and value.
  constexpr size_t kOverhead = storage::kBatchHeaderSize + 32;
  const size_t bytes = kOverhead + groups::encode_key(groups::GroupMetadataKey{snapshot.group_id}).size() +
                       groups::encode_value(groups::to_group_value(snapshot)).size();
  return bytes > static_cast<size_t>(part->max_message_bytes()) ? ErrorCode::UNKNOWN_SERVER_ERROR : ErrorCode::NONE;
}

void GroupMetadataManager::remove(const std::string& group_id) {
  std::lock_guard lk(mu_);
  std::vector<std::pair<Bytes, std::optional<Bytes>>> records;
  if (auto it = groups_.find(group_id); it != groups_.end())
    for (const auto& [pk, _] : it->second.offsets)
      records.emplace_back(groups::encode_key(groups::OffsetKey{group_id, pk.first, pk.second}), std::nullopt);
  records.emplace_back(groups::encode_key(groups::GroupMetadataKey{group_id}), std::nullopt);
  auto w = append_locked(group_id, records);
  if (w.error == ErrorCode::NONE) groups_.erase(group_id);
}

GroupWrite GroupMetadataManager::commit(const std::string& group_id, const std::vector<TopicPartitionOffset>& offsets) {
  std::lock_guard lk(mu_);
  std::vector<std::pair<Bytes, std::optional<Bytes>>> records;
  records.reserve(offsets.size());
  for (const auto& o : offsets)
    records.emplace_back(groups::encode_key(groups::OffsetKey{group_id, o.topic, o.partition}),
                         groups::encode_value(o.value));
  auto w = append_locked(group_id, records);
  if (w.error == ErrorCode::NONE && !offsets.empty()) {
    auto& g = groups_[group_id];
    for (const auto& o : offsets) g.offsets[{o.topic, o.partition}] = o.value;
  }
  return w;
}

std::map<std::pair<std::string, int32_t>, groups::OffsetValue> GroupMetadataManager::offsets(
    const std::string& group_id) const {
  std::lock_guard lk(mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return {};
  return it->second.offsets;
}

GroupWrite GroupMetadataManager::delete_offsets(const std::string& group_id,
                                                const std::vector<std::pair<std::string, int32_t>>& partitions) {
  std::lock_guard lk(mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return {};
  std::vector<std::pair<Bytes, std::optional<Bytes>>> records;
  std::vector<PartitionKey> gone;
  for (const auto& pk : partitions) {
    if (!it->second.offsets.contains(pk)) continue;
    records.emplace_back(groups::encode_key(groups::OffsetKey{group_id, pk.first, pk.second}), std::nullopt);
    gone.push_back(pk);
  }
  auto w = append_locked(group_id, records);
  if (w.error == ErrorCode::NONE)
    for (const auto& pk : gone) it->second.offsets.erase(pk);
  return w;
}

std::vector<std::string> GroupMetadataManager::expire_offsets(
    int64_t now_ms, const std::function<std::optional<int64_t>(const std::string&)>& empty_since_ms) {
  // Decide on a copy: asking the coordinator for group states must not happen under mu_.
  std::map<std::string, GroupOffsets> snapshot;
  {
    std::lock_guard lk(mu_);
    snapshot = groups_;
  }
  std::map<std::string, std::vector<PartitionKey>> due;
  for (const auto& [group, g] : snapshot) {
    const auto empty_since = g.offsets.empty() ? std::nullopt : empty_since_ms(group);
    if (!empty_since) continue;  // a group with members keeps its offsets
    for (const auto& [pk, v] : g.offsets) {
      bool expired;
      if (v.expire_timestamp >= 0)
        expired = now_ms >= v.expire_timestamp;
      else if (!g.protocol_type.empty())
        expired = now_ms - *empty_since >= retention_ms_;
      else
        expired = now_ms - v.commit_timestamp >= retention_ms_;
      if (expired) due[group].push_back(pk);
    }
  }
  std::vector<std::string> emptied;
  for (const auto& [group, parts] : due) {
    auto w = delete_offsets(group, parts);
    if (w.error != ErrorCode::NONE) continue;
    spdlog::info("group {}: {} committed offsets expired (offsets.retention.minutes)", group, parts.size());
    std::lock_guard lk(mu_);
    auto it = groups_.find(group);
    if (it == groups_.end() || it->second.offsets.empty()) emptied.push_back(group);
  }
  return emptied;
}

bool GroupMetadataManager::has_offsets(const std::string& group_id) const {
  std::lock_guard lk(mu_);
  auto it = groups_.find(group_id);
  return it != groups_.end() && !it->second.offsets.empty();
}

size_t GroupMetadataManager::write_errors() const {
  std::lock_guard lk(mu_);
  return write_errors_;
}

}  // namespace ferry::broker
