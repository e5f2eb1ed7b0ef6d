#include "bench/mirror_mode.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>

#include "bench/bench_error.h"
#include "bench/consume_bench.h"
#include "bench/copy_bound.h"
#include "bench/cpu_usage.h"
#include "bench/http_get.h"
#include "bench/kafka_client.h"
#include "bench/latency_bench.h"
#include "bench/mirror_bench.h"
#include "bench/mirror_endpoints.h"
#include "bench/mirror_process.h"
#include "bench/payload.h"
#include "bench/produce_bench.h"
#include "bench/report_json.h"

namespace ferry::bench {
namespace {

// Issue 4's goals: the mirror copies at >= 90% of the slower of produce-only and
// consume-only on the same brokers, and replicates with p99 < 50 ms on loopback.
constexpr double kThroughputRatioGoal = 0.9;
constexpr double kLatencyP99GoalMs = 50.0;

// Source timestamp to target acknowledgement, per partition (docs/mirror.md).
constexpr const char* kMirrorLatencyMetric =
    "kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms";

// A mirror that does not finish within this after SIGTERM is killed; its own shutdown waits
// up to 30 s for the target to acknowledge what is in flight (docs/mirror.md).
constexpr auto kMirrorStopGrace = std::chrono::seconds(40);

struct HistogramReport {
  int64_t samples = 0;
  std::optional<QuantileEstimate> p50, p99;
  std::string error;
};

struct MirrorReport {
  ProduceResult produce;
  ConsumeResult consume;
  MirrorCopyResult copy;
  std::optional<ConsumeResult> verify;
  LatencyResult latency;
  std::string remote_latency_topic;
  HistogramReport histogram;
  std::vector<int64_t> final_target_end_offsets;
  MirrorStatus final_status;
  int mirror_pid = 0;
  std::vector<int> extra_mirror_pids;  // --mirror-extra-configs
  std::string mirror_log;
  std::string mirror_stopped;
  CpuUsage before_run;
  std::optional<CopyCpuBound> cpu_bound;  // from the produce-only and consume-only phases
  std::vector<std::string> warnings;
};

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

// Above this many busy cores while the bench is idle, something else competes for the CPUs
// the brokers and the mirror need, and the ratios compare phases run under different loads.
constexpr double kBusyBeforeRunWarnCores = 0.25;

Json optional_rounded(const std::optional<double>& v, int digits) {
  return v ? Json(rounded(*v, digits)) : Json(nullptr);
}

Json render_copy_cpu(const MirrorCopyResult& m) {
  Json per_record = nullptr;
  if (m.cpu.process_cpu_seconds && m.records_timed > 0) {
    per_record = rounded(*m.cpu.process_cpu_seconds * 1e6 / static_cast<double>(m.records_timed), 2);
  }
  return {{"cpus", m.cpu.cpus},
          {"machine_busy_cores", rounded(m.cpu.machine_cores, 2)},
          {"mirror_cores", optional_rounded(m.cpu.process_cores, 2)},
          {"mirror_cpu_us_per_record", std::move(per_record)}};
}

// Reads the mirror's replication-latency histogram of `remote_topic` off /metrics.
HistogramReport scrape_latency_histogram(const std::string& status_url,
                                         const std::string& remote_topic) {
  HistogramReport out;
  try {
    const HttpResponse r = http_get(status_url, "/metrics", std::chrono::seconds(2));
    if (r.status != 200) {
      out.error = fmt::format("GET /metrics answered {}", r.status);
      return out;
    }
    const auto buckets = histogram_buckets(parse_prometheus_text(r.body), kMirrorLatencyMetric,
                                           {{"topic", remote_topic}});
    if (buckets.empty()) {
      out.error = fmt::format("no {} series for topic {}", kMirrorLatencyMetric, remote_topic);
      return out;
    }
    out.samples = static_cast<int64_t>(buckets.back().cumulative);
    out.p50 = estimate_quantile(buckets, 0.50);
    out.p99 = estimate_quantile(buckets, 0.99);
  } catch (const BenchError& e) {
    out.error = e.what();
  }
  return out;
}

Json bound_json(double v) { return std::isinf(v) ? Json("+Inf") : Json(rounded(v, 3)); }

Json render_histogram(const HistogramReport& h, const std::string& topic) {
  Json out = {{"metric", kMirrorLatencyMetric}, {"topic", topic}, {"samples", h.samples}};
  for (const auto& [name, q] : {std::pair{"p50", &h.p50}, std::pair{"p99", &h.p99}}) {
    out[name] = *q ? Json(rounded((*q)->value, 3)) : Json(nullptr);
    out[std::string(name) + "_bucket"] =
        *q ? Json::array({bound_json((*q)->low), bound_json((*q)->high)}) : Json(nullptr);
  }
  out["error"] = h.error.empty() ? Json(nullptr) : Json(h.error);
  return out;
}

Json render_status(const MirrorStatus& s) {
  return {{"records_replicated", s.records_replicated},
          {"assigned_partitions", s.assigned_partitions},
          {"lag_records", s.lag_records},
          {"last_error", s.last_error ? Json(*s.last_error) : Json(nullptr)}};
}

std::string render(const Options& options, const MirrorReport& r) {
  const ProduceResult& p = r.produce;
  const ConsumeResult& c = r.consume;
  const MirrorCopyResult& m = r.copy;
  const double slower = std::min(p.mb_per_s(), c.mb_per_s());
  const double ratio_to_slower = ratio(m.mb_per_s(), slower);

  Json j;
  j["tool"] = "ferry-bench";
  j["mode"] = "mirror";
  j["librdkafka"] = rd_kafka_version_str();
  j["source"] = options.bootstrap;
  j["target"] = options.mirror_target;
  j["mirror_status"] = options.mirror_status;
  j["machine"] = {{"cpus", r.before_run.cpus},
                  {"busy_cores_before_run", rounded(r.before_run.machine_cores, 2)}};
  j["settings"] = {{"records", options.records},
                   {"record_size", options.record_size},
                   {"partitions", options.mirror_partitions},
                   {"seconds_cap", rounded(options.seconds, 1)},
                   {"mirror_seconds_cap", rounded(options.mirror_seconds, 1)},
                   {"latency_rate", options.latency_rate},
                   {"latency_seconds", rounded(options.latency_seconds, 1)},
                   {"latency_linger_ms", options.latency_linger_ms},
                   {"mb", "10^6 bytes of record values (no keys, headers or framing)"}};
  j["produce"] = {{"topic", p.spec.topic},
                  {"partitions", p.spec.partitions},
                  {"acks", p.spec.acks},
                  {"idempotent", p.spec.idempotent},
                  {"records", p.records},
                  {"bytes", p.bytes},
                  {"seconds", rounded(p.seconds, 4)},
                  {"records_per_s", rounded(p.records_per_s(), 0)},
                  {"mb_per_s", rounded(p.mb_per_s(), 1)},
                  {"capped", p.capped},
                  {"cpu", render_cpu(p.cpu)}};
  j["consume"] = render_consume(c);
  j["consume"]["cpu"] = render_cpu(c.cpu);
  const auto& bound = r.cpu_bound;
  Json cpu_bound = nullptr;
  if (bound) {
    cpu_bound = {{"rule", "cpus x 1000 / (produce-only + consume-only whole-machine CPU-ms per MB): the most a copy, "
                          "which consumes and produces every byte, can move on this machine's CPUs (an upper bound)"},
                 {"produce_cpu_ms_per_mb", rounded(bound->produce_cpu_ms_per_mb, 3)},
                 {"consume_cpu_ms_per_mb", rounded(bound->consume_cpu_ms_per_mb, 3)},
                 {"mb_per_s", rounded(bound->mb_per_s, 1)},
                 {"mirror_ratio", rounded(ratio(m.mb_per_s(), bound->mb_per_s), 3)}};
  }

  Json verify = nullptr;
  if (r.verify) {
    verify = {{"topic", r.verify->topic},
              {"records", r.verify->records},
              {"value_mismatches", r.verify->value_mismatches},
              {"client_errors", r.verify->client_errors},
              {"mb_per_s", rounded(r.verify->mb_per_s(), 1)},
              {"capped", r.verify->capped}};
  }
  j["mirror"] = {{"remote_topic", m.remote_topic},
                 {"records", m.records},
                 {"bytes", m.bytes},
                 {"serving_seconds", rounded(m.serving_seconds, 3)},
                 {"routed_seconds", rounded(m.routed_seconds, 3)},
                 {"startup_seconds", rounded(m.startup_seconds, 3)},
                 {"seconds", rounded(m.seconds, 4)},
                 {"records_timed", m.records_timed},
                 {"records_per_s", rounded(m.records_per_s(), 0)},
                 {"mb_per_s", rounded(m.mb_per_s(), 1)},
                 {"total_seconds", rounded(m.total_seconds, 3)},
                 {"ratio_to_produce", rounded(ratio(m.mb_per_s(), p.mb_per_s()), 3)},
                 {"ratio_to_consume", rounded(ratio(m.mb_per_s(), c.mb_per_s()), 3)},
                 {"ratio_to_slower", rounded(ratio_to_slower, 3)},
                 {"stalled_seconds", rounded(m.stalled_seconds, 3)},
                 {"longest_stall_ms", rounded(m.longest_stall_ms, 1)},
                 {"longest_stall_at_seconds", rounded(m.longest_stall_at_seconds, 3)},
                 {"polls", m.polls},
                 {"poll_interval_ms", m.poll_interval_ms},
                 {"capped", m.capped},
                 {"cpu", render_copy_cpu(m)},
                 {"cpu_bound", std::move(cpu_bound)},
                 {"target_end_offsets", m.target_end_offsets},
                 {"verify", std::move(verify)},
                 {"status", render_status(m.status)}};

  Json latency = render_latency(r.latency);
  latency["topic"] = r.latency.topic;
  latency["consume_topic"] = r.latency.consume_topic;
  latency["warm_up_ms"] = rounded(r.latency.warm_up_ms, 3);
  Json by_second = Json::array();
  for (double v : r.latency.max_by_send_second_ms) by_second.push_back(rounded(v, 3));
  latency["max_by_send_second"] = std::move(by_second);
  latency["mirror_histogram"] = render_histogram(r.histogram, r.remote_latency_topic);
  j["latency_ms"] = std::move(latency);

  // CPU figures (mirror.cpu) are the first process's; the others only share the partitions.
  j["mirror_processes"] = 1 + r.extra_mirror_pids.size();
  j["extra_mirror_pids"] = r.extra_mirror_pids;
  j["mirror_process"] = {{"pid", r.mirror_pid},
                         {"log", r.mirror_log},
                         {"stopped", r.mirror_stopped},
                         {"final_status", render_status(r.final_status)},
                         {"final_target_end_offsets", r.final_target_end_offsets}};
  j["client_config"] = {{"produce", settings(p.client_settings)},
                        {"consume", settings(c.client_settings)},
                        {"latency_producer", settings(r.latency.producer_settings)},
                        {"latency_consumer", settings(r.latency.consumer_settings)}};
  j["warnings"] = r.warnings;
  const bool throughput_met = !m.capped && ratio_to_slower >= kThroughputRatioGoal;
  const bool latency_met = r.latency.end_to_end.p99_ms < kLatencyP99GoalMs;
  j["goal"] = {{"throughput_ratio_min", kThroughputRatioGoal},
               {"throughput_ratio", rounded(ratio_to_slower, 3)},
               {"throughput_met", throughput_met},
               {"latency_p99_max_ms", kLatencyP99GoalMs},
               {"latency_p99_ms", r.latency.end_to_end.p99_ms},
               {"latency_met", latency_met},
               {"met", throughput_met && latency_met}};
  return j.dump(1) + "\n";
}

}  // namespace

int run_mirror_mode(const Options& given) {
  // The latency phase's load is fixed up front in this mode (it does not depend on measured
  // rates), so the report's settings show what ran.
  const LatencyPlan plan = latency_plan(given, {});
  Options options = given;
  options.latency_rate = plan.per_s;
  options.latency_linger_ms = plan.linger_ms;
  const PayloadPool pool(static_cast<size_t>(options.record_size));
  const std::string prefix = fmt::format("ferry-bench-{}-{}-mirror",
                                         static_cast<long long>(std::time(nullptr)), ::getpid());
  const std::string copy_topic = prefix + "-copy";
  const std::string latency_topic = prefix + "-latency";
  const int partitions = static_cast<int>(options.mirror_partitions);

  MirrorReport report;
  // One idle second first: the brokers are up but nothing of the bench runs yet, so busy CPUs
  // now belong to something else (a build, other tests) that will skew every phase.
  const CpuSample idle_start = sample_cpu();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  report.before_run = cpu_usage(idle_start, sample_cpu());
  if (report.before_run.machine_cores > kBusyBeforeRunWarnCores) {
    collect(report.warnings,
            {fmt::format("{:.2f} of {} CPUs were busy before the run started: other processes "
                         "compete with the brokers and the mirror, so the numbers are low and "
                         "the ratios unreliable",
                         report.before_run.machine_cores, report.before_run.cpus)});
  }
  require_metadata(options.mirror_target, std::chrono::seconds(5));
  if (http_ok(options.mirror_status, "/healthz", std::chrono::milliseconds(500))) {
    throw BenchError(fmt::format("something already answers on {}: the bench starts its own "
                                 "ferry-mirror there and would measure the wrong process",
                                 options.mirror_status));
  }
  // Both topics exist before the mirror starts, so its first topic refresh routes them both
  // and the latency phase never waits for (or is disturbed by) a later rebalance.
  progress(fmt::format("creating {} ({} partitions) and {} on {}", copy_topic, partitions,
                       latency_topic, options.bootstrap));
  create_topics(options.bootstrap, {{copy_topic, partitions}, {latency_topic, 1}},
                std::chrono::seconds(15));

  report.produce = run_produce_case(options, pool, {"all", partitions, copy_topic, true});
  const ProduceResult& p = report.produce;
  progress(fmt::format("produce-only on the source, acks=all idempotent, {} partitions: {} "
                       "records in {:.3f} s = {:.0f} rec/s, {:.1f} MB/s{}",
                       partitions, p.records, p.seconds, p.records_per_s(), p.mb_per_s(),
                       p.capped ? " (capped)" : ""));
  collect(report.warnings, p.warnings);
  if (p.capped) {
    collect(report.warnings, {fmt::format("produce capped by --seconds: the mirror copies {} "
                                          "records instead of {}",
                                          p.records, options.records)});
  }

  report.consume = run_consume(options, pool, p);
  const ConsumeResult& c = report.consume;
  progress(fmt::format("consume-only on the source: {} records in {:.3f} s = {:.0f} rec/s, "
                       "{:.1f} MB/s (first record after {:.3f} s){}",
                       c.records, c.seconds, c.records_per_s(), c.mb_per_s(), c.startup_seconds,
                       c.capped ? " (capped)" : ""));
  collect(report.warnings, c.warnings);

  report.mirror_log =
      options.mirror_log.empty() ? options.data_dir + "/ferry-mirror.log" : options.mirror_log;
  MirrorProcess mirror(options.mirror_bin, options.mirror_config, report.mirror_log,
                       options.mirror_pid_file);
  report.mirror_pid = mirror.pid();
  std::vector<std::unique_ptr<MirrorProcess>> extra_mirrors;
  for (size_t k = 0; k < options.mirror_extra_configs.size(); ++k) {
    extra_mirrors.push_back(std::make_unique<MirrorProcess>(
        options.mirror_bin, options.mirror_extra_configs[k], fmt::format("{}.{}", report.mirror_log, k + 2), ""));
    report.extra_mirror_pids.push_back(extra_mirrors.back()->pid());
    progress(fmt::format("started another {} --config {} (pid {})", options.mirror_bin,
                         options.mirror_extra_configs[k], extra_mirrors.back()->pid()));
  }
  progress(fmt::format("started {} --config {} (pid {}, log {})", options.mirror_bin,
                       options.mirror_config, mirror.pid(), report.mirror_log));

  report.copy = run_mirror_copy(options, mirror, p, {latency_topic});
  const MirrorCopyResult& m = report.copy;
  progress(fmt::format("mirror: serving after {:.2f} s, topics routed after {:.2f} s, first "
                       "record on the target after {:.2f} s; {} records in {:.3f} s = {:.0f} "
                       "rec/s, {:.1f} MB/s ({:.2f} of consume-only, {:.2f} of produce-only){}",
                       m.serving_seconds, m.routed_seconds, m.startup_seconds, m.records_timed,
                       m.seconds, m.records_per_s(), m.mb_per_s(),
                       ratio(m.mb_per_s(), c.mb_per_s()), ratio(m.mb_per_s(), p.mb_per_s()),
                       m.capped ? " (capped)" : ""));
  if (m.cpu.process_cores) {
    progress(fmt::format("mirror CPU during the copy: {:.2f} cores; whole machine {:.2f} of {} "
                         "cores busy; target unchanged for {:.3f} s of it (longest {:.0f} ms, "
                         "from {:.2f} s after the start)",
                         *m.cpu.process_cores, m.cpu.machine_cores, m.cpu.cpus,
                         m.stalled_seconds, m.longest_stall_ms, m.longest_stall_at_seconds));
  }
  report.cpu_bound =
      copy_cpu_bound(report.before_run.cpus, p.cpu.machine_cores, p.mb_per_s(), c.cpu.machine_cores, c.mb_per_s());
  if (const auto& b = report.cpu_bound) {
    progress(fmt::format("a copy costs at least {:.3f} + {:.3f} CPU-ms per MB (produce-only + consume-only, whole "
                         "machine), so {} cores copy at most {:.1f} MB/s; the mirror reached {:.2f} of that",
                         b->produce_cpu_ms_per_mb, b->consume_cpu_ms_per_mb, report.before_run.cpus, b->mb_per_s,
                         ratio(m.mb_per_s(), b->mb_per_s)));
  }
  collect(report.warnings, m.warnings);

  if (!m.capped) {
    // The same byte-for-byte check as consume-only, on the target: a fast copy that is not a
    // copy would be no result.
    Options on_target = options;
    on_target.bootstrap = options.mirror_target;
    ProduceResult remote = p;
    remote.spec.topic = m.remote_topic;
    report.verify = run_consume(on_target, pool, remote);
    progress(fmt::format("target copy checked: {} records, {} value mismatch(es)",
                         report.verify->records, report.verify->value_mismatches));
    collect(report.warnings, report.verify->warnings);
  }

  report.remote_latency_topic = m.other_routes.at(0).remote_topic;
  report.latency = run_latency(
      options, pool,
      LatencyRoute{options.bootstrap, latency_topic, options.mirror_target,
                   report.remote_latency_topic, /*warm_up=*/true});
  report.latency.rate_rule = plan.rule;
  const LatencySummary& e2e = report.latency.end_to_end;
  progress(fmt::format("replication latency at {}/s ({} samples): p50 {:.3f} ms, p99 {:.3f} ms, "
                       "max {:.3f} ms; source produce ack p50 {:.3f} ms",
                       report.latency.rate_per_s, e2e.samples, e2e.p50_ms, e2e.p99_ms, e2e.max_ms,
                       report.latency.produce_ack.p50_ms));
  collect(report.warnings, report.latency.warnings);
  if (const std::string disk = disk_probe_line(report.latency); !disk.empty()) progress(disk);
  report.histogram = scrape_latency_histogram(options.mirror_status, report.remote_latency_topic);
  if (!report.histogram.error.empty()) {
    collect(report.warnings, {"mirror latency histogram unavailable: " + report.histogram.error});
  }

  report.final_status = fetch_mirror_status(options.mirror_status);
  report.final_target_end_offsets = end_offsets(options.mirror_target, m.remote_topic, partitions);
  for (int i = 0; i < partitions; ++i) {
    const int64_t there = report.final_target_end_offsets[i];
    const int64_t want = p.per_partition[i];
    if (there != want) {
      collect(report.warnings,
              {fmt::format("{} partition {} ends at offset {} after the run, {} records were "
                           "produced to it",
                           m.remote_topic, i, there, want)});
    }
  }
  for (auto& extra : extra_mirrors) {
    const std::string how = extra->stop(kMirrorStopGrace);
    if (how.rfind("exit 0 ", 0) != 0)
      collect(report.warnings, {fmt::format("ferry-mirror pid {} did not shut down cleanly: {}", extra->pid(), how)});
  }
  report.mirror_stopped = mirror.stop(kMirrorStopGrace);
  progress("ferry-mirror stopped: " + report.mirror_stopped);
  if (report.mirror_stopped.rfind("exit 0 ", 0) != 0) {
    collect(report.warnings, {"ferry-mirror did not shut down cleanly: " + report.mirror_stopped});
  }

  std::fputs(render(options, report).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace ferry::bench
