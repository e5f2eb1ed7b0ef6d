#include "bench/kafka_client.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <thread>

#include "bench/bench_error.h"

namespace ferry::bench {
namespace {

void report_client_error(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  std::fprintf(stderr, "ferry-bench: librdkafka %s: %s: %s\n", rd_kafka_name(rk),
               rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

KafkaHandle make_handle(rd_kafka_type_t type, KafkaConfig& conf, int destroy_flags) {
  try {
    return client::make_handle(type, conf.release(), destroy_flags);
  } catch (const client::KafkaError& e) {
    throw BenchError(e.what());
  }
}

// The bench's own admin client: client::Admin with the bench's client.id, bounded by `timeout`.
client::Admin admin_client(const std::string& bootstrap, std::chrono::milliseconds timeout,
                           const ClientProperties& extra) {
  try {
    client::Properties props{{"bootstrap.servers", bootstrap}, {"client.id", "ferry-bench"}};
    for (const auto& [k, v] : extra) props[k] = v;
    return client::Admin(props, timeout);
  } catch (const std::exception& e) {
    throw BenchError(e.what());
  }
}

}  // namespace

KafkaConfig::KafkaConfig(const std::string& bootstrap, const ClientProperties& extra)
    : conf_(rd_kafka_conf_new()) {
  rd_kafka_conf_set_error_cb(conf_, report_client_error);
  set("bootstrap.servers", bootstrap);
  set("client.id", "ferry-bench");
  // A stale broker connection being closed is normal during shutdown, not news.
  set("log.connection.close", "false");
  for (const auto& [k, v] : extra) set(k, v);
}

KafkaConfig::~KafkaConfig() {
  if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
}

KafkaConfig& KafkaConfig::set(const std::string& key, const std::string& value) {
  try {
    client::set_property(conf_, key, value);
  } catch (const std::invalid_argument& e) {
    throw BenchError(e.what());
  }
  settings_.emplace_back(key, is_secret_property(key) ? std::string("(hidden)") : value);
  return *this;
}

KafkaHandle make_producer(KafkaConfig& conf) {
  return make_handle(RD_KAFKA_PRODUCER, conf, 0);
}

KafkaHandle make_consumer(KafkaConfig& conf) {
  KafkaHandle rk = make_handle(RD_KAFKA_CONSUMER, conf, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

TopicHandle open_topic(rd_kafka_t* rk, const std::string& name) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, name.c_str(), nullptr);
  if (rkt == nullptr) {
    throw BenchError(fmt::format("cannot open topic {}: {}", name,
                                 rd_kafka_err2str(rd_kafka_last_error())));
  }
  return TopicHandle(rkt);
}

void require_metadata(const std::string& bootstrap, std::chrono::milliseconds timeout,
                      const ClientProperties& extra) {
  KafkaConfig conf(bootstrap, extra);
  KafkaHandle rk = make_producer(conf);
  try {
    client::metadata(rk.get(), false, nullptr, timeout);
  } catch (const client::KafkaError& e) {
    throw BenchError(fmt::format("broker {} did not answer Metadata within {} ms: {}", bootstrap, timeout.count(),
                                 e.what()));
  }
}

void create_topics(const std::string& bootstrap, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout, const ClientProperties& extra) {
  // A bare Metadata request first turns "nothing listening" into a short, clear failure
  // instead of a CreateTopics timeout.
  require_metadata(bootstrap, std::chrono::seconds(5), extra);
  client::Admin admin = admin_client(bootstrap, timeout, extra);
  std::string failure;
  for (const auto& spec : topics) {
    try {
      if (!admin.create_topic(spec.name, spec.partitions, spec.replication_factor, spec.configs))
        failure += fmt::format("{}CreateTopics {}: TOPIC_ALREADY_EXISTS", failure.empty() ? "" : "; ", spec.name);
    } catch (const client::KafkaError& e) {
      failure += fmt::format("{}{} ({})", failure.empty() ? "" : "; ", e.what(), e.code());
    }
  }
  if (!failure.empty()) throw BenchError(failure);
}

void wait_for_leaders(rd_kafka_t* rk, rd_kafka_topic_t* rkt, int partitions,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    client::MetadataPtr md;
    try {
      md = client::metadata(rk, false, rkt, std::chrono::seconds(5));
    } catch (const client::KafkaError& e) {
      last = e.what();
    }
    if (md) {
      bool ready = false;
      if (md->topic_cnt != 1) {
        last = fmt::format("Metadata returned {} topics for one requested", md->topic_cnt);
      } else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        last = fmt::format("topic error {}", rd_kafka_err2name(md->topics[0].err));
      } else if (md->topics[0].partition_cnt != partitions) {
        last = fmt::format("{} partitions reported, {} created", md->topics[0].partition_cnt,
                           partitions);
      } else {
        ready = true;
        for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
          const auto& p = md->topics[0].partitions[i];
          if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.leader < 0) {
            last = fmt::format("partition {} has no leader ({})", p.id, rd_kafka_err2name(p.err));
            ready = false;
          }
        }
      }
      if (ready) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw BenchError(fmt::format("topic {} not ready after {} ms: {}", rd_kafka_topic_name(rkt),
                                   timeout.count(), last));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void assign_from_beginning(rd_kafka_t* rk, const std::string& topic, int partitions) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("assign({}) failed: {}", topic, rd_kafka_err2str(err)));
  }
}

std::optional<int64_t> BrokerConfigValues::get_int(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end() || !it->second) return std::nullopt;
  const std::string& text = *it->second;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bool> BrokerConfigValues::get_bool(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end() || !it->second) return std::nullopt;
  if (*it->second == "true") return true;
  if (*it->second == "false") return false;
  return std::nullopt;
}

BrokerConfigValues describe_broker_configs(const std::string& bootstrap,
                                           const std::vector<std::string>& keys,
                                           std::chrono::milliseconds timeout,
                                           const ClientProperties& extra) {
  BrokerConfigValues out;
  for (const auto& key : keys) out.values[key] = std::nullopt;
  try {
    client::Admin admin = admin_client(bootstrap, timeout, extra);
    // Broker resources must name a node id; the one that answers Metadata is the one measured.
    const int32_t node = client::metadata(admin.handle(), false, nullptr, timeout)->orig_broker_id;
    for (const auto& [key, value] : admin.describe_broker_configs(node)) {
      auto it = out.values.find(key);
      if (it != out.values.end()) it->second = value;
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace ferry::bench
