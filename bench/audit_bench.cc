// ferry-audit-bench: how fast the hash-chained audit log appends (common/hash_chain.h,
// security/audit_log.h) on this machine's disk. Never run by CI.
//
//   ferry-audit-bench [DIR] [EVENTS]
//
// Prints, for the chain writer alone, lines/s with one write+fsync per line and per 100-line
// batch; and for SecurityAuditLog, distinct events/s recorded from 4 threads until all are
// fsynced (no repeat folding: every event differs), plus identical events/s (all folded).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/hash_chain.h"
#include "security/audit_log.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double chain_rate(const fs::path& dir, int lines, int batch) {
  fs::remove_all(dir);
  ferry::hash_chain::ChainWriter w({dir / "chain.log", dir / "anchor.json", 0, 1});
  const auto t0 = Clock::now();
  for (int i = 0; i < lines; i += batch) {
    std::vector<nlohmann::json> b;
    for (int k = 0; k < batch; ++k) b.push_back({{"i", i + k}, {"what", "bench"}});
    w.append(std::move(b));
  }
  return lines / seconds_since(t0);
}

double audit_rate(const fs::path& dir, int events, bool identical) {
  fs::remove_all(dir);
  ferry::security::AuditLogOptions o;
  o.file = dir / "security-audit.log";
  o.anchor = dir / "anchor.json";
  o.categories = ferry::security::parse_audit_categories(ferry::security::default_audit_categories());
  o.cluster_id = "bench";
  o.queue_capacity = static_cast<size_t>(events);  // measure the writer, not drops
  ferry::security::SecurityAuditLog log(o);
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      ferry::security::RequestIdentity who;
      who.client_host = "10.0.0.1";
      who.listener = "PLAINTEXT";
      who.method = "kafka.DeleteTopics";
      for (int i = t; i < events; i += 4)
        log.on_decision(who, ferry::security::Operation::Delete,
                        {ferry::security::ResourceType::Topic, identical ? "t" : "t" + std::to_string(i)},
                        {false, "denied"});
    });
  for (auto& t : ts) t.join();
  log.flush();
  const double rate = events / seconds_since(t0);
  const auto s = log.stats();
  std::fprintf(stderr, "  (%llu lines, %llu folded, %llu dropped)\n", static_cast<unsigned long long>(s.lines),
               static_cast<unsigned long long>(s.folded), static_cast<unsigned long long>(s.dropped));
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "ferry-audit-bench";
  const int events = argc > 2 ? std::atoi(argv[2]) : 20000;
  std::puts(fmt::format("chain, fsync per line:       {:>10.0f} lines/s", chain_rate(dir, 500, 1)).c_str());
  std::puts(fmt::format("chain, fsync per 100 lines:  {:>10.0f} lines/s", chain_rate(dir, events, 100)).c_str());
  std::puts(fmt::format("audit log, distinct events:  {:>10.0f} events/s", audit_rate(dir, events, false)).c_str());
  std::puts(fmt::format("audit log, identical events: {:>10.0f} events/s", audit_rate(dir, events * 10, true)).c_str());
  fs::remove_all(dir);
  return 0;
}
