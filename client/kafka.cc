#include "client/kafka.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>

#include "client/wire_client.h"
#include "client/wire_offsets.h"

namespace ferry::client {
namespace {

void check(rd_kafka_resp_err_t err, const std::string& what) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(err, fmt::format("{}: {}", what, rd_kafka_err2str(err)));
}

void check(const rd_kafka_error_t* e, const std::string& what) {
  if (e) throw KafkaError(rd_kafka_error_code(e), fmt::format("{}: {}", what, rd_kafka_error_string(e)));
}

// Kafka routes librdkafka's own log through spdlog at debug: its connection chatter is noise for
// an operator, and real failures surface as errors from the calls.
void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (level <= 3)
    spdlog::warn("librdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  else
    spdlog::debug("librdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
}

}  // namespace

PartitionListPtr partition_list(int size) { return PartitionListPtr(rd_kafka_topic_partition_list_new(size)); }

KafkaError::KafkaError(rd_kafka_resp_err_t err, const std::string& what) : std::runtime_error(what), err_(err) {}

bool KafkaError::retriable() const {
  switch (err_) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
      return true;
    default:
      return false;
  }
}

void set_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    throw std::invalid_argument(fmt::format("client property '{}' = \"{}\": {}", key,
                                            key.ends_with("password") ? "[redacted]" : value, errstr));
}

rd_kafka_conf_t* make_conf(const Properties& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    for (const auto& [k, v] : props) set_property(conf, k, v);
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_log_cb(conf, &log_cb);
  return conf;
}

void HandleDeleter::operator()(rd_kafka_t* rk) const {
  forget_wire_offsets(rk);
  if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER) rd_kafka_flush(rk, 10'000);
  rd_kafka_destroy_flags(rk, destroy_flags);
}

Handle make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf, int destroy_flags) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, fmt::format("cannot create a Kafka client: {}", errstr));
  }
  return Handle(rk, HandleDeleter{destroy_flags});
}

AdminOptionsPtr admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
  AdminOptionsPtr opts(rd_kafka_AdminOptions_new(rk, op));
  char errstr[256];
  const int ms = static_cast<int>(timeout.count());
  rd_kafka_AdminOptions_set_request_timeout(opts.get(), ms, errstr, sizeof errstr);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
      op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
    rd_kafka_AdminOptions_set_operation_timeout(opts.get(), ms, errstr, sizeof errstr);
  return opts;
}

EventPtr await_admin_result(rd_kafka_t* rk, std::chrono::milliseconds timeout, const std::string& what,
                            const std::function<void(rd_kafka_queue_t*)>& start, std::chrono::milliseconds grace) {
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> q(rd_kafka_queue_new(rk), &rd_kafka_queue_destroy);
  start(q.get());
  EventPtr ev(rd_kafka_queue_poll(q.get(), static_cast<int>((timeout + grace).count())));
  const std::string prefix = what.empty() ? "" : what + ": ";
  if (!ev) throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, prefix + "no reply from the cluster");
  if (auto err = rd_kafka_event_error(ev.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* s = rd_kafka_event_error_string(ev.get());
    throw KafkaError(err, prefix + (s ? s : rd_kafka_err2str(err)));
  }
  return ev;
}

MetadataPtr metadata(rd_kafka_t* rk, bool all_topics, rd_kafka_topic_t* only, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  check(rd_kafka_metadata(rk, all_topics ? 1 : 0, only, &md, static_cast<int>(timeout.count())), "Metadata");
  return MetadataPtr(md);
}

Admin::Admin(const Properties& props, std::chrono::milliseconds timeout, std::chrono::milliseconds grace)
    : rk_(make_handle(RD_KAFKA_PRODUCER, make_conf(props))), timeout_(timeout), grace_(grace) {}

namespace {

// One Admin API request on `rk` with options for `op`, bounded by `timeout` + `grace`
// (await_admin_result).
EventPtr run(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout, std::chrono::milliseconds grace,
             const std::string& what, const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& start) {
  AdminOptionsPtr opts = admin_options(rk, op, timeout);
  return await_admin_result(rk, timeout, what, [&](rd_kafka_queue_t* q) { start(opts.get(), q); }, grace);
}

}  // namespace

