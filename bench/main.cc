// ferry-bench: measures a Kafka-protocol broker with librdkafka and prints one JSON
// document. See bench/README.md for what each number means.
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_error.h"
#include "bench/commit_bench.h"
#include "bench/consume_bench.h"
#include "bench/kafka_client.h"
#include "bench/latency_bench.h"
#include "bench/machine_limit.h"
#include "bench/mirror_mode.h"
#include "bench/options.h"
#include "bench/payload.h"
#include "bench/produce_bench.h"
#include "bench/rebalance_bench.h"
#include "bench/report_json.h"
#include "bench/security_mode.h"

namespace ferry::bench {
namespace {

// Every produce case must reach this fraction of the machine limit for the goal to be met.
constexpr double kProduceRatioGoal = 0.7;

// A case long enough to leave the page cache's comfort (issue 16, item 3): at least this long
// and this many bytes.
constexpr double kSustainedSeconds = 10.0;
constexpr int64_t kSustainedBytes = 1'500'000'000;

constexpr const char* kInitialDelayKey = "group.initial.rebalance.delay.ms";
constexpr const char* kFlushAcksAllKey = "log.flush.acks.all";

struct Report {
  MachineLimitResult limit;
  std::vector<ProduceResult> produce;
  ConsumeResult consume;
  LatencyResult latency;
  RebalanceResult rebalance;
  CommitResult commit;
  std::vector<std::string> warnings;
};

Json optional_json(const auto& value) { return value ? Json(*value) : Json(nullptr); }

// Probed around the offset-commit runs (see CommitResult), reported with the other limits.
Json render_fsync(const CommitResult& c) {
  return {{"write_bytes", c.fsync_before.write_bytes},
          {"per_s", rounded(fsync_per_s(c), 0)},
          {"before_commits", render_fsync_probe(c.fsync_before)},
          {"after_commits", render_fsync_probe(c.fsync_after)}};
}

Json render_rebalance(const RebalanceResult& r) {
  return {{"topic", r.topic},
          {"group", r.group},
          {"members", r.members},
          {"partitions", r.partitions},
          {"broker_initial_rebalance_delay_ms", optional_json(r.broker_initial_delay_ms)},
          {"initial_ms", rounded(r.initial_ms, 1)},
          {"subscribe_spread_ms", rounded(r.subscribe_spread_ms, 1)},
          {"join_ms", rounded(r.join_ms, 1)},
          {"join_after_all_revoked_ms", rounded(r.join_after_all_revoked_ms, 1)},
          {"leave_ms", rounded(r.leave_ms, 1)},
          {"leave_after_all_revoked_ms", rounded(r.leave_after_all_revoked_ms, 1)},
          {"heartbeat_interval_ms", r.heartbeat_interval_ms},
          {"client_errors", r.client_errors}};
}

Json render_commit_run(const CommitRun& run, double fsync_per_s) {
  return {{"commits", run.commits},
          {"seconds", rounded(run.seconds, 3)},
          {"commits_per_s", rounded(run.commits_per_s(), 0)},
          {"partition_offsets_per_s", rounded(run.partition_offsets_per_s(), 0)},
          {"ratio_to_fsync_rate",
           fsync_per_s > 0 ? Json(rounded(run.commits_per_s() / fsync_per_s, 3)) : Json(nullptr)}};
}

Json render_commit(const CommitResult& r, double fsync_per_s) {
  Json sync = render_commit_run(r.sync, fsync_per_s);
  Json latency = {{"samples", r.sync.latency.samples}};
  add_latency(latency, r.sync.latency);
  sync["latency_ms"] = std::move(latency);
  Json async = render_commit_run(r.async, fsync_per_s);
  async["max_in_flight"] = r.async_window;
  return {{"topic", r.topic},
          {"group", r.group},
          {"partitions", r.partitions},
          {"broker_log_flush_acks_all", optional_json(r.broker_flush_acks_all)},
          {"sync", std::move(sync)},
          {"async", std::move(async)},
          {"client_errors", r.client_errors}};
}

std::string render(const Options& options, const Report& r) {
  Json j;
  j["tool"] = "ferry-bench";
  j["librdkafka"] = rd_kafka_version_str();
  j["bootstrap"] = options.bootstrap;
  j["settings"] = {{"records", options.records},
                   {"record_size", options.record_size},
                   {"min_seconds", rounded(options.min_seconds, 1)},
                   {"seconds_cap", rounded(options.min_seconds + options.seconds, 1)},
                   {"data_dir", options.data_dir},
                   {"replication_factor", options.replication_factor},
                   {"min_insync_replicas", options.replication_factor > 1 ? Json(options.min_insync_replicas) : Json()},
                   {"mb", "10^6 bytes of record values (no keys, headers or framing)"}};
  j["machine_limit"] = {{"bytes", r.limit.bytes},
                        {"seconds", rounded(r.limit.seconds, 4)},
                        {"fdatasync_seconds", rounded(r.limit.fdatasync_seconds, 4)},
                        {"mb_per_s", rounded(r.limit.mb_per_s(), 1)},
                        {"fsync", render_fsync(r.commit)}};

  double worst_ratio = std::numeric_limits<double>::infinity();
  Json produce = Json::array();
  for (const auto& p : r.produce) {
    const double ratio = r.limit.mb_per_s() > 0 ? p.mb_per_s() / r.limit.mb_per_s() : 0;
    worst_ratio = std::min(worst_ratio, ratio);
    produce.push_back({{"acks", p.spec.acks},
                       {"partitions", p.spec.partitions},
                       {"topic", p.spec.topic},
                       {"records", p.records},
                       {"bytes", p.bytes},
                       {"seconds", rounded(p.seconds, 4)},
                       {"records_per_s", rounded(p.records_per_s(), 0)},
                       {"mb_per_s", rounded(p.mb_per_s(), 1)},
                       {"ratio_to_limit", rounded(ratio, 3)},
                       {"capped", p.capped},
                       {"sustained", p.seconds >= kSustainedSeconds && p.bytes >= kSustainedBytes},
                       {"cpu", render_cpu(p.cpu)}});
  }
  j["produce"] = std::move(produce);

  const auto& c = r.consume;
  j["consume"] = render_consume(c);
  j["consume"]["cpu"] = render_cpu(c.cpu);
  const auto& l = r.latency;
  j["latency_ms"] = render_latency(l);
  j["rebalance"] = render_rebalance(r.rebalance);
  j["offset_commit"] = render_commit(r.commit, fsync_per_s(r.commit));

  j["client_config"] = {{"produce", settings(r.produce.front().client_settings, "acks")},
                        {"consume", settings(c.client_settings)},
                        {"latency_producer", settings(l.producer_settings)},
                        {"latency_consumer", settings(l.consumer_settings)},
                        {"rebalance_member", settings(r.rebalance.client_settings, "group.id")},
                        {"offset_commit", settings(r.commit.client_settings, "group.id")}};
  j["warnings"] = r.warnings;
  j["goal"] = {{"produce_ratio_min", kProduceRatioGoal},
               {"worst_ratio", rounded(worst_ratio, 3)},
               {"met", worst_ratio >= kProduceRatioGoal}};
  return j.dump(1) + "\n";
}

int run(const Options& options) {
  const PayloadPool pool(static_cast<size_t>(options.record_size));
  const std::string prefix =
      fmt::format("ferry-bench-{}-{}", static_cast<long long>(std::time(nullptr)), ::getpid());

  std::vector<ProduceCase> cases;
  for (const char* acks : {"1", "all"}) {
    for (int partitions : {1, 8}) {
      cases.push_back({acks, partitions, fmt::format("{}-acks{}-p{}", prefix, acks, partitions)});
    }
  }
  const std::string latency_topic = prefix + "-latency";
  const std::string rebalance_topic = prefix + "-rebalance";
  const std::string commit_topic = prefix + "-commit";

  std::vector<TopicSpec> topics;
  for (const auto& c : cases) topics.push_back({c.topic, c.partitions});
  topics.push_back({latency_topic, 1});
  topics.push_back({rebalance_topic, static_cast<int>(options.rebalance_partitions)});
  topics.push_back({commit_topic, static_cast<int>(options.commit_partitions)});
  for (auto& t : topics) {
    t.replication_factor = static_cast<int>(options.replication_factor);
    if (options.replication_factor > 1)
      t.configs["min.insync.replicas"] = std::to_string(options.min_insync_replicas);
  }
  progress(fmt::format("creating {} topics on {}", topics.size(), options.bootstrap));
  create_topics(options.bootstrap, topics, std::chrono::seconds(15), options.client_properties);

  Report report;
  for (const auto& c : cases) {
    ProduceResult r = run_produce_case(options, pool, c);
    progress(fmt::format("produce acks={} partitions={}: {} records in {:.3f} s = {:.0f} rec/s, "
                         "{:.1f} MB/s{}",
                         c.acks, c.partitions, r.records, r.seconds, r.records_per_s(),
                         r.mb_per_s(), r.capped ? " (capped)" : ""));
    collect(report.warnings, r.warnings);
    report.produce.push_back(std::move(r));
  }

  int64_t largest = 0;
  for (const auto& r : report.produce) largest = std::max(largest, r.bytes);
  report.limit = measure_machine_limit(options.data_dir, largest, pool);
  progress(fmt::format("machine limit: {} bytes over loopback to {} in {:.3f} s = {:.1f} MB/s "
                       "(fdatasync {:.3f} s)",
                       report.limit.bytes, options.data_dir, report.limit.seconds,
                       report.limit.mb_per_s(), report.limit.fdatasync_seconds));

  // The acks=all, 8-partition topic: fully acknowledged data spread over several partitions,
  // so Fetch has to gather from more than one log.
  const ProduceResult& source = report.produce.back();
  report.consume = run_consume(options, pool, source);
  progress(fmt::format("consume {} partitions: {} records in {:.3f} s = {:.0f} rec/s, {:.1f} MB/s "
                       "(first record after {:.3f} s){}",
                       report.consume.partitions, report.consume.records, report.consume.seconds,
                       report.consume.records_per_s(), report.consume.mb_per_s(),
                       report.consume.startup_seconds, report.consume.capped ? " (capped)" : ""));
  collect(report.warnings, report.consume.warnings);

  // Latency is measured under load: at half the sustained acks=all peak of this very run
  // (issue 16), unless --latency-rate names a rate.
  std::vector<double> acks_all_rates;
  for (const auto& p : report.produce)
    if (p.spec.acks == "all") acks_all_rates.push_back(p.records_per_s());
  const LatencyPlan plan = latency_plan(options, acks_all_rates);
  Options latency_options = options;
  latency_options.latency_rate = plan.per_s;
  latency_options.latency_linger_ms = plan.linger_ms;
  report.latency = run_latency(latency_options, pool, latency_topic);
  report.latency.rate_rule = plan.rule;
  const LatencySummary& e2e = report.latency.end_to_end;
  const LatencySummary& ack = report.latency.produce_ack;
  progress(fmt::format("latency at {}/s ({} samples): end-to-end p50 {:.3f} ms, p99 {:.3f} ms, "
                       "p99.9 {:.3f} ms, max {:.3f} ms; produce ack p50 {:.3f} ms, p99 {:.3f} ms, "
                       "max {:.3f} ms",
                       report.latency.rate_per_s, e2e.samples, e2e.p50_ms, e2e.p99_ms,
                       e2e.p999_ms, e2e.max_ms, ack.p50_ms, ack.p99_ms, ack.max_ms));
  collect(report.warnings, report.latency.warnings);
  if (const std::string disk = disk_probe_line(report.latency); !disk.empty()) progress(disk);

  const BrokerConfigValues broker =
      describe_broker_configs(options.bootstrap, {kInitialDelayKey, kFlushAcksAllKey},
                              std::chrono::seconds(10), options.client_properties);
  if (!broker.error.empty()) {
    collect(report.warnings, {"broker configs unknown (" + broker.error + "); rebalance and "
                              "offset_commit report them as null"});
  }
  const std::optional<int64_t> initial_delay = broker.get_int(kInitialDelayKey);
  progress(fmt::format("broker {}={}, {}={}", kInitialDelayKey,
                       broker.values.at(kInitialDelayKey).value_or("unknown"), kFlushAcksAllKey,
                       broker.values.at(kFlushAcksAllKey).value_or("unknown")));

  report.rebalance =
      run_rebalance(options, rebalance_topic, prefix + "-rebalance-group", initial_delay);
  const RebalanceResult& rb = report.rebalance;
  const std::string delay = rb.broker_initial_delay_ms
                                ? fmt::format("{} ms", *rb.broker_initial_delay_ms)
                                : std::string("unknown");
  progress(fmt::format("rebalance {} members over {} partitions: formed {:.1f} ms after the last "
                       "subscribe (broker initial delay {}), +1 member {:.1f} ms ({:.1f} ms after "
                       "all revoked), -1 member {:.1f} ms ({:.1f} ms after all revoked)",
                       rb.members, rb.partitions, rb.initial_ms, delay, rb.join_ms,
                       rb.join_after_all_revoked_ms, rb.leave_ms, rb.leave_after_all_revoked_ms));
  collect(report.warnings, rb.warnings);

  report.commit = run_offset_commit(options, commit_topic, prefix + "-commit-group", initial_delay,
                                    broker.get_bool(kFlushAcksAllKey));
  const CommitResult& oc = report.commit;
  progress(fmt::format("offset commit over {} partitions: sync {:.0f}/s (p50 {:.3f} ms, p99 "
                       "{:.3f} ms), async {:.0f}/s; fsync limit {:.0f}/s",
                       oc.partitions, oc.sync.commits_per_s(), oc.sync.latency.p50_ms,
                       oc.sync.latency.p99_ms, oc.async.commits_per_s(), fsync_per_s(oc)));
  collect(report.warnings, oc.warnings);

  std::fputs(render(options, report).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  // client/ logs librdkafka's complaints through spdlog; they belong on stderr, never in the JSON
  // report on stdout.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("ferry-bench"));
  using ferry::bench::ParsedArgs;
  ParsedArgs args = ferry::bench::parse_options(argc, argv);
  switch (args.kind) {
    case ParsedArgs::Kind::help:
      std::fputs(ferry::bench::usage_text().c_str(), stdout);
      return 0;
    case ParsedArgs::Kind::usage_error:
      std::fprintf(stderr, "ferry-bench: %s\nTry 'ferry-bench --help'.\n", args.error.c_str());
      return 2;
    case ParsedArgs::Kind::run:
      break;
  }
  try {
    if (args.options.security_mode()) return ferry::bench::run_security_mode(args.options);
    if (args.options.mirror_mode()) return ferry::bench::run_mirror_mode(args.options);
    return ferry::bench::run(args.options);
  } catch (const ferry::bench::BenchError& e) {
    std::fprintf(stderr, "ferry-bench: error: %s\n", e.what());
    return 1;
  }
}
