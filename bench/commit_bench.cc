#include "bench/commit_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <limits>

#include "bench/bench_error.h"
#include "bench/kafka_client.h"
#include "bench/payload.h"

namespace ferry::bench {
namespace {

// The fsync probes: appends of about one OffsetCommit record's size.
constexpr int64_t kFsyncWriteBytes = 100;
constexpr int64_t kFsyncMaxCount = 2000;
constexpr double kFsyncMaxSeconds = 1.0;

// Enough outstanding commits for a broker to batch many into one fsync, few enough that
// the drain after --seconds stays short.
constexpr int kAsyncWindow = 64;

// Fed by offset_commit_cb, which librdkafka runs inside rd_kafka_consumer_poll() on the
// measuring thread, so no synchronization is needed.
struct CommitState {
  // Commits whose offsets are at most this belong to the sync run. librdkafka also queues
  // offset_commit_cb for synchronous commits, and those may be served during the async run.
  int64_t sync_last_offset = std::numeric_limits<int64_t>::max();
  int64_t sync_callbacks = 0;
  int64_t async_completed = 0;
  int64_t async_ok = 0;
  int64_t async_last_ns = 0;
  int64_t failed = 0;
  std::string first_failure;
  int64_t poll_errors = 0;
};

void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
               void* opaque) {
  const int64_t now_ns = monotonic_ns();
  auto& state = *static_cast<CommitState*>(opaque);
  std::string failure;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) failure = rd_kafka_err2name(err);
  int64_t offset = -1;
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const auto& p = offsets->elems[i];
    offset = p.offset;
    if (failure.empty() && p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = fmt::format("partition {}: {}", p.partition, rd_kafka_err2name(p.err));
    }
  }
  const bool async = offset > state.sync_last_offset;
  if (!failure.empty() && state.failed++ == 0) {
    state.first_failure = fmt::format("commit of offset {}: {}", offset, failure);
  }
  if (async) {
    ++state.async_completed;
    if (failure.empty()) {
      ++state.async_ok;
      state.async_last_ns = now_ns;
    }
  } else {
    ++state.sync_callbacks;
  }
  // Return from rd_kafka_consumer_poll() now, so the window refills without waiting out
  // the poll timeout.
  rd_kafka_yield(rk);
}

// Serves queued callbacks; throws once any commit has failed.
void poll_once(rd_kafka_t* rk, CommitState& state, int timeout_ms) {
  if (rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, timeout_ms)) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
        state.poll_errors++ < 10) {
      std::fprintf(stderr, "ferry-bench: commit consumer: %s: %s\n", rd_kafka_err2name(msg->err),
                   rd_kafka_message_errstr(msg));
    }
    rd_kafka_message_destroy(msg);
  }
  if (state.failed > 0) {
    throw BenchError(fmt::format("offset commit: {} commit(s) failed; first: {}", state.failed,
                                 state.first_failure));
  }
}

struct PartitionList {
  explicit PartitionList(const std::string& topic, int partitions)
      : list(rd_kafka_topic_partition_list_new(partitions)) {
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }

  void set_offsets(int64_t offset) {
    for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = offset;
  }

  rd_kafka_topic_partition_list_t* list;
};

void wait_for_assignment(rd_kafka_t* rk, CommitState& state, int partitions,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const int count = assigned->cnt;
      rd_kafka_topic_partition_list_destroy(assigned);
      if (count == partitions) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw BenchError(fmt::format("offset commit: no assignment of {} partitions within {} ms",
                                   partitions, timeout.count()));
    }
    poll_once(rk, state, 100);
  }
}

// OffsetFetch after a run: every partition must hold the last offset committed to it.
void check_committed(rd_kafka_t* rk, const std::string& topic, int partitions, int64_t expected,
                     const char* run, std::vector<std::string>& warnings) {
  PartitionList check(topic, partitions);
  if (rd_kafka_resp_err_t err = rd_kafka_committed(rk, check.list, 10000);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    warnings.push_back(fmt::format("offset commit ({}): OffsetFetch failed: {}", run,
                                   rd_kafka_err2name(err)));
    return;
  }
  int wrong = 0;
  std::string first;
  for (int i = 0; i < check.list->cnt; ++i) {
    const auto& p = check.list->elems[i];
    if (p.err == RD_KAFKA_RESP_ERR_NO_ERROR && p.offset == expected) continue;
    if (wrong++ == 0) {
      first = fmt::format("partition {} holds {} ({})", p.partition, p.offset,
                          rd_kafka_err2name(p.err));
    }
  }
  if (wrong > 0) {
    warnings.push_back(fmt::format(
        "offset commit ({}): {} of {} partitions do not hold the last committed offset {}; "
        "first: {}",
        run, wrong, partitions, expected, first));
  }
}

}  // namespace

double fsync_per_s(const CommitResult& r) {
  const double seconds = r.fsync_before.seconds + r.fsync_after.seconds;
  return seconds > 0 ? static_cast<double>(r.fsync_before.count + r.fsync_after.count) / seconds
                     : 0;
}

