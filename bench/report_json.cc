#include "bench/report_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ferry::bench {

void progress(const std::string& line) {
  std::fprintf(stderr, "ferry-bench: %s\n", line.c_str());
}

void collect(std::vector<std::string>& into, const std::vector<std::string>& from) {
  for (const auto& w : from) {
    progress("warning: " + w);
    into.push_back(w);
  }
}

double rounded(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

Json settings(const std::vector<std::pair<std::string, std::string>>& kv, const char* skip) {
  Json out = Json::object();
  for (const auto& [key, value] : kv)
    if (skip == nullptr || key != skip) out[key] = value;
  return out;
}

void add_latency(Json& out, const LatencySummary& s) {
  out["p50"] = s.p50_ms;
  out["p99"] = s.p99_ms;
  out["p999"] = s.p999_ms;
  out["max"] = s.max_ms;
  out["min"] = s.min_ms;
  out["mean"] = s.mean_ms;
}

Json render_consume(const ConsumeResult& c) {
  return {{"topic", c.topic},
          {"partitions", c.partitions},
          {"records", c.records},
          {"bytes", c.bytes},
          {"seconds", rounded(c.seconds, 4)},
          {"records_per_s", rounded(c.records_per_s(), 0)},
          {"mb_per_s", rounded(c.mb_per_s(), 1)},
          {"startup_seconds", rounded(c.startup_seconds, 4)},
          {"value_mismatches", c.value_mismatches},
          {"client_errors", c.client_errors},
          {"capped", c.capped}};
}

Json render_cpu(const PhaseCpu& cpu) {
  auto opt = [](const std::optional<double>& v, int digits) -> Json {
    return v ? Json(rounded(*v, digits)) : Json(nullptr);
  };
  return {{"seconds", rounded(cpu.seconds, 3)},
          {"machine_cores", rounded(cpu.machine_cores, 2)},
          {"client_network_thread_cores", opt(cpu.client_network_thread_cores, 2)},
          {"client_network_thread_cpu_ms_per_mb", opt(cpu.client_network_thread_cpu_ms_per_mb, 3)},
          {"broker_cores", opt(cpu.broker_cores, 2)},
          {"broker_cpu_ms_per_mb", opt(cpu.broker_cpu_ms_per_mb, 3)}};
}

Json render_fsync_probe(const FsyncRateResult& f) {
  const LatencySummary rounds = summarize(f.round_ns);
  return {{"count", f.count},
          {"seconds", rounded(f.seconds, 4)},
          {"per_s", rounded(f.per_s(), 0)},
          {"p50_ms", rounded(rounds.p50_ms, 4)},
          {"p99_ms", rounded(rounds.p99_ms, 4)},
          {"max_ms", rounded(rounds.max_ms, 4)}};
}

Json render_latency(const LatencyResult& l) {
  Json latency = {{"rate_per_s", l.rate_per_s},
                  {"rate_rule", l.rate_rule.empty() ? Json(nullptr) : Json(l.rate_rule)},
                  {"seconds", rounded(l.seconds, 1)},
                  {"settle_sync_ms", rounded(l.settle_sync_ms, 1)},
                  {"sent", l.sent},
                  {"samples", l.end_to_end.samples}};
  add_latency(latency, l.end_to_end);
  Json ack = {{"samples", l.produce_ack.samples}};
  add_latency(ack, l.produce_ack);
  // One list per part, a window per entry, and the worst window of each.
  Json by_window = {{"window_ms", kAckStatsWindowMs},
                    {"source", "librdkafka statistics of the connection to the leader (STATISTICS.md); -1: no request in that window"}};
  Json worst;
  for (auto [name, part] : {std::pair{"queue", &AckTimingWindow::queue_p99_ms},
                            std::pair{"outbuf", &AckTimingWindow::outbuf_p99_ms},
                            std::pair{"rtt", &AckTimingWindow::rtt_p99_ms}}) {
    Json values = Json::array();
    double most = -1;
    for (const auto& w : l.ack_timing) {
      values.push_back(w.*part);
      most = std::max(most, w.*part);
    }
    by_window[name] = std::move(values);
    worst[name] = most;
  }
  by_window["worst"] = std::move(worst);
  ack["librdkafka_p99_ms_by_window"] = std::move(by_window);
  latency["produce_ack"] = std::move(ack);
  if (l.disk_fsync) {
    Json disk = render_fsync_probe(*l.disk_fsync);
    disk["write_bytes"] = l.disk_fsync->write_bytes;
    disk["interval_ms"] = kDiskProbeIntervalMs;
    latency["disk_fsync_during"] = std::move(disk);
  } else {
    latency["disk_fsync_during"] = nullptr;
  }
  latency["max_behind_schedule"] = l.max_behind_schedule_ms;
  latency["duplicates"] = l.duplicates;
  latency["client_errors"] = l.client_errors;
  return latency;
}

}  // namespace ferry::bench
