#include "mirror/resume.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "mirror/provenance.h"

namespace ferry::mirror {
namespace {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;

}  // namespace

namespace {

// read_range, stopping early once `each` returns false.
void read_range_while(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                      const std::function<bool(const rd_kafka_message_t&)>& each) {
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
    if (!each(*m)) break;
  }
  rd_kafka_assign(probe, nullptr);
}

}  // namespace

void read_range(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                const std::function<void(const rd_kafka_message_t&)>& each) {
  read_range_while(probe, topic, partition, from, to, [&](const rd_kafka_message_t& m) {
    each(m);
    return true;
  });
}

std::optional<int64_t> first_record_offset(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from,
                                           int64_t to) {
  std::optional<int64_t> first;
  read_range_while(probe, topic, partition, from, to, [&](const rd_kafka_message_t& m) {
    first = m.offset;
    return false;
  });
  return first;
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

std::vector<std::optional<ReplicatedTail>> find_replicated_tails(rd_kafka_t* probe, client::Admin& target,
                                                                 const std::vector<TailQuery>& queries,
                                                                 std::string_view source_alias) {
  struct Scan {
    int64_t low = 0, start = 0, end = 0;  // the window being read is [start, end)
    int64_t window = 1000;
    int64_t next = 0;
    bool done = false;
    std::optional<ReplicatedTail> found;
  };
  std::vector<Scan> scans;
  for (const auto& q : queries) {
    const auto w = target.watermarks(q.topic, q.partition);
    Scan sc;
    sc.low = w.low;
    sc.start = std::max(w.low, w.high - sc.window);
    sc.end = w.high;
    sc.done = w.high <= w.low;
    scans.push_back(sc);
  }
  std::map<std::pair<std::string, int32_t>, size_t> index;
  for (size_t i = 0; i < queries.size(); ++i) index[{queries[i].topic, queries[i].partition}] = i;
  for (;;) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(queries.size())),
                       &rd_kafka_topic_partition_list_destroy);
    size_t reading = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      auto& sc = scans[i];
      if (sc.done) continue;
      sc.next = sc.start;
      rd_kafka_topic_partition_list_add(list.get(), queries[i].topic.c_str(), queries[i].partition)->offset = sc.start;
      ++reading;
    }
    if (reading == 0) break;
    if (auto err = rd_kafka_assign(probe, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw client::KafkaError(err, fmt::format("reading the target to resume: {}", rd_kafka_err2str(err)));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    size_t open = reading;
    std::vector<bool> finished(queries.size(), false);
    while (open > 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        rd_kafka_assign(probe, nullptr);
        throw client::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "reading the target to resume: no progress for 60 s");
      }
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> m(rd_kafka_consumer_poll(probe, 200),
                                                                           &rd_kafka_message_destroy);
      if (!m) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) continue;
        rd_kafka_assign(probe, nullptr);
        throw client::KafkaError(m->err, fmt::format("reading the target to resume: {}", rd_kafka_message_errstr(m.get())));
      }
      if (!m->rkt) continue;
      auto it = index.find({rd_kafka_topic_name(m->rkt), m->partition});
      if (it == index.end()) continue;
      const size_t i = it->second;
      auto& sc = scans[i];
      if (sc.done || finished[i]) continue;
      const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
      if (!eof && m->offset < sc.end) {
        sc.next = m->offset + 1;
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        rd_kafka_headers_t* hdrs = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(hdrs, std::string(kUpstreamHeader).c_str(), &value, &size) ==
                RD_KAFKA_RESP_ERR_NO_ERROR) {
          auto ref = parse_upstream(std::string_view(static_cast<const char*>(value), size));
          if (ref && ref->source_alias == source_alias && ref->partition == queries[i].partition)
            sc.found = ReplicatedTail{ref->offset, m->offset, sc.low};
        }
      }
      if (eof || m->offset >= sc.end - 1 || sc.next >= sc.end) {
        finished[i] = true;
        --open;
      }
    }
    rd_kafka_assign(probe, nullptr);
    for (auto& sc : scans) {
      if (sc.done) continue;
      // Found in this window, or nothing older left to read: this partition is settled.
      if (sc.found || sc.start <= sc.low) {
        sc.done = true;
        continue;
      }
      sc.end = sc.start;
      sc.window *= 4;
      sc.start = std::max(sc.low, sc.end - sc.window);
    }
  }
  std::vector<std::optional<ReplicatedTail>> out;
  for (auto& sc : scans) out.push_back(sc.found);
  return out;
}

}  // namespace ferry::mirror
