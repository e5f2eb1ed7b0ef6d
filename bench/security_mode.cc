#include "bench/security_mode.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/bench_error.h"
#include "bench/consume_bench.h"
#include "bench/cpu_usage.h"
#include "bench/kafka_client.h"
#include "bench/login_bench.h"
#include "bench/payload.h"
#include "bench/produce_bench.h"
#include "bench/report_json.h"

namespace ferry::bench {
namespace {

// Issue 15: a secured listener must reach this fraction of PLAINTEXT throughput.
constexpr double kSecuredRatioGoal = 0.8;
// Enough partitions that the broker's network and log threads all work, few enough that
// every batch is still large.
constexpr int kPartitions = 4;
// A librdkafka broker thread this busy (cores) over a case is the case's bottleneck.
constexpr double kSaturatedCores = 0.9;
// A case that moved less than this in less than that measured start-up more than steady state
// (issue 15: at least 5 s or 1 GB per case).
constexpr double kMinCaseSeconds = 5.0;
constexpr int64_t kMinCaseBytes = 1'000'000'000;

struct Case {
  std::string name;  // "plaintext", "ssl", "sasl_ssl", "audit_all"
  std::string security_protocol;
  std::string bootstrap;
  ClientProperties props;
  // One entry per round, in round order.
  std::vector<ProduceResult> produce_rounds;
  std::vector<ConsumeResult> consume_rounds;
  // The round with the highest MB/s: on a shared machine the least disturbed one.
  const ProduceResult& produce() const {
    return *std::max_element(produce_rounds.begin(), produce_rounds.end(),
                             [](const auto& a, const auto& b) { return a.mb_per_s() < b.mb_per_s(); });
  }
  const ConsumeResult& consume() const {
    return *std::max_element(consume_rounds.begin(), consume_rounds.end(),
                             [](const auto& a, const auto& b) { return a.mb_per_s() < b.mb_per_s(); });
  }
};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The -X properties a case of `protocol` gets: PLAINTEXT none of the ssl.*/sasl.* ones, SSL
// the ssl.* ones, SASL_SSL all; security.protocol is always the case's own.
ClientProperties case_properties(const ClientProperties& all, const std::string& protocol) {
  ClientProperties out;
  bool mechanism = false;
  for (const auto& [k, v] : all) {
    if (k == "security.protocol") continue;
    const bool ssl = starts_with(k, "ssl.");
    const bool sasl = starts_with(k, "sasl.");
    if (protocol == "plaintext" && (ssl || sasl)) continue;
    if (protocol == "ssl" && sasl) continue;
    mechanism |= k == "sasl.mechanism";
    out.emplace_back(k, v);
  }
  out.emplace_back("security.protocol", protocol);
  if (protocol == "sasl_ssl" && !mechanism) out.emplace_back("sasl.mechanism", "SCRAM-SHA-512");
  return out;
}

std::string property(const ClientProperties& props, const std::string& key, std::string fallback) {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return fallback;
}

// Runs `what`; on failure names the case and, if one stopped answering, the broker.
template <typename F>
auto guarded(const std::string& what, const std::vector<std::pair<std::string, std::string>>& brokers,
             F&& f) {
  try {
    return f();
  } catch (const BenchError& e) {
    std::string dead;
    for (const auto& [name, address] : brokers) {
      try {
        require_metadata(address, std::chrono::seconds(3));
      } catch (const BenchError&) {
        dead += fmt::format("{}broker {} ({}) no longer answers Metadata", dead.empty() ? "" : "; ",
                            name, address);
      }
    }
    throw BenchError(fmt::format("{}: {}{}", what, e.what(), dead.empty() ? "" : " — " + dead));
  }
}

Json render_throughput(const ProduceResult& p) {
  return {{"topic", p.spec.topic},
          {"records", p.records},
          {"bytes", p.bytes},
          {"seconds", rounded(p.seconds, 3)},
          {"records_per_s", rounded(p.records_per_s(), 0)},
          {"mb_per_s", rounded(p.mb_per_s(), 1)},
          {"capped", p.capped},
          {"cpu", render_cpu(p.cpu)}};
}

Json consume_json(const ConsumeResult& k) {
  Json j = render_consume(k);
  j["cpu"] = render_cpu(k.cpu);
  return j;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

Json render_login(const LoginRun& l) {
  Json j = {{"mechanism", l.mechanism},
            {"clients", l.clients},
            {"logins", l.logins},
            {"seconds", rounded(l.seconds, 3)},
            {"logins_per_s", rounded(l.logins_per_s(), 1)}};
  Json latency = {{"samples", l.latency.samples}};
  add_latency(latency, l.latency);
  j["latency_ms"] = std::move(latency);
  return j;
}

}  // namespace

int run_security_mode(const Options& options) {
  const PayloadPool pool(static_cast<size_t>(options.record_size));
  const std::string prefix =
      fmt::format("ferry-bench-{}-{}", static_cast<long long>(std::time(nullptr)), ::getpid());
  const std::vector<std::pair<std::string, std::string>> brokers = {
      {"main (PLAINTEXT)", options.bootstrap}, {"audit-all", options.security_audit_all}};

  std::vector<Case> cases = {
      {"plaintext", "plaintext", options.bootstrap, {}, {}, {}},
      {"ssl", "ssl", options.security_ssl, {}, {}, {}},
      {"sasl_ssl", "sasl_ssl", options.security_sasl_ssl, {}, {}, {}},
      {"audit_all", "plaintext", options.security_audit_all, {}, {}, {}}};
  const int rounds = static_cast<int>(options.security_rounds);
  auto topic = [&](const Case& c, int round) { return fmt::format("{}-{}-r{}", prefix, c.name, round); };
  for (auto& c : cases) c.props = case_properties(options.client_properties, c.security_protocol);

  const CpuSample idle_start = sample_cpu();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const CpuUsage before_run = cpu_usage(idle_start, sample_cpu());

  std::vector<std::string> warnings;
  if (before_run.machine_cores > 0.25) {
    collect(warnings, {fmt::format("{:.2f} cores were busy before the run: something else is using "
                                   "the CPUs, do not quote these numbers", before_run.machine_cores)});
  }
  guarded("creating topics", brokers, [&] {
    std::vector<TopicSpec> main_topics;
    std::vector<TopicSpec> audit_topics;
    for (int round = 0; round < rounds; ++round) {
      for (auto& c : cases) {
        (c.name == "audit_all" ? audit_topics : main_topics).push_back({topic(c, round), kPartitions});
      }
    }
    create_topics(options.bootstrap, main_topics, std::chrono::seconds(15));
    create_topics(options.security_audit_all, audit_topics, std::chrono::seconds(15));
    return 0;
  });

  // Even rounds run the cases in order, odd rounds in reverse, so a drift in the machine's load
  // does not always favour the same case.
  for (int round = 0; round < rounds; ++round) {
    std::vector<Case*> order;
    for (auto& c : cases) order.push_back(&c);
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (Case* cp : order) {
      Case& c = *cp;
      Options o = options;
      o.bootstrap = c.bootstrap;
      o.client_properties = c.props;
      o.broker_pid = c.name == "audit_all" ? options.security_audit_all_pid : options.broker_pid;
      const ProduceCase spec{"1", kPartitions, topic(c, round)};
      ProduceResult p = guarded(fmt::format("round {} produce over {} ({})", round + 1, c.name, c.bootstrap),
                                brokers, [&] { return run_produce_case(o, pool, spec); });
      progress(fmt::format("round {} {} produce: {} records in {:.3f} s = {:.0f} rec/s, {:.1f} MB/s{}",
                           round + 1, c.name, p.records, p.seconds, p.records_per_s(), p.mb_per_s(),
                           p.capped ? " (capped)" : ""));
      collect(warnings, p.warnings);
      ConsumeResult k = guarded(fmt::format("round {} consume over {} ({})", round + 1, c.name, c.bootstrap),
                                brokers, [&] { return run_consume(o, pool, p); });
      progress(fmt::format("round {} {} consume: {} records in {:.3f} s = {:.0f} rec/s, {:.1f} MB/s{}",
                           round + 1, c.name, k.records, k.seconds, k.records_per_s(), k.mb_per_s(),
                           k.capped ? " (capped)" : ""));
      collect(warnings, k.warnings);
      for (const auto& [what, secs, bytes] : {std::tuple{"produce", p.seconds, p.bytes},
                                              std::tuple{"consume", k.seconds, k.bytes}}) {
        if (secs < kMinCaseSeconds && bytes < kMinCaseBytes) {
          collect(warnings, {fmt::format("{} {} moved {} bytes in {:.2f} s (< 1 GB and < 5 s): raise "
                                         "--records for numbers worth quoting",
                                         c.name, what, bytes, secs)});
        }
      }
      c.produce_rounds.push_back(std::move(p));
      c.consume_rounds.push_back(std::move(k));
    }
  }

  const std::string user = property(options.client_properties, "sasl.username", "");
  const std::string password = property(options.client_properties, "sasl.password", "");
  std::string scram = property(options.client_properties, "sasl.mechanism", "SCRAM-SHA-512");
  if (scram == "PLAIN") scram = "SCRAM-SHA-512";
  std::vector<LoginRun> logins;
  for (const std::string& mechanism : {scram, std::string("PLAIN")}) {
    LoginRun l = guarded(fmt::format("{} logins on {}", mechanism, options.security_sasl_plaintext),
                         brokers, [&] {
                           return run_logins(options.security_sasl_plaintext, mechanism, user,
                                             password, static_cast<int>(options.login_clients),
                                             options.login_seconds);
                         });
    progress(fmt::format("{} logins, {} clients: {} in {:.2f} s = {:.0f}/s (p50 {:.2f} ms, p99 {:.2f} ms)",
                         mechanism, l.clients, l.logins, l.seconds, l.logins_per_s(), l.latency.p50_ms,
                         l.latency.p99_ms));
    logins.push_back(std::move(l));
  }

  // Report.
  const Case& plain = cases[0];
  Json j;
  j["tool"] = "ferry-bench";
  j["mode"] = "security";
  j["librdkafka"] = rd_kafka_version_str();
  j["listeners"] = {{"plaintext", options.bootstrap},
                    {"ssl", options.security_ssl},
                    {"sasl_ssl", options.security_sasl_ssl},
                    {"sasl_plaintext", options.security_sasl_plaintext},
                    {"audit_all_plaintext", options.security_audit_all}};
  j["machine"] = {{"cpus", online_cpus()},
                  {"busy_cores_before_run", rounded(before_run.machine_cores, 2)}};
  j["settings"] = {{"records", options.records},
                   {"record_size", options.record_size},
                   {"partitions", kPartitions},
                   {"acks", "1"},
                   {"seconds_cap", rounded(options.seconds, 1)},
                   {"rounds", rounds},
                   {"per_case", "the round with the highest MB/s; every round's MB/s in *_by_round"},
                   {"login_clients", options.login_clients},
                   {"login_seconds", rounded(options.login_seconds, 1)},
                   {"mb", "10^6 bytes of record values (no keys, headers or framing)"}};
  Json throughput = Json::object();
  bool met = true;
  // Secured cases below the goal whose client network thread was saturated: librdkafka does all
  // of a connection's TLS and socket work on that one thread, so the client set their pace.
  Json client_bound = Json::array();
  for (const auto& c : cases) {
    Json produce_rounds = Json::array();
    for (const auto& p : c.produce_rounds) produce_rounds.push_back(rounded(p.mb_per_s(), 1));
    Json consume_rounds = Json::array();
    for (const auto& k : c.consume_rounds) consume_rounds.push_back(rounded(k.mb_per_s(), 1));
    Json cj = {{"security_protocol", c.security_protocol},
               {"bootstrap", c.bootstrap},
               {"produce", render_throughput(c.produce())},
               {"consume", consume_json(c.consume())},
               {"produce_mb_per_s_by_round", std::move(produce_rounds)},
               {"consume_mb_per_s_by_round", std::move(consume_rounds)}};
    if (&c != &plain) {
      const double pr = ratio(c.produce().mb_per_s(), plain.produce().mb_per_s());
      const double cr = ratio(c.consume().mb_per_s(), plain.consume().mb_per_s());
      cj["produce_ratio_to_plaintext"] = rounded(pr, 3);
      cj["consume_ratio_to_plaintext"] = rounded(cr, 3);
      if (c.name == "ssl" || c.name == "sasl_ssl") {
        met = met && pr >= kSecuredRatioGoal && cr >= kSecuredRatioGoal;
        for (const auto& [what, r, cpu] : {std::tuple{"produce", pr, c.produce().cpu},
                                           std::tuple{"consume", cr, c.consume().cpu}}) {
          if (r < kSecuredRatioGoal && cpu.client_network_thread_cores.value_or(0) >= kSaturatedCores) {
            client_bound.push_back(fmt::format("{} {}", c.name, what));
          }
        }
      }
    }
    cj["client_config"] = settings(c.produce().client_settings, "acks");
    throughput[c.name] = std::move(cj);
  }
  j["throughput"] = std::move(throughput);
  j["audit_all_events"] = {
      {"note", "audit_all vs plaintext: two brokers configured alike but for audit.log.events"},
      {"produce_ratio_to_default_events", rounded(ratio(cases[3].produce().mb_per_s(), plain.produce().mb_per_s()), 3)},
      {"consume_ratio_to_default_events", rounded(ratio(cases[3].consume().mb_per_s(), plain.consume().mb_per_s()), 3)}};
  Json lj = Json::array();
  for (const auto& l : logins) lj.push_back(render_login(l));
  j["logins"] = {{"listener", options.security_sasl_plaintext},
                 {"user", user},
                 {"client", "ferry-bench's own; SCRAM SaltedPassword derived once, not per login"},
                 {"runs", std::move(lj)},
                 {"plain_to_scram_ratio",
                  rounded(ratio(logins[1].logins_per_s(), logins[0].logins_per_s()), 3)}};
  j["warnings"] = warnings;
  j["goal"] = {{"secured_ratio_min", kSecuredRatioGoal},
               {"applies_to", {"ssl", "sasl_ssl"}},
               {"worst_ratio", rounded(std::min({ratio(cases[1].produce().mb_per_s(), plain.produce().mb_per_s()),
                                                 ratio(cases[1].consume().mb_per_s(), plain.consume().mb_per_s()),
                                                 ratio(cases[2].produce().mb_per_s(), plain.produce().mb_per_s()),
                                                 ratio(cases[2].consume().mb_per_s(), plain.consume().mb_per_s())}),
                                       3)},
               {"met", met},
               {"missed_with_client_network_thread_saturated", std::move(client_bound)},
               {"saturated_means", fmt::format("client_network_thread_cores >= {}", kSaturatedCores)}};
  std::fputs((j.dump(1) + "\n").c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace ferry::bench