CommitResult run_offset_commit(const Options& options, const std::string& topic,
                               const std::string& group,
                               std::optional<int64_t> broker_initial_delay_ms,
                               std::optional<bool> broker_flush_acks_all) {
  const auto partitions = static_cast<int>(options.commit_partitions);
  CommitResult result;
  result.topic = topic;
  result.group = group;
  result.partitions = partitions;
  result.broker_flush_acks_all = broker_flush_acks_all;
  result.async_window = kAsyncWindow;
  result.sync.partitions = partitions;
  result.async.partitions = partitions;

  CommitState state;
  KafkaConfig conf(options.bootstrap, options.client_properties);
  conf.set("group.id", group)
      .set("partition.assignment.strategy", "range")
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("enable.partition.eof", "false")
      // librdkafka 2.0.2 defaults, pinned for the report.
      .set("session.timeout.ms", "45000")
      .set("heartbeat.interval.ms", "3000");
  rd_kafka_conf_set_offset_commit_cb(conf.raw(), on_commit);
  rd_kafka_conf_set_opaque(conf.raw(), &state);
  result.client_settings = conf.settings();
  KafkaHandle rk = make_consumer(conf);
  {
    TopicHandle rkt = open_topic(rk.get(), topic);
    wait_for_leaders(rk.get(), rkt.get(), partitions, std::chrono::seconds(10));
  }
  rd_kafka_topic_partition_list_t* subscription = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subscription, topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t sub_err = rd_kafka_subscribe(rk.get(), subscription);
  rd_kafka_topic_partition_list_destroy(subscription);
  if (sub_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("subscribe({}) failed: {}", topic, rd_kafka_err2str(sub_err)));
  }
  wait_for_assignment(rk.get(), state, partitions,
                      std::chrono::seconds(30) +
                          std::chrono::milliseconds(broker_initial_delay_ms.value_or(3000)));

  result.fsync_before =
      measure_fsync_rate(options.data_dir, kFsyncWriteBytes, kFsyncMaxCount, kFsyncMaxSeconds);

  PartitionList offsets(topic, partitions);
  const auto run_ns = static_cast<int64_t>(options.seconds * 1e9);

  std::vector<int64_t> latency_ns;
  int64_t next_offset = 1;
  const int64_t sync_start_ns = monotonic_ns();
  int64_t sync_end_ns = sync_start_ns;
  while (sync_end_ns - sync_start_ns < run_ns) {
    offsets.set_offsets(next_offset);
    const int64_t call_ns = monotonic_ns();
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), offsets.list, 0);
    sync_end_ns = monotonic_ns();
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError(fmt::format("offset commit (sync) of offset {} failed: {}", next_offset,
                                   rd_kafka_err2name(err)));
    }
    latency_ns.push_back(sync_end_ns - call_ns);
    ++next_offset;
    poll_once(rk.get(), state, 0);
  }
  result.sync.commits = next_offset - 1;
  result.sync.seconds = seconds_between(sync_start_ns, sync_end_ns);
  result.sync.latency = summarize(latency_ns);
  state.sync_last_offset = next_offset - 1;
  check_committed(rk.get(), topic, partitions, state.sync_last_offset, "sync", result.warnings);

  int64_t issued = 0;
  const int64_t async_start_ns = monotonic_ns();
  while (monotonic_ns() - async_start_ns < run_ns) {
    if (issued - state.async_completed < kAsyncWindow) {
      offsets.set_offsets(next_offset);
      if (rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), offsets.list, 1);
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw BenchError(fmt::format("offset commit (async) of offset {} refused: {}", next_offset,
                                     rd_kafka_err2name(err)));
      }
      ++next_offset;
      ++issued;
      poll_once(rk.get(), state, 0);
    } else {
      poll_once(rk.get(), state, 10);
    }
  }
  const int64_t drain_deadline_ns = monotonic_ns() + 10'000'000'000;
  while (state.async_completed < issued) {
    if (monotonic_ns() >= drain_deadline_ns) {
      throw BenchError(fmt::format("offset commit (async): {} of {} commits unanswered 10 s after "
                                   "the run ended",
                                   issued - state.async_completed, issued));
    }
    poll_once(rk.get(), state, 10);
  }
  if (state.async_ok == 0) throw BenchError("offset commit (async): no commit completed");
  result.async.commits = state.async_ok;
  result.async.seconds = seconds_between(async_start_ns, state.async_last_ns);
  check_committed(rk.get(), topic, partitions, next_offset - 1, "async", result.warnings);

  if (state.sync_callbacks < result.sync.commits) {
    // rd_kafka_commit() returns one error for the whole request; per-partition errors of a
    // synchronous commit are only seen through its callback.
    result.warnings.push_back(fmt::format(
        "offset commit (sync): {} of {} commits never reached offset_commit_cb; their "
        "per-partition errors went unchecked",
        result.sync.commits - state.sync_callbacks, result.sync.commits));
  }
  result.client_errors = state.poll_errors;
  rd_kafka_consumer_close(rk.get());

  result.fsync_after =
      measure_fsync_rate(options.data_dir, kFsyncWriteBytes, kFsyncMaxCount, kFsyncMaxSeconds);
  const double before = result.fsync_before.per_s();
  const double after = result.fsync_after.per_s();
  if (before > 2 * after || after > 2 * before) {
    result.warnings.push_back(fmt::format(
        "offset commit: the disk's fsync rate moved from {:.0f}/s before the commit runs to "
        "{:.0f}/s after them; ratio_to_fsync_rate is unreliable",
        before, after));
  }
  return result;
}

}  // namespace ferry::bench
