#include "dr-orchestrator/kafka_admin.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "client/kafka.h"
#include "common/clock.h"
#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/role_client.h"

namespace ferry::dr {

const char* to_string(ClusterRole r) { return r == ClusterRole::primary ? "primary" : "standby"; }

ClusterRole parse_cluster_role(const std::string& s) {
  if (s == "primary") return ClusterRole::primary;
  if (s == "standby") return ClusterRole::standby;
  throw std::invalid_argument(fmt::format("cluster role '{}' is neither \"primary\" nor \"standby\"", s));
}

struct RegionClient::Impl {
  std::unique_ptr<client::Admin> admin;
};

RegionClient::RegionClient(RegionConfig region, std::chrono::milliseconds timeout)
    : region_(std::move(region)), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  // Validate the properties now (librdkafka checks them when the conf is built), so a bad
  // client property is a configuration error at startup rather than a probe failure later.
  try {
    rd_kafka_conf_destroy(client::make_conf(region_.properties()));
  } catch (const std::invalid_argument& e) {
    throw DrError(Exit::bad_input, fmt::format("region {}: invalid client property: {}", region_.name, e.what()));
  }
}

RegionClient::~RegionClient() = default;

namespace {

// Beyond a request's own timeout, how long ferry-dr waits for librdkafka's answer to an Admin API
// call before calling the region unresponsive: short, because probes of a dead region must not
// stall `status` and `watch`.
constexpr std::chrono::milliseconds kAdminGrace{2000};

client::Admin& admin_of(std::unique_ptr<client::Admin>& a, const RegionConfig& r, std::chrono::milliseconds timeout) {
  if (!a) {
    auto props = r.properties();
    // A probe must fail fast when the region is gone instead of retrying for minutes.
    props.try_emplace("socket.connection.setup.timeout.ms", std::to_string(timeout.count()));
    props.try_emplace("client.id", "ferry-dr");
    a = std::make_unique<client::Admin>(props, timeout, kAdminGrace);
  }
  return *a;
}

// Metadata of every topic, bounded by `timeout`.
client::MetadataPtr all_metadata(client::Admin& admin, std::chrono::milliseconds timeout) {
  return client::metadata(admin.handle(), true, nullptr, timeout);
}

// Latest offsets of `parts` in one ListOffsets round (offsets_for_times with the "latest"
// timestamp -1, which librdkafka batches per leader).
void fill_end_offsets(rd_kafka_t* rk, std::vector<PartitionHealth>& parts, std::chrono::milliseconds timeout,
                      std::string& error) {
  std::vector<client::TopicPartitionKey> keys;
  for (const auto& p : parts)
    if (!p.offline()) keys.emplace_back(p.topic, p.partition);
  if (keys.empty()) return;
  std::map<client::TopicPartitionKey, client::PartitionOffset> got;
  try {
    got = client::list_offsets(rk, keys, client::kListOffsetsLatest, timeout);
  } catch (const client::KafkaError& e) {
    error = fmt::format("ListOffsets: {}", e.code());
    return;
  }
  for (auto& p : parts) {
    auto it = got.find({p.topic, p.partition});
    if (it == got.end()) continue;
    if (it->second.err == RD_KAFKA_RESP_ERR_NO_ERROR)
      p.log_end_offset = it->second.offset;
    else if (error.empty())
      error = fmt::format("ListOffsets {}-{}: {}", p.topic, p.partition, rd_kafka_err2name(it->second.err));
  }
}

}  // namespace

RegionHealth RegionClient::probe() {
  RegionHealth h;
  h.region = region_.name;
  std::vector<std::string> errors;
  // A region whose brokers are all gone refuses connections: say so at once rather than after
  // librdkafka's full request timeout.
  if (std::string why = tcp_unreachable_reason(region_.bootstrap_servers, std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(3)));
      !why.empty()) {
    h.error = why;
    h.probed_at_ms = wall_clock_ms();
    return h;
  }
  try {
    client::Admin& admin = admin_of(impl_->admin, region_, timeout_);
    rd_kafka_t* rk = admin.handle();
    client::MetadataPtr md = all_metadata(admin, timeout_);
    h.reachable = true;
    h.brokers = md->broker_cnt;
    // librdkafka 2.0.2 has no DescribeCluster; its controllerid() is Metadata's controller_id.
    h.controller_id = rd_kafka_controllerid(rk, static_cast<int>(timeout_.count()));
    std::vector<std::string> topics;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (std::string_view(t.topic).starts_with("__")) continue;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errors.push_back(fmt::format("topic {}: {}", t.topic, rd_kafka_err2name(t.err)));
        continue;
      }
      topics.push_back(t.topic);
      for (int j = 0; j < t.partition_cnt; ++j) {
        const auto& p = t.partitions[j];
        PartitionHealth ph;
        ph.topic = t.topic;
        ph.partition = p.id;
        ph.leader = p.err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ? -1 : p.leader;
        ph.replicas.assign(p.replicas, p.replicas + p.replica_cnt);
        ph.isr.assign(p.isrs, p.isrs + p.isr_cnt);
        h.partition_details.push_back(std::move(ph));
      }
    }
    if (!topics.empty()) {
      try {
        const auto configs = admin.describe_configs(RD_KAFKA_RESOURCE_TOPIC, topics);
        for (const auto& [t, rc] : configs)
          if (rc.err != RD_KAFKA_RESP_ERR_NO_ERROR)
            errors.push_back(fmt::format("DescribeConfigs topic {}: {}: {}", t, rd_kafka_err2name(rc.err), rc.error));
        for (auto& p : h.partition_details) {
          auto it = configs.find(p.topic);
          if (it == configs.end()) continue;
          if (auto mi = it->second.values.find("min.insync.replicas"); mi != it->second.values.end()) {
            try {
              p.min_isr = std::stoi(mi->second);
            } catch (const std::exception&) {
            }
          }
        }
      } catch (const client::KafkaError& e) {
        errors.push_back(fmt::format("DescribeConfigs topics: {}", e.what()));
      }
    }
    std::string lo_error;
    fill_end_offsets(rk, h.partition_details, timeout_, lo_error);
    if (!lo_error.empty()) errors.push_back(lo_error);
    if (md->broker_cnt > 0) {
      try {
        h.role = to_string(cluster_role());
      } catch (const DrError& e) {
        errors.push_back(e.what());
      }
    }
  } catch (const client::KafkaError& e) {
    errors.push_back(fmt::format("{} ({})", e.what(), e.code()));
  } catch (const std::exception& e) {
    errors.push_back(e.what());
  }
  if (!region_.metrics_url.empty()) {
    try {
      http_get(region_.metrics_url, timeout_);
      h.metrics_up = true;
    } catch (const MirrorError& e) {
      h.metrics_up = false;
      errors.push_back(fmt::format("metrics: {}", e.what()));
    }
  }
  recount(h);
  for (size_t i = 0; i < errors.size(); ++i) h.error += (i ? "; " : "") + errors[i];
  h.probed_at_ms = wall_clock_ms();
  return h;
}

