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
  char errstr[512] = "";
  rd_kafka_t* rk = rd_kafka_new(type, conf.raw(), errstr, sizeof errstr);
  if (rk == nullptr) throw BenchError(fmt::format("cannot create librdkafka client: {}", errstr));
  conf.release();  // rd_kafka_new owns the conf only once it succeeded
  return KafkaHandle(rk, KafkaDestroy{destroy_flags});
}

}  // namespace

KafkaConfig::KafkaConfig(const std::string& bootstrap) : conf_(rd_kafka_conf_new()) {
  rd_kafka_conf_set_error_cb(conf_, report_client_error);
  set("bootstrap.servers", bootstrap);
  set("client.id", "ferry-bench");
  // A stale broker connection being closed is normal during shutdown, not news.
  set("log.connection.close", "false");
}

KafkaConfig::~KafkaConfig() {
  if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
}

KafkaConfig& KafkaConfig::set(const std::string& key, const std::string& value) {
  char errstr[512] = "";
  if (rd_kafka_conf_set(conf_, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    throw BenchError(fmt::format("librdkafka rejected {}={}: {}", key, value, errstr));
  }
  settings_.emplace_back(key, value);
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

void require_metadata(const std::string& bootstrap, std::chrono::milliseconds timeout) {
  KafkaConfig conf(bootstrap);
  KafkaHandle rk = make_producer(conf);
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_resp_err_t err =
          rd_kafka_metadata(rk.get(), 0, nullptr, &md, static_cast<int>(timeout.count()));
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("broker {} did not answer Metadata within {} ms: {}", bootstrap,
                                 timeout.count(), rd_kafka_err2str(err)));
  }
  rd_kafka_metadata_destroy(md);
}

void create_topics(const std::string& bootstrap, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout) {
  KafkaConfig conf(bootstrap);
  KafkaHandle admin = make_producer(conf);
  char errstr[512] = "";

  // The admin handle is never polled, so its error callback stays silent; a bare Metadata
  // request turns "nothing listening" into a short, clear failure instead of a CreateTopics
  // timeout.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_resp_err_t err = rd_kafka_metadata(admin.get(), 0, nullptr, &md, 5000);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("broker {} did not answer Metadata within 5 s: {}", bootstrap,
                                 rd_kafka_err2str(err)));
  }
  rd_kafka_metadata_destroy(md);

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  auto free_topics = [&new_topics] {
    for (auto* t : new_topics) rd_kafka_NewTopic_destroy(t);
  };
  for (const auto& spec : topics) {
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, 1, errstr, sizeof errstr);
    if (t == nullptr) {
      free_topics();
      throw BenchError(fmt::format("invalid topic {}: {}", spec.name, errstr));
    }
    new_topics.push_back(t);
  }

  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  const int timeout_ms = static_cast<int>(timeout.count());
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, errstr, sizeof errstr);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(admin.get());
  rd_kafka_CreateTopics(admin.get(), new_topics.data(), new_topics.size(), options, queue);
  // Margin over the request timeout so librdkafka reports its own timeout first.
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 5000);

  std::string failure;
  if (event == nullptr) {
    failure = fmt::format("no CreateTopics result within {} ms", timeout_ms + 5000);
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = fmt::format("CreateTopics failed: {}", rd_kafka_event_error_string(event));
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* detail = rd_kafka_topic_result_error_string(results[i]);
        failure += fmt::format("{}CreateTopics {}: {} ({})", failure.empty() ? "" : "; ",
                               rd_kafka_topic_result_name(results[i]),
                               rd_kafka_err2name(rd_kafka_topic_result_error(results[i])),
                               detail != nullptr ? detail : "no message");
      }
    }
    if (failure.empty() && count != topics.size()) {
      failure = fmt::format("CreateTopics answered for {} of {} topics", count, topics.size());
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  free_topics();
  if (!failure.empty()) throw BenchError(failure);
}

void wait_for_leaders(rd_kafka_t* rk, rd_kafka_topic_t* rkt, int partitions,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last = fmt::format("Metadata request failed: {}", rd_kafka_err2str(err));
    } else {
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
      rd_kafka_metadata_destroy(md);
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
                                           std::chrono::milliseconds timeout) {
  BrokerConfigValues out;
  for (const auto& key : keys) out.values[key] = std::nullopt;

  KafkaConfig conf(bootstrap);
  KafkaHandle admin = make_producer(conf);
  const int timeout_ms = static_cast<int>(timeout.count());
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_resp_err_t err = rd_kafka_metadata(admin.get(), 0, nullptr, &md, timeout_ms);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.error = fmt::format("Metadata failed: {}", rd_kafka_err2str(err));
    return out;
  }
  // Broker resources must name a node id; the one that just answered is the one measured.
  const std::string node = std::to_string(md->orig_broker_id);
  rd_kafka_metadata_destroy(md);

  char errstr[512] = "";
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, node.c_str());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, sizeof errstr);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(admin.get());
  rd_kafka_DescribeConfigs(admin.get(), &resource, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 5000);

  if (event == nullptr) {
    out.error = fmt::format("no DescribeConfigs result within {} ms", timeout_ms + 5000);
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.error = fmt::format("DescribeConfigs failed: {}", rd_kafka_event_error_string(event));
  } else {
    size_t count = 0;
    const rd_kafka_ConfigResource_t** results = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(event), &count);
    if (count != 1) {
      out.error = fmt::format("DescribeConfigs answered for {} resources, 1 asked", count);
    } else if (rd_kafka_ConfigResource_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* detail = rd_kafka_ConfigResource_error_string(results[0]);
      out.error = fmt::format("DescribeConfigs broker {}: {} ({})", node,
                              rd_kafka_err2name(rd_kafka_ConfigResource_error(results[0])),
                              detail != nullptr ? detail : "no message");
    } else {
      size_t entries = 0;
      const rd_kafka_ConfigEntry_t** configs =
          rd_kafka_ConfigResource_configs(results[0], &entries);
      for (size_t i = 0; i < entries; ++i) {
        auto it = out.values.find(rd_kafka_ConfigEntry_name(configs[i]));
        const char* value = rd_kafka_ConfigEntry_value(configs[i]);
        if (it != out.values.end() && value != nullptr) it->second = value;
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  return out;
}

}  // namespace ferry::bench
