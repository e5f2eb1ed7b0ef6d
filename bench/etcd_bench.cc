// ferry-etcd-bench: what talking to etcd through its v3 JSON gateway (HTTP/1.1 + JSON, the way
// common/etcd_client.h does) costs per call, against a limit measured in the same run: etcd's
// own handling time of the same calls. Never run by CI (scripts/bench-etcd.sh runs it against a
// throwaway etcd).
//
//   ferry-etcd-bench --endpoint HOST:PORT [--calls N] [--value-bytes B]
//
// Four phases of N sequential calls on one ferry::etcd::Client: a linearizable get of one key, a
// put of one key, a compare-and-set txn (mod_revision of the value read just before, as the
// metadata store's producer-id reservation does; only the txn is timed), and a range over a
// 100-key prefix. Around each phase it scrapes etcd's /metrics (etcd must run with
// `--metrics extensive`): grpc_server_handling_seconds_{sum,count} of the phase's gRPC method
// (the gateway is an in-process gRPC client, so its calls are counted there) give the server's
// mean handling time of exactly those calls; client mean minus that is what HTTP/1.1, JSON, the
// gateway's own gRPC hop and our client add. etcd_disk_wal_fsync_duration_seconds over the write
// phases says how much of a write is the disk. One JSON object on stdout, progress on stderr;
// exit 1 when etcd is unreachable, a call fails or a metric is missing, 2 for bad arguments.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "bench/bench_error.h"
#include "bench/http_get.h"
#include "bench/mirror_endpoints.h"
#include "common/etcd_client.h"

namespace {

using ferry::bench::BenchError;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;  // keys in the order written: phases in run order

constexpr int kRangeKeys = 100;
constexpr auto kScrapeTimeout = std::chrono::milliseconds(5000);
const char* const kHandlingMetric = "grpc_server_handling_seconds";
const char* const kFsyncMetric = "etcd_disk_wal_fsync_duration_seconds";

struct Options {
  std::string endpoint;  // host:port or http://host:port
  int64_t calls = 5000;
  int64_t value_bytes = 256;
};

constexpr const char* kUsage =
    "usage: ferry-etcd-bench --endpoint HOST:PORT [--calls N] [--value-bytes B]\n"
    "  --endpoint HOST:PORT  etcd client URL (run etcd with --metrics extensive)\n"
    "  --calls N             calls per phase, 1 ... 10000000 (default 5000)\n"
    "  --value-bytes B       size of every value written, 16 ... 65536 (default 256)\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "ferry-etcd-bench: %s\n%s", what.c_str(), kUsage);
  std::exit(2);
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t low, int64_t high) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v < low || v > high)
    usage_error(fmt::format("{} \"{}\": expected a whole number in [{}, {}]", flag, text, low, high));
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string flag = arg, value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", arg));
      value = argv[++i];
    }
    if (flag == "--endpoint")
      o.endpoint = value;
    else if (flag == "--calls")
      o.calls = parse_int(flag, value, 1, 10'000'000);
    else if (flag == "--value-bytes")
      o.value_bytes = parse_int(flag, value, 16, 65536);
    else
      usage_error(fmt::format("unknown argument \"{}\"", arg));
  }
  if (o.endpoint.empty()) usage_error("--endpoint is required");
  return o;
}

void progress(const std::string& line) { std::fprintf(stderr, "ferry-etcd-bench: %s\n", line.c_str()); }