ClusterRole RegionClient::cluster_role() {
  try {
    client::Admin& admin = admin_of(impl_->admin, region_, timeout_);
    client::MetadataPtr md = all_metadata(admin, timeout_);
    if (md->broker_cnt == 0) throw DrError(Exit::failed, fmt::format("region {}: Metadata lists no broker", region_.name));
    const int32_t broker = md->brokers[0].id;
    const auto c = admin.describe_broker_configs(broker);
    auto it = c.find(kClusterRoleKey);
    // A broker that does not list the key has no role support: it accepts writes, like a primary.
    if (it == c.end()) return ClusterRole::primary;
    try {
      return parse_cluster_role(it->second);
    } catch (const std::invalid_argument& e) {
      throw DrError(Exit::failed, fmt::format("region {}: broker {}: {}", region_.name, broker, e.what()));
    }
  } catch (const client::KafkaError& e) {
    throw DrError(Exit::failed, fmt::format("region {}: reading {}: {} ({})", region_.name, kClusterRoleKey, e.what(), e.code()));
  }
}

void RegionClient::set_cluster_role(ClusterRole role) {
  try {
    incremental_alter_broker_configs(region_.properties(), "",
                                     {ConfigOp{kClusterRoleKey, ConfigOp::Kind::set, std::string(to_string(role))}},
                                     timeout_);
  } catch (const KafkaRequestError& e) {
    throw DrError(Exit::failed, fmt::format("region {}: setting {}={}: {}", region_.name, kClusterRoleKey, to_string(role),
                                            e.what()));
  } catch (const std::invalid_argument& e) {
    throw DrError(Exit::bad_input, fmt::format("region {}: {}", region_.name, e.what()));
  }
}

std::map<TopicPartition, int64_t> RegionClient::log_end_offsets(const std::vector<std::string>& topics) {
  try {
    client::Admin& admin = admin_of(impl_->admin, region_, timeout_);
    client::MetadataPtr md = all_metadata(admin, timeout_);
    const std::set<std::string> requested(topics.begin(), topics.end());
    std::set<std::string> wanted = requested;  // the requested topics not found yet
    std::vector<PartitionHealth> parts;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      const bool want = requested.empty() ? !std::string_view(t.topic).starts_with("__") : requested.count(t.topic) > 0;
      if (!want || t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      wanted.erase(t.topic);
      for (int j = 0; j < t.partition_cnt; ++j) {
        PartitionHealth p;
        p.topic = t.topic;
        p.partition = t.partitions[j].id;
        p.leader = 0;  // fill_end_offsets skips leaderless partitions; here the broker decides
        parts.push_back(std::move(p));
      }
    }
    if (!topics.empty() && !wanted.empty())
      throw DrError(Exit::failed, fmt::format("region {}: topic '{}' does not exist", region_.name, *wanted.begin()));
    std::string error;
    fill_end_offsets(admin.handle(), parts, timeout_, error);
    if (!error.empty()) throw DrError(Exit::failed, fmt::format("region {}: {}", region_.name, error));
    std::map<TopicPartition, int64_t> out;
    for (const auto& p : parts) {
      if (p.log_end_offset < 0)
        throw DrError(Exit::failed, fmt::format("region {}: no log end offset for {}-{}", region_.name, p.topic, p.partition));
      out[{p.topic, p.partition}] = p.log_end_offset;
    }
    return out;
  } catch (const client::KafkaError& e) {
    throw DrError(Exit::failed, fmt::format("region {}: {} ({})", region_.name, e.what(), e.code()));
  }
}

ClusterRole cluster_role(const RegionConfig& region) { return RegionClient(region).cluster_role(); }
void set_cluster_role(const RegionConfig& region, ClusterRole role) { RegionClient(region).set_cluster_role(role); }
std::map<TopicPartition, int64_t> log_end_offsets(const RegionConfig& region, const std::vector<std::string>& topics) {
  return RegionClient(region).log_end_offsets(topics);
}
RegionHealth probe(const RegionConfig& region) { return RegionClient(region).probe(); }

}  // namespace ferry::dr
