#include "mirror/resume.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "mirror/fetch_waker.h"
#include "mirror/provenance.h"

namespace ferry::mirror {
namespace {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)>;

}  // namespace

void read_ranges(rd_kafka_t* probe, const std::vector<RangeQuery>& ranges,
                 const std::function<bool(size_t, const rd_kafka_message_t&)>& each) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())),
                     &rd_kafka_topic_partition_list_destroy);
  std::map<std::pair<std::string_view, int32_t>, size_t> index;
  std::vector<int64_t> next(ranges.size());
  size_t open = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const auto& r = ranges[i];
    next[i] = r.from;
    if (r.from >= r.to) continue;
    if (!index.emplace(std::pair<std::string_view, int32_t>(r.topic, r.partition), i).second)
      throw std::invalid_argument(fmt::format("read_ranges: {}-{} asked twice", r.topic, r.partition));
    rd_kafka_topic_partition_list_add(list.get(), r.topic.c_str(), r.partition)->offset = r.from;
    ++open;
  }
  if (open == 0) return;
  if (auto err = rd_kafka_assign(probe, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw client::KafkaError(err, fmt::format("reading {} partition(s): {}", open, rd_kafka_err2str(err)));
  std::vector<bool> finished(ranges.size(), false);
  // A probe with small queues (the cluster's client properties) would otherwise stall up to 1 s
  // every time its queue fills (fetch_refill.h): a read of a long range is woken like the data path.
  FetchKeeper keeper("probe");
  keeper.attach(probe);
  auto keep_fetching = [&](const rd_kafka_message_t* m) {
    if (!keeper.due(m)) return;
    std::vector<client::TopicPartitionKey> open_ranges;
    for (size_t i = 0; i < ranges.size(); ++i)
      if (!finished[i] && ranges[i].from < ranges[i].to) open_ranges.emplace_back(ranges[i].topic, ranges[i].partition);
    keeper.wake(std::move(open_ranges));
  };
  auto fail = [&](rd_kafka_resp_err_t err, const std::string& what) {
    keeper.detach();
    rd_kafka_assign(probe, nullptr);
    throw client::KafkaError(err, what);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (open > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      for (size_t i = 0; i < ranges.size(); ++i)
        if (!finished[i] && ranges[i].from < ranges[i].to)
          fail(RD_KAFKA_RESP_ERR__TIMED_OUT, fmt::format("reading {}-{} [{}, {}): stuck at {} for 60 s ({} range(s) open)",
                                                         ranges[i].topic, ranges[i].partition, ranges[i].from,
                                                         ranges[i].to, next[i], open));
    }
    MessagePtr m(rd_kafka_consumer_poll(probe, 200), &rd_kafka_message_destroy);
    keep_fetching(m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? m.get() : nullptr);
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // Transient fetch errors are retried by librdkafka; anything else ends the read.
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) continue;
      const std::string where = m->rkt ? fmt::format("{}-{}", rd_kafka_topic_name(m->rkt), m->partition) : "the cluster";
      fail(m->err, fmt::format("reading {}: {}", where, rd_kafka_message_errstr(m.get())));
    }
    if (!m->rkt) continue;
    auto it = index.find({rd_kafka_topic_name(m->rkt), m->partition});
    if (it == index.end()) continue;
    const size_t i = it->second;
    if (finished[i]) continue;  // fetched before its range ended
    bool done = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->offset >= ranges[i].to;
    if (!done) {
      next[i] = m->offset + 1;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      done = !each(i, *m) || next[i] >= ranges[i].to;
    }
    if (done) {
      finished[i] = true;
      --open;
    }
  }
  keeper.detach();
  rd_kafka_assign(probe, nullptr);
}

void read_range(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                const std::function<void(const rd_kafka_message_t&)>& each) {
  read_ranges(probe, {{topic, partition, from, to}}, [&](size_t, const rd_kafka_message_t& m) {
    each(m);
    return true;
  });
}

std::optional<int64_t> upstream_offset_of(const rd_kafka_message_t& m, std::string_view source_alias,
                                          int32_t source_partition) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, std::string(kUpstreamHeader).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  auto ref = parse_upstream(std::string_view(static_cast<const char*>(value), size));
  if (ref && ref->source_alias == source_alias && ref->partition == source_partition) return ref->offset;
  return std::nullopt;
}

std::vector<std::optional<ReplicatedTail>> find_replicated_tails(rd_kafka_t* probe, client::Admin& target,
                                                                 const std::vector<TailQuery>& queries,
                                                                 std::string_view source_alias) {
  struct Scan {
    int64_t low = 0, start = 0, end = 0;  // the window being read is [start, end)
    int64_t window = 1000;
    bool done = false;
    std::optional<ReplicatedTail> found;
  };
  std::vector<client::TopicPartitionKey> keys;
  for (const auto& q : queries) keys.emplace_back(q.topic, q.partition);
  const auto marks = target.watermarks(keys);
  std::vector<Scan> scans;
  for (const auto& key : keys) {
    const auto& w = marks.at(key);
    if (w.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw client::KafkaError(w.err, fmt::format("ListOffsets {}-{}: {}", key.first, key.second, rd_kafka_err2str(w.err)));
    Scan sc;
    sc.low = w.low;
    sc.start = std::max(w.low, w.high - sc.window);
    sc.end = w.high;
    sc.done = w.high <= w.low;
    scans.push_back(sc);
  }
  for (;;) {
    std::vector<RangeQuery> ranges;
    std::vector<size_t> scan_of;
    for (size_t i = 0; i < queries.size(); ++i) {
      if (scans[i].done) continue;
      ranges.push_back({queries[i].topic, queries[i].partition, scans[i].start, scans[i].end});
      scan_of.push_back(i);
    }
    if (ranges.empty()) break;
    read_ranges(probe, ranges, [&](size_t r, const rd_kafka_message_t& m) {
      auto& sc = scans[scan_of[r]];
      if (auto up = upstream_offset_of(m, source_alias, queries[scan_of[r]].partition))
        sc.found = ReplicatedTail{*up, m.offset, sc.low};
      return true;
    });
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
