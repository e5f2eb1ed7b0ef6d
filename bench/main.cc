// ferry-bench: measures a Kafka-protocol broker with librdkafka and prints one JSON
// document. See bench/README.md for what each number means.
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "bench/bench_error.h"
#include "bench/consume_bench.h"
#include "bench/json_writer.h"
#include "bench/kafka_client.h"
#include "bench/latency_bench.h"
#include "bench/machine_limit.h"
#include "bench/options.h"
#include "bench/payload.h"
#include "bench/produce_bench.h"

namespace ferry::bench {
namespace {

// Every produce case must reach this fraction of the machine limit for the goal to be met.
constexpr double kProduceRatioGoal = 0.7;

struct Report {
  MachineLimitResult limit;
  std::vector<ProduceResult> produce;
  ConsumeResult consume;
  LatencyResult latency;
  std::vector<std::string> warnings;
};

void progress(const std::string& line) { std::fprintf(stderr, "ferry-bench: %s\n", line.c_str()); }

void write_settings(JsonWriter& json, const std::vector<std::pair<std::string, std::string>>& kv,
                    const char* skip = nullptr) {
  json.begin_object();
  for (const auto& [key, value] : kv) {
    if (skip != nullptr && key == skip) continue;
    json.key(key);
    json.value(value);
  }
  json.end_object();
}

// Flat p50/p99/p999/max/min/mean keys, in milliseconds.
void write_latency(JsonWriter& json, const LatencySummary& summary) {
  json.key("p50");
  json.value(summary.p50_ms);
  json.key("p99");
  json.value(summary.p99_ms);
  json.key("p999");
  json.value(summary.p999_ms);
  json.key("max");
  json.value(summary.max_ms);
  json.key("min");
  json.value(summary.min_ms);
  json.key("mean");
  json.value(summary.mean_ms);
}

std::string render(const Options& options, const Report& r) {
  JsonWriter json;
  json.begin_object();
  json.key("tool");
  json.value("ferry-bench");
  json.key("librdkafka");
  json.value(rd_kafka_version_str());
  json.key("bootstrap");
  json.value(options.bootstrap);

  json.key("settings");
  json.begin_object();
  json.key("records");
  json.value(options.records);
  json.key("record_size");
  json.value(options.record_size);
  json.key("seconds_cap");
  json.value(options.seconds, 1);
  json.key("data_dir");
  json.value(options.data_dir);
  json.key("mb");
  json.value("10^6 bytes of record values (no keys, headers or framing)");
  json.end_object();

  json.key("machine_limit");
  json.begin_object();
  json.key("bytes");
  json.value(r.limit.bytes);
  json.key("seconds");
  json.value(r.limit.seconds, 4);
  json.key("fdatasync_seconds");
  json.value(r.limit.fdatasync_seconds, 4);
  json.key("mb_per_s");
  json.value(r.limit.mb_per_s(), 1);
  json.end_object();

  double worst_ratio = std::numeric_limits<double>::infinity();
  json.key("produce");
  json.begin_array();
  for (const auto& p : r.produce) {
    const double ratio = r.limit.mb_per_s() > 0 ? p.mb_per_s() / r.limit.mb_per_s() : 0;
    worst_ratio = std::min(worst_ratio, ratio);
    json.begin_object();
    json.key("acks");
    json.value(p.spec.acks);
    json.key("partitions");
    json.value(p.spec.partitions);
    json.key("topic");
    json.value(p.spec.topic);
    json.key("records");
    json.value(p.records);
    json.key("bytes");
    json.value(p.bytes);
    json.key("seconds");
    json.value(p.seconds, 4);
    json.key("records_per_s");
    json.value(p.records_per_s(), 0);
    json.key("mb_per_s");
    json.value(p.mb_per_s(), 1);
    json.key("ratio_to_limit");
    json.value(ratio, 3);
    json.key("capped");
    json.value(p.capped);
    json.end_object();
  }
  json.end_array();

  json.key("consume");
  json.begin_object();
  json.key("topic");
  json.value(r.consume.topic);
  json.key("partitions");
  json.value(r.consume.partitions);
  json.key("records");
  json.value(r.consume.records);
  json.key("bytes");
  json.value(r.consume.bytes);
  json.key("seconds");
  json.value(r.consume.seconds, 4);
  json.key("records_per_s");
  json.value(r.consume.records_per_s(), 0);
  json.key("mb_per_s");
  json.value(r.consume.mb_per_s(), 1);
  json.key("startup_seconds");
  json.value(r.consume.startup_seconds, 4);
  json.key("value_mismatches");
  json.value(r.consume.value_mismatches);
  json.key("client_errors");
  json.value(r.consume.client_errors);
  json.key("capped");
  json.value(r.consume.capped);
  json.end_object();

  const auto& l = r.latency;
  json.key("latency_ms");
  json.begin_object();
  json.key("rate_per_s");
  json.value(l.rate_per_s);
  json.key("seconds");
  json.value(l.seconds, 1);
  json.key("sent");
  json.value(l.sent);
  json.key("samples");
  json.value(l.end_to_end.samples);
  write_latency(json, l.end_to_end);
  json.key("produce_ack");
  json.begin_object();
  json.key("samples");
  json.value(l.produce_ack.samples);
  write_latency(json, l.produce_ack);
  json.end_object();
  json.key("max_behind_schedule");
  json.value(l.max_behind_schedule_ms);
  json.key("duplicates");
  json.value(l.duplicates);
  json.key("client_errors");
  json.value(l.client_errors);
  json.end_object();

  json.key("client_config");
  json.begin_object();
  json.key("produce");
  write_settings(json, r.produce.front().client_settings, "acks");
  json.key("consume");
  write_settings(json, r.consume.client_settings);
  json.key("latency_producer");
  write_settings(json, l.producer_settings);
  json.key("latency_consumer");
  write_settings(json, l.consumer_settings);
  json.end_object();

  json.key("warnings");
  json.begin_array();
  for (const auto& w : r.warnings) json.value(w);
  json.end_array();

  json.key("goal");
  json.begin_object();
  json.key("produce_ratio_min");
  json.value(kProduceRatioGoal, 2);
  json.key("worst_ratio");
  json.value(worst_ratio, 3);
  json.key("met");
  json.value(worst_ratio >= kProduceRatioGoal);
  json.end_object();

  json.end_object();
  return json.str();
}

void collect(std::vector<std::string>& into, const std::vector<std::string>& from) {
  for (const auto& w : from) {
    progress("warning: " + w);
    into.push_back(w);
  }
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

  std::vector<TopicSpec> topics;
  for (const auto& c : cases) topics.push_back({c.topic, c.partitions});
  topics.push_back({latency_topic, 1});
  progress(fmt::format("creating {} topics on {}", topics.size(), options.bootstrap));
  create_topics(options.bootstrap, topics, std::chrono::seconds(15));

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

  report.latency = run_latency(options, pool, latency_topic);
  const LatencySummary& e2e = report.latency.end_to_end;
  const LatencySummary& ack = report.latency.produce_ack;
  progress(fmt::format("latency at {}/s ({} samples): end-to-end p50 {:.3f} ms, p99 {:.3f} ms, "
                       "p99.9 {:.3f} ms, max {:.3f} ms; produce ack p50 {:.3f} ms, p99 {:.3f} ms, "
                       "max {:.3f} ms",
                       report.latency.rate_per_s, e2e.samples, e2e.p50_ms, e2e.p99_ms,
                       e2e.p999_ms, e2e.max_ms, ack.p50_ms, ack.p99_ms, ack.max_ms));
  collect(report.warnings, report.latency.warnings);

  std::fputs(render(options, report).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
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
    return ferry::bench::run(args.options);
  } catch (const ferry::bench::BenchError& e) {
    std::fprintf(stderr, "ferry-bench: error: %s\n", e.what());
    return 1;
  }
}