std::vector<TopicInfo> Admin::topics() {
  MetadataPtr md = metadata(rk_.get(), true, nullptr, timeout_);
  std::vector<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    // librdkafka 2.0 does not expose Metadata's is_internal; Kafka's only internal topics are
    // the double-underscore ones.
    out.push_back({t.topic, t.partition_cnt, std::string_view(t.topic).starts_with("__")});
  }
  return out;
}

namespace {

// One WireOffsets per librdkafka handle, made from the handle's own configuration on first use
// and dropped by HandleDeleter. The fingerprint guards against a handle created elsewhere and
// freed without HandleDeleter, whose address a new handle with another cluster may reuse.
struct WireOffsetsEntry {
  std::string fingerprint;
  std::shared_ptr<WireOffsets> client;
};
std::mutex wire_offsets_mu;
std::map<const rd_kafka_t*, WireOffsetsEntry>& wire_offsets_registry() {
  static std::map<const rd_kafka_t*, WireOffsetsEntry> registry;
  return registry;
}

std::shared_ptr<WireOffsets> wire_offsets_for(rd_kafka_t* rk) {
  std::map<std::string, std::string> props;
  size_t n = 0;
  const char** dump = rd_kafka_conf_dump(const_cast<rd_kafka_conf_t*>(rd_kafka_conf(rk)), &n);
  for (size_t i = 0; i + 1 < n; i += 2) props[dump[i]] = dump[i + 1];
  rd_kafka_conf_dump_free(dump, n);
  std::string fingerprint;
  for (const char* k : {"metadata.broker.list", "security.protocol", "sasl.username", "sasl.password",
                        "ssl.ca.location", "ssl.certificate.location", "isolation.level"})
    fingerprint += props[k] + '\n';
  std::lock_guard lk(wire_offsets_mu);
  auto& entry = wire_offsets_registry()[rk];
  if (!entry.client || entry.fingerprint != fingerprint) {
    entry.client = std::make_shared<WireOffsets>(props, props["client.id"]);
    entry.fingerprint = std::move(fingerprint);
  }
  return entry.client;
}

rd_kafka_resp_err_t wire_error_code(const WireError& e) {
  if (e.code() == "NETWORK") return RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (e.code() == "SSL_HANDSHAKE") return RD_KAFKA_RESP_ERR__SSL;
  if (e.code() == "SASL_AUTHENTICATION_FAILED") return RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED;
  if (e.code() == "UNSUPPORTED_SASL_MECHANISM") return RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM;
  if (e.code() == "UNSUPPORTED_VERSION") return RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE;
  return RD_KAFKA_RESP_ERR__FAIL;
}

}  // namespace

void forget_wire_offsets(const rd_kafka_t* rk) {
  std::shared_ptr<WireOffsets> gone;  // its connections close outside the lock
  std::lock_guard lk(wire_offsets_mu);
  auto& registry = wire_offsets_registry();
  if (auto it = registry.find(rk); it != registry.end()) {
    gone = std::move(it->second.client);
    registry.erase(it);
  }
}

std::map<TopicPartitionKey, PartitionOffset> list_offsets(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions,
                                                          int64_t timestamp, std::chrono::milliseconds timeout) {
  std::map<TopicPartitionKey, PartitionOffset> out;
  if (partitions.empty()) return out;
  const bool special = timestamp == kListOffsetsLatest || timestamp == kListOffsetsEarliest;
  std::map<TopicPartitionKey, WireOffset> got;
  try {
    got = wire_offsets_for(rk)->list(partitions, timestamp, timeout);
  } catch (const WireError& e) {
    throw KafkaError(wire_error_code(e), fmt::format("ListOffsets of {} partition(s): {}", partitions.size(), e.what()));
  } catch (const std::invalid_argument& e) {
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, fmt::format("ListOffsets: {}", e.what()));
  }
  size_t unknown = 0, unreachable = 0;
  for (const auto& [key, o] : got) {
    PartitionOffset po;
    if (o.unknown) {
      po.err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
      ++unknown;
    } else if (o.unreachable) {
      po.err = RD_KAFKA_RESP_ERR__TRANSPORT;
      ++unreachable;
    } else if (o.error != 0) {
      po.err = static_cast<rd_kafka_resp_err_t>(o.error);  // Kafka's codes are librdkafka's broker errors
    } else {
      po.offset = o.offset;
      // A leader that answered no offset for "latest"/"earliest" (-1) answered nothing usable.
      if (special && po.offset < 0) po.err = RD_KAFKA_RESP_ERR__BAD_MSG;
    }
    out[key] = po;
  }
  if (unknown == out.size())
    throw KafkaError(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
                     fmt::format("ListOffsets of {} partition(s): none is known to the cluster", partitions.size()));
  if (unreachable == out.size())
    throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT,
                     fmt::format("ListOffsets of {} partition(s): no leader reachable within {} ms", partitions.size(),
                                 timeout.count()));
  return out;
}

