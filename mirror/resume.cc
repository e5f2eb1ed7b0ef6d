#include "mirror/resume.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "mirror/provenance.h"

namespace ferry::mirror {
namespace {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;

}  // namespace

void read_range(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                const std::function<void(const rd_kafka_message_t&)>& each) {
  if (from >= to) return;
  PartitionList list(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = from;
  if (auto err = rd_kafka_assign(probe, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw client::KafkaError(err, fmt::format("reading {}-{}: {}", topic, partition, rd_kafka_err2str(err)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int64_t next = from;
  while (next < to) {
    if (std::chrono::steady_clock::now() > deadline) {
      rd_kafka_assign(probe, nullptr);
      throw client::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT,
                               fmt::format("reading {}-{} [{}, {}): stuck at {}", topic, partition, from, to, next));
    }
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> m(rd_kafka_consumer_poll(probe, 200),
                                                                         &rd_kafka_message_destroy);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;  // the partition ends before `to`
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Transient fetch errors are retried by librdkafka; anything else ends the read.
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) continue;
      rd_kafka_assign(probe, nullptr);
      throw client::KafkaError(m->err, fmt::format("reading {}-{}: {}", topic, partition, rd_kafka_message_errstr(m.get())));
    }
    if (m->offset >= to) break;
    next = m->offset + 1;
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    each(*m);
  }
  rd_kafka_assign(probe, nullptr);
}

void for_each_replicated(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                         std::string_view source_alias, int32_t source_partition,
                         const std::function<void(int64_t, int64_t)>& each) {
  read_range(probe, topic, partition, from, to, [&](const rd_kafka_message_t& m) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    const void* value = nullptr;
    size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, std::string(kUpstreamHeader).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
      return;
    auto ref = parse_upstream(std::string_view(static_cast<const char*>(value), size));
    if (ref && ref->source_alias == source_alias && ref->partition == source_partition) each(ref->offset, m.offset);
  });
}

std::optional<ReplicatedTail> find_replicated_tail(rd_kafka_t* probe, client::Admin& target, const std::string& topic,
                                                   int32_t partition, std::string_view source_alias,
                                                   int32_t source_partition) {
  const auto w = target.watermarks(topic, partition);
  int64_t end = w.high;
  int64_t window = 1000;
  while (end > w.low) {
    const int64_t start = std::max(w.low, end - window);
    std::optional<ReplicatedTail> tail;
    for_each_replicated(probe, topic, partition, start, end, source_alias, source_partition,
                        [&](int64_t up, int64_t down) { tail = ReplicatedTail{up, down}; });
    if (tail) return tail;
    end = start;
    window *= 4;
  }
  return std::nullopt;
}

}  // namespace ferry::mirror
