#include "bench/mirror_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <optional>
#include <thread>

#include "bench/bench_error.h"
#include "bench/http_get.h"
#include "bench/kafka_client.h"
#include "bench/payload.h"

namespace ferry::bench {
namespace {

// Fine enough that the first and last sighting cost < 1% of a copy lasting seconds; coarse
// enough that the polls (one ListOffsets each) are no load on the target broker.
constexpr int64_t kPollIntervalNs = 10'000'000;

using PartitionList =
    std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;

// One ListOffsets request for every partition (timestamp -1 asks for the log end offset);
// nullopt while the topic or a leader is unknown, which is normal right after creation.
std::optional<std::vector<int64_t>> query_end_offsets(rd_kafka_t* rk, const std::string& topic,
                                                      int partitions, int timeout_ms,
                                                      std::string& why) {
  PartitionList list(rd_kafka_topic_partition_list_new(partitions),
                     &rd_kafka_topic_partition_list_destroy);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
  }
  if (rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list.get(), timeout_ms);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    why = fmt::format("ListOffsets: {}", rd_kafka_err2name(err));
    return std::nullopt;
  }
  std::vector<int64_t> out(static_cast<size_t>(partitions), 0);
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.partition < 0 || e.partition >= partitions) {
      why = fmt::format("ListOffsets partition {}: {}", e.partition, rd_kafka_err2name(e.err));
      return std::nullopt;
    }
    out[static_cast<size_t>(e.partition)] = e.offset;
  }
  return out;
}