void wake_leaders(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions, std::chrono::milliseconds timeout) {
  // At most 1,000 partitions per call: rd_kafka_offsets_for_times matches each answer to its
  // request by a linear search.
  constexpr size_t kChunk = 1000;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (size_t i = 0; i < partitions.size(); i += kChunk) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    PartitionListPtr list = partition_list(static_cast<int>(std::min(kChunk, partitions.size() - i)));
    for (size_t j = i; j < std::min(partitions.size(), i + kChunk); ++j)
      rd_kafka_topic_partition_list_add(list.get(), partitions[j].first.c_str(), partitions[j].second)->offset =
          kListOffsetsLatest;
    rd_kafka_offsets_for_times(rk, list.get(), static_cast<int>(left.count()));  // the answer is not used
  }
}

void refresh_topic_metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr),
                                                                     &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* md = nullptr;
  if (rkt && rd_kafka_metadata(rk, 0, rkt.get(), &md, static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR)
    rd_kafka_metadata_destroy(md);
}

std::map<TopicPartitionKey, PartitionWatermarks> watermarks(rd_kafka_t* rk, const std::vector<TopicPartitionKey>& partitions,
                                                            std::chrono::milliseconds timeout) {
  std::map<TopicPartitionKey, PartitionWatermarks> out;
  if (partitions.empty()) return out;
  // A partition (or a whole request) unknown to librdkafka's metadata cache: refresh its topics
  // once and ask again.
  auto ask = [&](const std::vector<TopicPartitionKey>& parts, int64_t at) {
    std::map<TopicPartitionKey, PartitionOffset> got;
    try {
      got = list_offsets(rk, parts, at, timeout);
    } catch (const KafkaError& e) {
      if (e.err() != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) throw;
      for (const auto& p : parts) got[p] = {-1, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION};
    }
    std::vector<TopicPartitionKey> unknown;
    std::set<std::string> topics;
    for (const auto& [key, po] : got)
      if (po.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        unknown.push_back(key);
        topics.insert(key.first);
      }
    if (!unknown.empty()) {
      for (const auto& t : topics) refresh_topic_metadata(rk, t, timeout);
      try {
        for (auto& [key, po] : list_offsets(rk, unknown, at, timeout)) got[key] = po;
      } catch (const KafkaError& e) {
        if (e.err() != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) throw;
      }
    }
    return got;
  };
  const auto low = ask(partitions, kListOffsetsEarliest);
  const auto high = ask(partitions, kListOffsetsLatest);
  for (const auto& p : partitions) {
    PartitionWatermarks w;
    const auto l = low.find(p), h = high.find(p);
    if (l == low.end() || h == high.end()) {
      w.err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    } else if (l->second.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      w.err = l->second.err;
    } else if (h->second.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      w.err = h->second.err;
    } else {
      w.low = l->second.offset;
      w.high = h->second.offset;
    }
    out[p] = w;
  }
  return out;
}

Watermarks watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition, std::chrono::milliseconds timeout) {
  const PartitionWatermarks w = watermarks(rk, {{topic, partition}}, timeout).at({topic, partition});
  check(w.err, fmt::format("ListOffsets {}-{}", topic, partition));
  return {w.low, w.high};
}

std::map<TopicPartitionKey, PartitionWatermarks> Admin::watermarks(const std::vector<TopicPartitionKey>& partitions) {
  return client::watermarks(rk_.get(), partitions, timeout_);
}

Watermarks Admin::watermarks(const std::string& topic, int32_t partition) {
  return client::watermarks(rk_.get(), topic, partition, timeout_);
}

