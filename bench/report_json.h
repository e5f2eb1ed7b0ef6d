#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "bench/consume_bench.h"
#include "bench/latency_bench.h"

namespace ferry::bench {

/// The report's JSON type: ordered, so keys appear in the order a reader expects them
/// (what was measured, then how fast, then caveats) rather than alphabetically.
using Json = nlohmann::ordered_json;

/// One progress line on stderr ("ferry-bench: ..."); stdout carries only the JSON report.
void progress(const std::string& line);

/// Prints each of `from` as a warning on stderr and appends it to `into`.
void collect(std::vector<std::string>& into, const std::vector<std::string>& from);

/// `v` rounded to `digits` decimals: the JSON is read by people as much as by scripts.
double rounded(double v, int digits);

/// Client properties as a JSON object, leaving out `skip` (a key the report states elsewhere,
/// or that differs per run such as a group id).
Json settings(const std::vector<std::pair<std::string, std::string>>& kv,
              const char* skip = nullptr);

/// Adds flat p50/p99/p999/max/min/mean keys, in milliseconds, to `out`.
void add_latency(Json& out, const LatencySummary& s);

/// The "consume" object of the report (bench/README.md, "Reading the JSON").
Json render_consume(const ConsumeResult& c);

/// A phase's CPU (bench/cpu_usage.h) as {"seconds", "machine_cores", "client_network_thread_cores",
/// "client_network_thread_cpu_ms_per_mb", "broker_cores", "broker_cpu_ms_per_mb"}; unknown figures
/// are null.
Json render_cpu(const PhaseCpu& cpu);

/// The "latency_ms" object of the report: end-to-end and produce-ack distributions, sender
/// schedule slip, duplicates and client errors.
Json render_latency(const LatencyResult& l);
/// An fsync probe's rounds: count, seconds, per_s and the round time's p50/p99/max in ms.
Json render_fsync_probe(const FsyncRateResult& f);

}  // namespace ferry::bench