void require_running(MirrorProcess& mirror, const char* while_doing) {
  if (!mirror.running()) {
    throw BenchError(fmt::format("ferry-mirror ended ({}) while {}; last lines of {}:\n{}",
                                 mirror.exit_text(), while_doing, mirror.log_path(),
                                 mirror.log_tail(30)));
  }
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

std::vector<int64_t> end_offsets(const std::string& bootstrap, const std::string& topic,
                                 int partitions) {
  KafkaConfig conf(bootstrap);
  KafkaHandle rk = make_producer(conf);
  std::string why;
  auto offsets = query_end_offsets(rk.get(), topic, partitions, 10'000, why);
  if (!offsets) throw BenchError(fmt::format("end offsets of {} on {}: {}", topic, bootstrap, why));
  return *offsets;
}

MirrorCopyResult run_mirror_copy(const Options& options, MirrorProcess& mirror,
                                 const ProduceResult& source,
                                 const std::vector<std::string>& also_routed) {
  MirrorCopyResult result;
  result.source_topic = source.spec.topic;
  result.partitions = source.spec.partitions;
  result.records = source.records;
  result.bytes = source.bytes;
  result.poll_interval_ms = static_cast<double>(kPollIntervalNs) / 1e6;
  const int64_t start_ns = mirror.started_ns();
  const int64_t deadline_ns = start_ns + static_cast<int64_t>(options.mirror_seconds * 1e9);
  auto out_of_time = [&] { return monotonic_ns() >= deadline_ns; };

  while (!http_ok(options.mirror_status, "/healthz", std::chrono::milliseconds(500))) {
    require_running(mirror, "starting");
    if (out_of_time()) {
      throw BenchError(fmt::format("ferry-mirror did not answer {}/healthz within {} s; last lines "
                                   "of {}:\n{}",
                                   options.mirror_status, options.mirror_seconds,
                                   mirror.log_path(), mirror.log_tail(30)));
    }
    sleep_ms(20);
  }
  result.serving_seconds = seconds_between(start_ns, monotonic_ns());

  // The control thread creates a remote topic before it adds the route, so a listed route
  // means the remote topic exists on the target.
  while (true) {
    require_running(mirror, "discovering topics");
    const MirrorStatus status = fetch_mirror_status(options.mirror_status);
    const MirrorRoute* main = status.route_of(source.spec.topic);
    bool all = main != nullptr;
    for (const auto& t : also_routed) all = all && status.route_of(t) != nullptr;
    if (all) {
      result.remote_topic = main->remote_topic;
      for (const auto& t : also_routed) result.other_routes.push_back(*status.route_of(t));
      break;
    }
    if (out_of_time()) {
      throw BenchError(fmt::format(
          "ferry-mirror did not list {} (and {} other topic(s)) in {}/status within {} s; last "
          "error: {}",
          source.spec.topic, also_routed.size(), options.mirror_status, options.mirror_seconds,
          status.last_error.value_or("none")));
    }
    sleep_ms(50);
  }
  result.routed_seconds = seconds_between(start_ns, monotonic_ns());

  KafkaConfig conf(options.mirror_target);
  KafkaHandle rk = make_producer(conf);
  {
    TopicHandle rkt = open_topic(rk.get(), result.remote_topic);
    const int64_t left_ms = std::max<int64_t>(1000, (deadline_ns - monotonic_ns()) / 1'000'000);
    wait_for_leaders(rk.get(), rkt.get(), result.partitions, std::chrono::milliseconds(left_ms));
  }

  const auto& expected = source.per_partition;
  int64_t first_ns = 0, first_count = 0, last_ns = 0, last_count = 0;
  CpuSample cpu_at_first;
  int64_t stall_ns = 0, current_stall_ns = 0, longest_stall_ns = 0;
  int64_t stall_start_ns = 0, longest_stall_start_ns = 0;
  std::vector<int64_t> last_offsets(static_cast<size_t>(result.partitions), 0);
  std::string why;
  int64_t next_poll_ns = monotonic_ns();
  bool complete = false;
  while (!complete) {
    if (out_of_time()) {
      result.capped = true;
      break;
    }
    if (result.polls % 10 == 0) require_running(mirror, "copying");
    const int64_t now = monotonic_ns();
    if (now < next_poll_ns) std::this_thread::sleep_for(std::chrono::nanoseconds(next_poll_ns - now));
    next_poll_ns += kPollIntervalNs;
    auto offsets = query_end_offsets(rk.get(), result.remote_topic, result.partitions, 2000, why);
    const int64_t seen_ns = monotonic_ns();
    ++result.polls;
    if (!offsets) continue;
    // Offsets of a fresh remote topic start at 0, so an end offset counts the records there.
    const int64_t count = std::accumulate(offsets->begin(), offsets->end(), int64_t{0});
    last_offsets = *offsets;
    if (count > 0 && first_ns == 0) {
      cpu_at_first = sample_cpu(mirror.pid());
      first_ns = seen_ns;
      first_count = count;
      result.startup_seconds = seconds_between(start_ns, seen_ns);
    }
    if (first_ns != 0 && seen_ns != first_ns) {
      if (count == last_count) {
        stall_ns += seen_ns - last_ns;
        if (current_stall_ns == 0) stall_start_ns = last_ns;
        current_stall_ns += seen_ns - last_ns;
        if (current_stall_ns > longest_stall_ns) {
          longest_stall_ns = current_stall_ns;
          longest_stall_start_ns = stall_start_ns;
        }
      } else {
        current_stall_ns = 0;
      }
    }
    last_ns = seen_ns;
    last_count = count;
    complete = true;
    for (int p = 0; p < result.partitions; ++p) complete = complete && (*offsets)[p] >= expected[p];
  }

  if (first_ns == 0) {
    throw BenchError(fmt::format("{}: no record reached the target within {} s of starting the "
                                 "mirror (last poll: {})",
                                 result.remote_topic, options.mirror_seconds,
                                 why.empty() ? "empty" : why));
  }
  result.cpu = cpu_usage(cpu_at_first, sample_cpu(mirror.pid()));
  result.target_end_offsets = last_offsets;
  result.records_timed = std::min(last_count, source.records) - first_count;
  result.bytes_timed = result.records_timed * static_cast<int64_t>(options.record_size);
  result.seconds = seconds_between(first_ns, last_ns);
  result.stalled_seconds = static_cast<double>(stall_ns) / 1e9;
  result.longest_stall_ms = static_cast<double>(longest_stall_ns) / 1e6;
  if (longest_stall_ns > 0) {
    result.longest_stall_at_seconds = seconds_between(start_ns, longest_stall_start_ns);
  }
  result.total_seconds = seconds_between(start_ns, last_ns);
  if (result.records_timed <= 0 || result.seconds <= 0) {
    result.warnings.push_back(fmt::format(
        "{}: the first poll already found {} of {} records on the target, so no copy rate could "
        "be timed; raise --records",
        result.remote_topic, first_count, source.records));
  }
  if (last_count > source.records) {
    result.warnings.push_back(fmt::format(
        "{}: the target holds {} records, {} more than were produced (duplicates, or another "
        "writer)",
        result.remote_topic, last_count, last_count - source.records));
  }
  if (result.capped) {
    result.warnings.push_back(fmt::format(
        "{}: only {} of {} records reached the target within --mirror-seconds {}",
        result.remote_topic, std::min(last_count, source.records), source.records,
        options.mirror_seconds));
  }
  result.status = fetch_mirror_status(options.mirror_status);
  return result;
}

}  // namespace ferry::bench