double rounded(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

std::string base_url(const std::string& endpoint) {
  return endpoint.rfind("http://", 0) == 0 ? endpoint : "http://" + endpoint;
}

/// A JSON object of exactly `bytes` bytes, shaped like a topic record of the metadata store.
std::string make_value(int64_t bytes, int64_t salt) {
  Json v = {{"topic_id", fmt::format("{:032x}", salt)}, {"partitions", 12}, {"replication_factor", 3}, {"pad", ""}};
  const auto base = static_cast<int64_t>(v.dump().size());
  if (base <= bytes) {
    v["pad"] = std::string(static_cast<size_t>(bytes - base), 'x');
    return v.dump();
  }
  // Too small for the record shape: a JSON string of exactly `bytes` bytes (bytes >= 16).
  return "\"" + std::string(static_cast<size_t>(bytes - 2), 'x') + "\"";
}

/// etcd's counters of one scrape: (sum seconds, count) per gRPC method of etcdserverpb.KV, and
/// of the WAL fsync histogram.
struct Scrape {
  std::vector<ferry::bench::PromSample> samples;

  double value(const std::string& name, const std::vector<std::pair<std::string, std::string>>& match) const {
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : match) {
        const std::string* got = s.label(k);
        if (!got || *got != v) {
          all = false;
          break;
        }
      }
      if (all) return s.value;
    }
    std::string labels;
    for (const auto& [k, v] : match) labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", k, v);
    throw BenchError(fmt::format(
        "etcd's /metrics has no {}{}{}{}: is etcd 3.4+ running with --metrics extensive?", name,
        labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}"));
  }
  double handling(const std::string& method, const char* suffix) const {
    return value(std::string(kHandlingMetric) + suffix,
                 {{"grpc_method", method}, {"grpc_service", "etcdserverpb.KV"}, {"grpc_type", "unary"}});
  }
  double fsync(const char* suffix) const { return value(std::string(kFsyncMetric) + suffix, {}); }
};

Scrape scrape(const std::string& url) {
  const auto r = ferry::bench::http_get(url, "/metrics", kScrapeTimeout);
  if (r.status != 200) throw BenchError(fmt::format("GET {}/metrics answered HTTP {}", url, r.status));
  return Scrape{ferry::bench::parse_prometheus_text(r.body)};
}

/// Server-side deltas over one phase.
struct Delta {
  double sum_s = 0;
  double count = 0;
  double mean_us() const { return count > 0 ? sum_s / count * 1e6 : 0; }
};

Delta handling_delta(const Scrape& before, const Scrape& after, const std::string& method) {
  return {after.handling(method, "_sum") - before.handling(method, "_sum"),
          after.handling(method, "_count") - before.handling(method, "_count")};
}

Delta fsync_delta(const Scrape& before, const Scrape& after) {
  return {after.fsync("_sum") - before.fsync("_sum"), after.fsync("_count") - before.fsync("_count")};
}

struct Stats {
  double p50 = 0, p99 = 0, mean = 0, sum = 0, max = 0;
};

/// Nearest-rank quantiles of `us` (sorted in place).
Stats stats_of(std::vector<double>& us) {
  Stats s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto rank = [&](double q) {
    const auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::clamp<size_t>(k, 1, us.size()) - 1];
  };
  for (double v : us) s.sum += v;
  s.mean = s.sum / static_cast<double>(us.size());
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = us.back();
  return s;
}

struct PhaseResult {
  std::string name;
  std::string method;  // gRPC method of etcdserverpb.KV
  bool writes = false;
  int64_t calls = 0;
  Stats client;
  double wall_s = 0;
  Delta server;
  Delta fsync;
  std::vector<std::string> warnings;
};

/// Runs `one(i)` `calls` times; `one` returns the microseconds of the call it times.
PhaseResult run_phase(const std::string& url, std::string name, std::string method, bool writes, int64_t calls,
                      const std::function<double(int64_t)>& one) {
  PhaseResult r;
  r.name = std::move(name);
  r.method = std::move(method);
  r.writes = writes;
  r.calls = calls;
  std::vector<double> us;
  us.reserve(static_cast<size_t>(calls));
  const Scrape before = scrape(url);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < calls; ++i) us.push_back(one(i));
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const Scrape after = scrape(url);
  r.client = stats_of(us);
  r.server = handling_delta(before, after, r.method);
  r.fsync = fsync_delta(before, after);
  if (std::llround(r.server.count) != calls)
    r.warnings.push_back(fmt::format("etcd counted {} {} calls during the phase, not {}: another client is using "
                                     "this etcd, so the server mean is not of exactly these calls",
                                     std::llround(r.server.count), r.method, calls));
  progress(fmt::format("{}: {} calls, client mean {:.1f} us (p50 {:.1f}, p99 {:.1f}), server {} mean {:.1f} us",
                       r.name, calls, r.client.mean, r.client.p50, r.client.p99, r.method, r.server.mean_us()));
  for (const auto& w : r.warnings) progress("warning: " + w);
  return r;
}

