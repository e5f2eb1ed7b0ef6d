// ferry-dr: disaster-recovery health monitoring, journaled failover/failback/resume and drills for
// Ferry regions.
// Usage and exit codes are in print_usage(); the full reference is docs/dr.md.
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "dr-orchestrator/audit.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/drill.h"
#include "dr-orchestrator/errors.h"
#include "dr-orchestrator/failover.h"
#include "dr-orchestrator/flow_view.h"
#include "dr-orchestrator/report.h"
#include "dr-orchestrator/journal.h"
#include "dr-orchestrator/kafka_admin.h"
#include "dr-orchestrator/status.h"
#include "dr-orchestrator/watch_guard.h"

namespace {

using namespace ferry::dr;

constexpr int code(Exit e) { return static_cast<int>(e); }

void print_usage(std::ostream& out) {
  out << "ferry-dr: health of Ferry regions and mirror flows, for disaster recovery.\n\n"
         "Usage:\n"
         "  ferry-dr status --config FILE [--json]   probe every region and flow once and print the result\n"
         "  ferry-dr watch --config FILE             evaluate every watch.interval.seconds until SIGTERM/SIGINT;\n"
         "                                           serve /metrics, /status, /healthz on metrics.listener and\n"
         "                                           log every state change\n"
         "  ferry-dr audit verify (--config FILE | --file AUDIT.jsonl)\n"
         "                                           check the audit log's hash chain; report the first broken line\n"
         "  ferry-dr role REGION --config FILE [primary|standby]\n"
         "                                           print the region's ferry.cluster.role, or set it (under the\n"
         "                                           operation lock; IncrementalAlterConfigs on the cluster default)\n"
         "  ferry-dr failover --to REGION --config FILE [--planned | --force] [--max-data-loss RECORDS] [--json]\n"
         "                                           move the primary role to REGION: precheck, fence the old primary,\n"
         "                                           drain (planned) or measure the loss (unplanned), stop the flow and\n"
         "                                           translate group offsets, promote, redirect the bootstrap file,\n"
         "                                           start the reverse flow, verify with a canary, write the report.\n"
         "                                           --planned refuses unless the old primary is reachable; --force\n"
         "                                           accepts a loss over --max-data-loss (default policy\n"
         "                                           max.data.loss.records) and untranslated groups\n"
         "  ferry-dr failback --config FILE [--json] a planned failover back to the region the last failover left\n"
         "  ferry-dr resume --config FILE [--json]   finish the pending operation after ferry-dr was killed or a step\n"
         "                                           after promotion failed\n"
         "  ferry-dr drill --config FILE [--report FILE] [--json]\n"
         "                                           planned failover and failback under a synthetic workload (topic and\n"
         "                                           group ferry-dr.drill, following bootstrap.file); reports RPO, RTO\n"
         "                                           and re-delivered records; exit 0 only if RPO = 0, re-delivered = 0\n"
         "                                           and the final health is ok\n"
         "  ferry-dr --config-reference              every configuration key as Markdown (docs/dr-config.md)\n"
         "  ferry-dr [COMMAND] --help                this text\n\n"
         "Operations print progress on stderr and the Markdown report on stdout (JSON with --json); reports are\n"
         "kept in <state.dir>/reports/.\n\n"
         "Exit codes: 0 ok / everything healthy; 1 something unhealthy or a failure (the reason is printed);\n"
         "2 bad configuration or arguments (the message names the key); 3 another ferry-dr operation holds\n"
         "<state.dir>/lock; 4 corrupt journal.\n";
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

struct Args {
  std::vector<std::string> words;  // subcommand words
  std::string config;
  std::string file;
  bool json = false;
  bool help = false;
  std::string to;                        // failover --to
  bool planned = false;                  // --planned
  bool force = false;                    // --force
  std::optional<int64_t> max_data_loss;  // --max-data-loss
  std::string report;                    // drill --report
};

// The command line, tokenised by CLI11: options anywhere, `--opt V` or `--opt=V`, the last of a
// repeated option wins; every other word goes to `words` and main() dispatches on them. The help
// text is print_usage(), so CLI11's own help flag is replaced by a plain -h/--help flag.
std::optional<Args> parse(int argc, char** argv) {
  Args a;
  CLI::App app{"", "ferry-dr"};
  app.set_help_flag();
  app.allow_extras();  // unknown options are named below in ferry-dr's own words
  const auto last = CLI::MultiOptionPolicy::TakeLast;
  bool reference = false;
  std::string max_data_loss;
  app.add_flag("-h,--help", a.help);
  app.add_flag("--json", a.json);
  app.add_flag("--planned", a.planned);
  app.add_flag("--force", a.force);
  app.add_flag("--config-reference", reference);
  // A bare or empty value (`--to`, `--to=`) is counted with no value, so the checks below can
  // say what the option needs (CLI11 2.1.2 would say "1 required REGION missing").
  auto valued = [&](const char* name, std::string& into, const char* metavar) {
    return app.add_option(name, into)->type_name(metavar)->expected(0, 1)->multi_option_policy(last);
  };
  const std::pair<CLI::Option*, const char*> needs_value[] = {
      {valued("--to", a.to, "REGION"), "a region name"},
      {valued("--report", a.report, "FILE"), "a file"},
      {valued("--config", a.config, "FILE"), "a file"},
      {valued("--file", a.file, "AUDIT.jsonl"), "a path"},
  };
  CLI::Option* loss = valued("--max-data-loss", max_data_loss, "RECORDS");
  app.add_option("words", a.words);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ferry-dr: " << e.what() << "; see ferry-dr --help\n";  // names the option
    return std::nullopt;
  }
  if (const auto extra = app.remaining(); !extra.empty()) {
    std::cerr << "ferry-dr: unknown option '" << extra.front() << "'; see ferry-dr --help\n";
    return std::nullopt;
  }
  if (reference) a.words.insert(a.words.begin(), "--config-reference");
  for (const auto& [option, what] : needs_value) {
    if (option->count() > 0 && option->as<std::string>().empty()) {
      std::cerr << "ferry-dr: " << option->get_name() << " needs " << what
                << "; see ferry-dr --help\n";
      return std::nullopt;
    }
  }
  if (loss->count() > 0) {
    int64_t n = -1;
    const char* end = max_data_loss.data() + max_data_loss.size();
    if (std::from_chars(max_data_loss.data(), end, n).ptr != end || max_data_loss.empty()) n = -1;
    if (n < 0) {
      std::cerr << "ferry-dr: --max-data-loss needs a record count >= 0, got '" << max_data_loss
                << "'\n";
      return std::nullopt;
    }
    a.max_data_loss = n;
  }
  return a;
}

std::optional<DrConfig> load(const Args& a) {
  if (a.config.empty()) {
    std::cerr << "ferry-dr: " << (a.words.empty() ? "" : a.words[0]) << " needs --config FILE; see ferry-dr --help\n";
    return std::nullopt;
  }
  try {
    DrConfig c = load_dr_config_file(a.config);
    ferry::logging::init("dr", c.log_level);
    return c;
  } catch (const std::exception& e) {
    std::cerr << "ferry-dr: invalid configuration: " << e.what() << "\n";
    return std::nullopt;
  }
}

// Audit for read-only commands: a log that cannot be written is reported but does not stop a
// health check (operations, which change regions, fail closed instead).
struct SoftAudit {
  std::unique_ptr<AuditLog> log;
  SoftAudit(const DrConfig& c, const std::string& command) {
    try {
      log = std::make_unique<AuditLog>(c.audit_log, command, c.audit_anchor);
    } catch (const std::exception& e) {
      spdlog::warn("audit log unavailable: {}", e.what());
    }
  }
  void record(const std::string& what, const std::string& result, const std::string& reason = "",
              const nlohmann::json& details = nlohmann::json::object()) {
    if (!log) return;
    try {
      log->record(what, result, reason, details);
    } catch (const std::exception& e) {
      spdlog::warn("audit log: {}", e.what());
    }
  }
};

int cmd_status(const Args& a, const std::string& command) {
  auto cfg = load(a);
  if (!cfg) return code(Exit::bad_input);
  SoftAudit audit(*cfg, command);
  audit.record("status", "started");
  StatusReport r = collect_status(*cfg);
  if (a.json)
    std::cout << to_json(r).dump(2) << "\n";
  else
    std::cout << to_table(r);
  const bool ok = r.all_healthy();
  if (!r.journal_error.empty()) {
    std::cerr << "ferry-dr: " << r.journal_error << "\n";
    audit.record("status", "failed", r.journal_error, {{"healthy", ok}});
    return code(Exit::corrupt_journal);
  }
  audit.record("status", ok ? "ok" : "failed", ok ? "" : "not every region is healthy and every flow ok",
               {{"healthy", ok}});
  return code(ok ? Exit::ok : Exit::failed);
}

int cmd_watch(const Args& a, const std::string& command) {
  auto cfg = load(a);
  if (!cfg) return code(Exit::bad_input);
  const sigset_t signals = ferry::block_stop_signals();
  SoftAudit audit(*cfg, command);
  audit.record("watch", "started");
  ferry::metrics::Registry registry;
  Watcher watcher(registry);
  std::mutex mu;
  std::string last_json = "{}";
  std::unique_ptr<ferry::metrics::MetricsServer> http;
  if (!cfg->metrics_listener.empty()) {
    const auto& l = cfg->metrics_listener;
    const auto colon = l.rfind(':');
    try {
      http = std::make_unique<ferry::metrics::MetricsServer>(
          registry, l.substr(0, colon), static_cast<uint16_t>(std::stoi(l.substr(colon + 1))),
          std::map<std::string, std::function<std::string()>>{{"/status", [&] {
                                                                 std::lock_guard lk(mu);
                                                                 return last_json;
                                                               }}});
      spdlog::info("serving http://{}:{}/metrics and /status", l.substr(0, colon), http->port());
    } catch (const std::exception& e) {
      spdlog::critical("cannot serve {}: {}", l, e.what());
      audit.record("watch", "failed", std::string("cannot serve metrics.listener: ") + e.what());
      return code(Exit::failed);
    }
  }
  // The loop runs on its own thread so the main thread can wait for the stop signal.
  std::atomic<bool> stop{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::thread loop([&] {
    int64_t last_resume_ms = 0;
    while (!stop) {
      StatusReport r = collect_status(*cfg);
      {
        std::lock_guard lk(mu);
        last_json = to_json(r).dump();
      }
      watcher.observe(r);
      // The flows' positions and source end offsets, for an unplanned failover through a mirror
      // that restarts after the source is lost (flow_view.h).
      try {
        save_flow_views(cfg->state_dir, r.flows);
      } catch (const std::exception& e) {
        spdlog::warn("cannot keep the flows' view in {}: {}", cfg->state_dir.string(), e.what());
      }
      // An operation abandoned by a dead ferry-dr first (it may leave no region writable); the
      // fence guard steps aside while one is pending.
      resume_abandoned_operation(*cfg, audit.log.get(), last_resume_ms, std::max<int64_t>(30'000, cfg->watch_interval.count() * 1000));
      fence_stale_primaries(*cfg, r, audit.log.get());
      std::unique_lock lk(stop_mu);
      stop_cv.wait_for(lk, cfg->watch_interval, [&] { return stop.load(); });
    }
  });
  const char* sig = ferry::wait_for_stop_signal(signals);
  spdlog::info("received {}; stopping", sig);
  {
    std::lock_guard lk(stop_mu);
    stop = true;
  }
  stop_cv.notify_all();
  loop.join();
  http.reset();
  audit.record("watch", "ok", std::string("stopped by ") + sig);
  return code(Exit::ok);
}

int cmd_audit_verify(const Args& a, const std::string& command) {
  std::filesystem::path path = a.file, anchor;
  std::optional<DrConfig> cfg;
  if (path.empty()) {
    cfg = load(a);
    if (!cfg) return code(Exit::bad_input);
    path = cfg->audit_log;
    anchor = cfg->audit_anchor;
  }
  // Checked before anything is recorded: the check reads only.
  AuditVerifyResult r = verify_audit_log(path, anchor);
  if (r.ok)
    std::cout << path.string() << ": ok, " << r.lines << " line(s), chain intact"
              << (r.anchored ? fmt::format(", head anchored at line {} ({})", r.anchor_entries, anchor.string())
                             : anchor.empty() ? " (tail not checked: no anchor with --file)"
                                              : fmt::format(" (tail NOT anchored: {} is missing)", anchor.string()))
              << "\n";
  else
    std::cout << path.string() << ": BROKEN at line " << r.first_bad << ": " << r.reason << "\n";
  // Recorded after verifying, so the check itself does not extend the chain it reports on.
  if (cfg) {
    SoftAudit audit(*cfg, command);
    audit.record("audit verify", "started");
    audit.record("audit verify", r.ok ? "ok" : "failed", r.reason, {{"lines", r.lines}, {"first_bad", r.first_bad}});
  }
  return code(r.ok ? Exit::ok : Exit::failed);
}

// Manual fencing/unfencing: refused while an operation holds the lock, and audited like one (an
// audit log that cannot be written stops the change).
int cmd_role(const Args& a, const std::string& command) {
  auto cfg = load(a);
  if (!cfg) return code(Exit::bad_input);
  const auto& w = a.words;
  const RegionConfig* region = nullptr;
  try {
    region = &cfg->region(w[1]);
  } catch (const std::exception& e) {
    std::cerr << "ferry-dr: " << e.what() << "\n";
    SoftAudit(*cfg, command).record("role", "refused", e.what());
    return code(Exit::bad_input);
  }
  if (w.size() == 2) {
    SoftAudit audit(*cfg, command);
    audit.record("role get", "started", "", {{"region", region->name}});
    try {
      ClusterRole role = RegionClient(*region).cluster_role();
      audit.record("role get", "ok", "", {{"region", region->name}, {"role", to_string(role)}});
      std::cout << region->name << " " << to_string(role) << "\n";
      return code(Exit::ok);
    } catch (const DrError& e) {
      audit.record("role get", "failed", e.what(), {{"region", region->name}});
      throw;
    }
  }
  ClusterRole role;
  try {
    role = parse_cluster_role(w[2]);
  } catch (const std::invalid_argument& e) {
    std::cerr << "ferry-dr: " << e.what() << "\n";
    return code(Exit::bad_input);
  }
  AuditLog audit(cfg->audit_log, command, cfg->audit_anchor);
  const nlohmann::json details{{"region", region->name}, {"role", to_string(role)}};
  audit.record("role set", "started", "", details);
  try {
    Journal lock = Journal::open(cfg->state_dir, command);
    RegionClient(*region).set_cluster_role(role);
  } catch (const DrError& e) {
    audit.record("role set", e.code() == Exit::lock_held ? "refused" : "failed", e.what(), details);
    throw;
  }
  audit.record("role set", "ok", "", details);
  std::cout << region->name << " " << to_string(role) << "\n";
  return code(Exit::ok);
}

// failover, failback and resume: under the operation lock, audited fail-closed.
int cmd_operation(const Args& a, const std::string& command) {
  auto cfg = load(a);
  if (!cfg) return code(Exit::bad_input);
  const std::string& verb = a.words[0];
  if (verb == "failover" && a.to.empty()) {
    std::cerr << "ferry-dr: failover needs --to REGION; see ferry-dr --help\n";
    return code(Exit::bad_input);
  }
  if (a.planned && a.force) {
    std::cerr << "ferry-dr: --planned and --force contradict each other; choose one\n";
    return code(Exit::bad_input);
  }
  AuditLog audit(cfg->audit_log, command, cfg->audit_anchor);
  audit.record("command " + verb, "started");
  OperationResult r;
  try {
    Journal journal = Journal::open(cfg->state_dir, command);
    Operation op(*cfg, journal, audit, [](const std::string& line) { std::cerr << line << std::endl; });
    if (verb == "resume") {
      r = op.resume();
    } else {
      FailoverRequest req;
      req.kind = verb;
      req.to = a.to;
      req.planned = a.planned || verb == "failback";
      req.force = a.force;
      req.max_data_loss = a.max_data_loss;
      r = op.start(req);
    }
  } catch (const DrError& e) {
    audit.record("command " + verb, e.code() == Exit::failed ? "failed" : "refused", e.what());
    throw;
  }
  if (!r.report.is_null()) std::cout << (a.json ? r.report.dump(2) + "\n" : render_markdown(r.report));
  if (!r.report_md_path.empty()) std::cerr << "report: " << r.report_md_path << "\n";
  if (r.outcome != "ok") std::cerr << "ferry-dr: " << verb << " " << r.outcome << ": " << r.reason << "\n";
  audit.record("command " + verb, r.outcome == "ok" ? "ok" : r.outcome == "refused" ? "refused" : "failed", r.reason,
               {{"op_id", r.op_id}, {"outcome", r.outcome}});
  return code(r.exit == Exit::ok && r.outcome != "ok" ? Exit::failed : r.exit);
}

int run_drill_command(const Args& a, const std::string& command) {
  auto cfg = load(a);
  if (!cfg) return code(Exit::bad_input);
  AuditLog audit(cfg->audit_log, command, cfg->audit_anchor);
  audit.record("command drill", "started");
  DrillResult r;
  try {
    Journal journal = Journal::open(cfg->state_dir, command);
    r = run_drill(*cfg, journal, audit, DrillOptions{}, [](const std::string& line) { std::cerr << line << std::endl; });
  } catch (const DrError& e) {
    audit.record("command drill", e.code() == Exit::failed ? "failed" : "refused", e.what());
    throw;
  }
  const std::string md = render_drill_markdown(r.report);
  std::error_code ec;
  std::filesystem::create_directories(cfg->state_dir / "reports", ec);
  const std::string id = r.report.value("op_id", "drill");
  atomic_write_file(cfg->state_dir / "reports" / (id + ".json"), r.report.dump(2) + "\n");
  atomic_write_file(cfg->state_dir / "reports" / (id + ".md"), md);
  if (!a.report.empty()) {
    std::filesystem::path out = a.report;
    atomic_write_file(out, out.extension() == ".json" ? r.report.dump(2) + "\n" : md);
    if (out.extension() != ".json") atomic_write_file(std::filesystem::path(out).replace_extension(".json"), r.report.dump(2) + "\n");
  }
  std::cout << (a.json ? r.report.dump(2) + "\n" : md);
  audit.record("command drill", r.passed ? "ok" : "failed", r.passed ? "" : "the drill did not pass; see its report");
  return code(r.passed ? Exit::ok : Exit::failed);
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) return code(Exit::bad_input);
  const std::string command = joined(argc, argv);
  const auto& w = args->words;
  if (w.empty() || args->help) {
    if (!args->help && w.empty()) {
      std::cerr << "ferry-dr: no command; see ferry-dr --help\n";
      return code(Exit::bad_input);
    }
    print_usage(std::cout);
    return code(Exit::ok);
  }
  try {
    if (w[0] == "--config-reference" && w.size() == 1) {
      std::cout << dr_config_reference();
      return code(Exit::ok);
    }
    if (w[0] == "status" && w.size() == 1) return cmd_status(*args, command);
    if (w[0] == "watch" && w.size() == 1) return cmd_watch(*args, command);
    if (w[0] == "role" && (w.size() == 2 || w.size() == 3)) return cmd_role(*args, command);
    if (w[0] == "audit" && w.size() == 2 && w[1] == "verify") return cmd_audit_verify(*args, command);
    if ((w[0] == "failover" || w[0] == "failback" || w[0] == "resume") && w.size() == 1)
      return cmd_operation(*args, command);
    if (w[0] == "drill" && w.size() == 1) return run_drill_command(*args, command);
    std::cerr << "ferry-dr: unknown command '" << command.substr(command.find(' ') + 1) << "'; see ferry-dr --help\n";
    return code(Exit::bad_input);
  } catch (const DrError& e) {
    std::cerr << "ferry-dr: " << e.what() << "\n";
    return code(e.code());
  }
}