bool Admin::create_topic(const std::string& name, int32_t partitions, int replication_factor,
                         const std::map<std::string, std::string>& configs) {
  char errstr[256];
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> nt(
      rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, errstr, sizeof errstr),
      &rd_kafka_NewTopic_destroy);
  if (!nt) throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, fmt::format("CreateTopics {}: {}", name, errstr));
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
  rd_kafka_NewTopic_t* arr[] = {nt.get()};
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_, grace_, "CreateTopics " + name,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) { rd_kafka_CreateTopics(rk_.get(), arr, 1, o, q); });
  size_t n = 0;
  const auto** res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    auto err = rd_kafka_topic_result_error(res[i]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return false;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_topic_result_error_string(res[i]);
      throw KafkaError(err, fmt::format("CreateTopics {}: {}", name, s ? s : rd_kafka_err2str(err)));
    }
  }
  return true;
}

void Admin::create_partitions(const std::string& name, int32_t total) {
  char errstr[256];
  std::unique_ptr<rd_kafka_NewPartitions_t, void (*)(rd_kafka_NewPartitions_t*)> np(
      rd_kafka_NewPartitions_new(name.c_str(), static_cast<size_t>(total), errstr, sizeof errstr),
      &rd_kafka_NewPartitions_destroy);
  if (!np) throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, fmt::format("CreatePartitions {}: {}", name, errstr));
  rd_kafka_NewPartitions_t* arr[] = {np.get()};
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_, grace_, "CreatePartitions " + name,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) { rd_kafka_CreatePartitions(rk_.get(), arr, 1, o, q); });
  size_t n = 0;
  const auto** res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) check(rd_kafka_topic_result_error(res[i]), "CreatePartitions " + name);
}

std::map<std::string, ResourceConfigs> Admin::describe_configs(rd_kafka_ResourceType_t type,
                                                             const std::vector<std::string>& names, bool overrides_only) {
  std::map<std::string, ResourceConfigs> configs;
  if (names.empty()) return configs;
  using Resource = std::unique_ptr<rd_kafka_ConfigResource_t, void (*)(rd_kafka_ConfigResource_t*)>;
  std::vector<Resource> owned;
  std::vector<rd_kafka_ConfigResource_t*> arr;
  for (const auto& n : names) {
    owned.emplace_back(rd_kafka_ConfigResource_new(type, n.c_str()), &rd_kafka_ConfigResource_destroy);
    arr.push_back(owned.back().get());
  }
  const std::string what = fmt::format("DescribeConfigs {}{}{}", type == RD_KAFKA_RESOURCE_BROKER ? "broker " : "",
                                       names.front(), names.size() > 1 ? " and others" : "");
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_, grace_, what,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                  rd_kafka_DescribeConfigs(rk_.get(), arr.data(), arr.size(), o, q);
                });
  size_t n = 0;
  const auto** out = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    ResourceConfigs& rc = configs[rd_kafka_ConfigResource_name(out[i])];
    if (auto err = rd_kafka_ConfigResource_error(out[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_ConfigResource_error_string(out[i]);
      rc.err = err;
      rc.error = s && *s ? s : rd_kafka_err2str(err);
      continue;
    }
    size_t m = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(out[i], &m);
    for (size_t j = 0; j < m; ++j) {
      if (overrides_only && rd_kafka_ConfigEntry_source(entries[j]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) continue;
      if (const char* v = rd_kafka_ConfigEntry_value(entries[j])) rc.values[rd_kafka_ConfigEntry_name(entries[j])] = v;
    }
  }
  return configs;
}

std::map<std::string, std::map<std::string, std::string>> Admin::describe_topic_configs(
    const std::vector<std::string>& names, bool overrides_only) {
  std::map<std::string, std::map<std::string, std::string>> configs;
  for (auto& [name, rc] : describe_configs(RD_KAFKA_RESOURCE_TOPIC, names, overrides_only)) {
    if (rc.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw KafkaError(rc.err, fmt::format("DescribeConfigs {}: {}", name, rd_kafka_err2str(rc.err)));
    configs[name] = std::move(rc.values);
  }
  return configs;
}

std::map<std::string, std::string> Admin::describe_broker_configs(int32_t node_id) {
  const std::string node = std::to_string(node_id);
  auto got = describe_configs(RD_KAFKA_RESOURCE_BROKER, {node});
  const std::string what = "DescribeConfigs broker " + node;
  auto it = got.find(node);
  if (got.size() != 1 || it == got.end())
    throw KafkaError(RD_KAFKA_RESP_ERR__BAD_MSG, fmt::format("{}: answered for {} resources", what, got.size()));
  if (it->second.err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError(it->second.err, fmt::format("{}: {}", what, it->second.error));
  return std::move(it->second.values);
}

std::map<std::string, std::string> Admin::topic_overrides(const std::string& name) {
  return describe_topic_configs({name}, true)[name];
}

void Admin::alter_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs) {
  std::unique_ptr<rd_kafka_ConfigResource_t, void (*)(rd_kafka_ConfigResource_t*)> res(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str()), &rd_kafka_ConfigResource_destroy);
  for (const auto& [k, v] : configs) rd_kafka_ConfigResource_set_config(res.get(), k.c_str(), v.c_str());
  rd_kafka_ConfigResource_t* arr[] = {res.get()};
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_ALTERCONFIGS, timeout_, grace_, "AlterConfigs " + name,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) { rd_kafka_AlterConfigs(rk_.get(), arr, 1, o, q); });
  size_t n = 0;
  const auto** out = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) check(rd_kafka_ConfigResource_error(out[i]), "AlterConfigs " + name);
}