double micros_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

Json render(const PhaseResult& r) {
  const double server_mean = r.server.mean_us();
  Json j = {{"grpc_method", r.method},
            {"calls", r.calls},
            {"client_us", {{"p50", rounded(r.client.p50, 1)}, {"p99", rounded(r.client.p99, 1)},
                           {"mean", rounded(r.client.mean, 1)}, {"max", rounded(r.client.max, 1)}}},
            {"calls_per_s", rounded(r.client.sum > 0 ? r.calls / (r.client.sum / 1e6) : 0, 0)},
            {"server_mean_us", rounded(server_mean, 1)},
            {"server_count", std::llround(r.server.count)},
            {"server_count_matches", std::llround(r.server.count) == r.calls},
            {"client_overhead_us", rounded(r.client.mean - server_mean, 1)},
            {"server_share", rounded(r.client.mean > 0 ? server_mean / r.client.mean : 0, 3)},
            {"wal_fsync", {{"count", std::llround(r.fsync.count)}, {"mean_us", rounded(r.fsync.mean_us(), 1)},
                           {"per_call", rounded(r.fsync.count / static_cast<double>(r.calls), 3)}}},
            {"warnings", r.warnings}};
  if (r.method == "Txn") j["cas_cycles_per_s"] = rounded(r.calls / r.wall_s, 0);
  return j;
}

int run(const Options& o) {
  const std::string url = base_url(o.endpoint);

  // Reachability and version first, so an unreachable etcd is one clear line.
  std::string version = "unknown";
  try {
    const auto v = ferry::bench::http_get(url, "/version", kScrapeTimeout);
    if (v.status != 200) throw BenchError(fmt::format("HTTP {}", v.status));
    const Json j = Json::parse(v.body, nullptr, false);
    if (j.is_object() && j.contains("etcdserver") && j["etcdserver"].is_string())
      version = j["etcdserver"].get<std::string>();
  } catch (const std::exception& e) {
    throw BenchError(fmt::format("etcd at {} is unreachable (GET /version: {})", url, e.what()));
  }
  // Every metric the report needs, checked before any call is made.
  {
    const Scrape s = scrape(url);
    for (const char* m : {"Range", "Put", "Txn"})
      for (const char* suffix : {"_sum", "_count"}) (void)s.handling(m, suffix);
    for (const char* suffix : {"_sum", "_count"}) (void)s.fsync(suffix);
  }

  ferry::etcd::ClientOptions co;
  co.endpoints = {o.endpoint};
  ferry::etcd::Client client(co);

  const std::string prefix =
      fmt::format("/ferry-etcd-bench/{}-{}/", static_cast<long long>(std::time(nullptr)), ::getpid());
  const std::string get_key = prefix + "get";
  const std::string put_key = prefix + "put";
  const std::string cas_key = prefix + "cas";
  const std::string range_prefix = prefix + "range/";
  const std::string range_end = ferry::etcd::prefix_end(range_prefix);
  const std::string value = make_value(o.value_bytes, 1);

  progress(fmt::format("etcd {} at {}: writing {} setup keys under {}", version, url, kRangeKeys + 2, prefix));
  client.put(get_key, value);
  client.put(cas_key, "0");
  for (int k = 0; k < kRangeKeys; ++k) client.put(fmt::format("{}{:03d}", range_prefix, k), make_value(o.value_bytes, k));

  std::vector<PhaseResult> phases;
  phases.push_back(run_phase(url, "get", "Range", false, o.calls, [&](int64_t) {
    const auto t0 = Clock::now();
    const auto r = client.get(get_key);
    const double us = micros_since(t0);
    if (r.kvs.size() != 1) throw BenchError(fmt::format("get {}: {} keys, expected 1", get_key, r.kvs.size()));
    return us;
  }));
  phases.push_back(run_phase(url, "put", "Put", true, o.calls, [&](int64_t) {
    const auto t0 = Clock::now();
    client.put(put_key, value);
    return micros_since(t0);
  }));
  // Each CAS writes a record-sized value that changes (its topic_id is the call's number).
  phases.push_back(run_phase(url, "txn_cas", "Txn", true, o.calls, [&](int64_t i) {
    const auto g = client.get(cas_key);  // untimed: a Range, not counted under Txn
    if (g.kvs.size() != 1) throw BenchError(fmt::format("get {}: {} keys, expected 1", cas_key, g.kvs.size()));
    const std::vector<ferry::etcd::Compare> compare = {
        ferry::etcd::Compare::mod_revision_is(cas_key, g.kvs[0].mod_revision)};
    const std::vector<ferry::etcd::Op> success = {ferry::etcd::Op::put(cas_key, make_value(o.value_bytes, i))};
    const std::vector<ferry::etcd::Op> failure = {ferry::etcd::Op::get(cas_key)};
    const auto t0 = Clock::now();
    const auto r = client.txn(compare, success, failure);
    const double us = micros_since(t0);
    if (!r.succeeded)
      throw BenchError(fmt::format("the compare-and-set on {} failed: another client writes this key", cas_key));
    return us;
  }));
  phases.push_back(run_phase(url, "range_100", "Range", false, o.calls, [&](int64_t) {
    const auto t0 = Clock::now();
    const auto r = client.range(range_prefix, range_end);
    const double us = micros_since(t0);
    if (r.kvs.size() != kRangeKeys)
      throw BenchError(fmt::format("range {}: {} keys, expected {}", range_prefix, r.kvs.size(), kRangeKeys));
    return us;
  }));

  try {
    client.remove(prefix, ferry::etcd::prefix_end(prefix));
  } catch (const std::exception& e) {
    progress(fmt::format("warning: could not delete the bench's keys under {}: {}", prefix, e.what()));
  }

  Json out;
  out["mode"] = "etcd-gateway";
  out["endpoint"] = url;
  out["etcd_version"] = version;
  out["calls_per_phase"] = o.calls;
  out["value_bytes"] = o.value_bytes;
  out["range_keys"] = kRangeKeys;
  out["limit"] = fmt::format(
      "server_mean_us: etcd's mean {}_sum/_count of the phase's etcdserverpb.KV method, scraped from "
      "/metrics before and after the phase", kHandlingMetric);
  Json ph = Json::object();
  Delta writes_fsync;
  int64_t write_calls = 0;
  std::vector<std::string> warnings;
  for (const auto& p : phases) {
    ph[p.name] = render(p);
    if (p.writes) {
      writes_fsync.sum_s += p.fsync.sum_s;
      writes_fsync.count += p.fsync.count;
      write_calls += p.calls;
    }
    for (const auto& w : p.warnings) warnings.push_back(p.name + ": " + w);
  }
  out["phases"] = std::move(ph);
  out["wal_fsync_write_phases"] = {{"count", std::llround(writes_fsync.count)},
                                   {"mean_us", rounded(writes_fsync.mean_us(), 1)},
                                   {"per_write", rounded(write_calls ? writes_fsync.count / write_calls : 0, 3)}};
  out["warnings"] = warnings;
  std::fputs((out.dump(1) + "\n").c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  try {
    return run(o);
  } catch (const ferry::etcd::EtcdError& e) {
    std::fprintf(stderr, "ferry-etcd-bench: etcd call failed (code %d): %s\n", e.code, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-etcd-bench: %s\n", e.what());
  }
  return 1;
}