std::vector<GroupListing> Admin::list_groups() {
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_, grace_, "ListGroups",
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) { rd_kafka_ListConsumerGroups(rk_.get(), o, q); });
  const auto* result = rd_kafka_event_ListConsumerGroups_result(ev.get());
  size_t nerr = 0;
  const auto** errs = rd_kafka_ListConsumerGroups_result_errors(result, &nerr);
  if (nerr > 0) check(errs[0], "ListGroups");
  size_t n = 0;
  const auto** valid = rd_kafka_ListConsumerGroups_result_valid(result, &n);
  std::vector<GroupListing> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back({rd_kafka_ConsumerGroupListing_group_id(valid[i]),
                   rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(valid[i])),
                   rd_kafka_ConsumerGroupListing_is_simple_consumer_group(valid[i]) != 0});
  }
  return out;
}

std::vector<GroupOffset> Admin::group_offsets(const std::string& group) {
  std::unique_ptr<rd_kafka_ListConsumerGroupOffsets_t, void (*)(rd_kafka_ListConsumerGroupOffsets_t*)> req(
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr), &rd_kafka_ListConsumerGroupOffsets_destroy);
  rd_kafka_ListConsumerGroupOffsets_t* arr[] = {req.get()};
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_, grace_, "OffsetFetch " + group,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                  rd_kafka_ListConsumerGroupOffsets(rk_.get(), arr, 1, o, q);
                });
  size_t n = 0;
  const auto** res =
      rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
  std::vector<GroupOffset> out;
  for (size_t i = 0; i < n; ++i) {
    check(rd_kafka_group_result_error(res[i]), "OffsetFetch " + group);
    const auto* parts = rd_kafka_group_result_partitions(res[i]);
    for (int j = 0; parts && j < parts->cnt; ++j) {
      const auto& p = parts->elems[j];
      if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.offset < 0) continue;
      out.push_back({p.topic, p.partition, p.offset,
                     p.metadata ? std::string(static_cast<const char*>(p.metadata), p.metadata_size) : ""});
    }
  }
  return out;
}

void Admin::alter_group_offsets(const std::string& group, const std::vector<GroupOffset>& offsets) {
  auto list = partition_list(static_cast<int>(offsets.size()));
  for (const auto& o : offsets) rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), o.partition)->offset = o.offset;
  std::unique_ptr<rd_kafka_AlterConsumerGroupOffsets_t, void (*)(rd_kafka_AlterConsumerGroupOffsets_t*)> req(
      rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list.get()), &rd_kafka_AlterConsumerGroupOffsets_destroy);
  rd_kafka_AlterConsumerGroupOffsets_t* arr[] = {req.get()};
  auto ev = run(rk_.get(), RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_, grace_, "OffsetCommit " + group,
                [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                  rd_kafka_AlterConsumerGroupOffsets(rk_.get(), arr, 1, o, q);
                });
  size_t n = 0;
  const auto** res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    check(rd_kafka_group_result_error(res[i]), "OffsetCommit " + group);
    const auto* parts = rd_kafka_group_result_partitions(res[i]);
    for (int j = 0; parts && j < parts->cnt; ++j)
      check(parts->elems[j].err, fmt::format("OffsetCommit {} {}-{}", group, parts->elems[j].topic, parts->elems[j].partition));
  }
}

}  // namespace ferry::client
