#include "dr-orchestrator/drill.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "client/kafka.h"
#include "common/clock.h"
#include "dr-orchestrator/mirror_client.h"
#include "dr-orchestrator/report.h"
#include "dr-orchestrator/status.h"

namespace ferry::dr {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string read_bootstrap(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

/// The synthetic application: a producer and a consumer group that each follow the bootstrap file.
class Workload {
 public:
  Workload(const DrConfig& cfg, const DrillOptions& opts) : cfg_(cfg), opts_(opts) {}
  ~Workload() { stop(); }

  void start() {
    producer_ = std::thread([this] { produce_loop(); });
    consumer_ = std::thread([this] { consume_loop(); });
  }
  void stop_producing() {
    stop_producing_ = true;
    if (producer_.joinable()) producer_.join();
  }
  /// Waits until every acknowledged record was consumed at least once, or `limit` passed.
  bool wait_consumed(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lk(mu_);
        bool all = true;
        for (const auto& [seq, n] : acked_)
          if (!seen_.count(seq)) {
            all = false;
            break;
          }
        if (all) return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  void stop() {
    stop_producing();
    stop_consuming_ = true;
    if (consumer_.joinable()) consumer_.join();
  }

  std::string progress() {
    std::lock_guard lk(mu_);
    return fmt::format("workload: {} acknowledged, {} produce failures retried, {} consumed (producer on {}, consumer "
                       "on {})",
                       acked_.size(), failures_, consumed_, region_of(producer_servers_), region_of(consumer_servers_));
  }

  json result() {
    std::lock_guard lk(mu_);
    int64_t redelivered = 0, missing = 0, produced_twice = 0, unexpected = 0;
    json missing_seqs = json::array(), redelivered_seqs = json::array();
    for (const auto& [seq, n] : acked_) {
      if (n > 1) produced_twice += n - 1;
      auto it = seen_.find(seq);
      if (it == seen_.end()) {
        ++missing;
        if (missing_seqs.size() < 20) missing_seqs.push_back(seq);
      }
    }
    for (const auto& [seq, n] : seen_) {
      const int64_t copies = acked_.count(seq) ? acked_.at(seq) : 0;
      if (copies == 0) ++unexpected;
      if (n > std::max<int64_t>(copies, 1)) {
        redelivered += n - std::max<int64_t>(copies, 1);
        if (redelivered_seqs.size() < 20) redelivered_seqs.push_back(seq);
      }
    }
    json switches = json::array();
    for (const auto& s : switches_) switches.push_back(s);
    return {{"topic", kDrillTopic},
            {"partitions", opts_.partitions},
            {"rate_per_second", opts_.rate},
            {"produced_acknowledged", static_cast<int64_t>(acked_.size())},
            {"produce_failures_retried", failures_},
            {"last_produce_error", last_error_},
            {"produced_twice", produced_twice},
            {"consumed", consumed_},
            {"consumed_unique", static_cast<int64_t>(seen_.size())},
            {"redelivered", redelivered},
            {"redelivered_examples", redelivered_seqs},
            {"missing", missing},
            {"missing_examples", missing_seqs},
            {"consumed_never_acknowledged", unexpected},
            {"client_switches", switches},
            {"write_outages", outages_}};
  }

 private:
  std::string region_of(const std::string& servers) const {
    for (const auto& [name, r] : cfg_.regions)
      if (r.bootstrap_servers == servers) return name;
    return servers.empty() ? "-" : servers;
  }
  client::Properties props_for(const std::string& servers) const {
    client::Properties p;
    for (const auto& [name, r] : cfg_.regions)
      if (r.bootstrap_servers == servers) p = r.properties();
    p["bootstrap.servers"] = servers;
    return p;
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Workload*>(opaque);
    const int64_t seq = reinterpret_cast<intptr_t>(m->_private);
    std::lock_guard lk(self->mu_);
    const int64_t now = wall_clock_ms();
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->acked_[seq];
      if (self->outage_start_ms_ > 0) {
        self->outages_.push_back({{"from_ms", self->outage_start_ms_}, {"to_ms", now},
                                  {"duration_ms", now - self->outage_start_ms_}, {"recovered_on", self->region_of(self->producer_servers_)},
                                  {"error", self->last_error_}});
        self->outage_start_ms_ = 0;
      }
      self->last_ack_ms_ = now;
    } else {
      ++self->failures_;
      self->last_error_ = rd_kafka_err2name(m->err);
      self->retry_.push_back(seq);
      self->last_failure_ms_ = now;
      if (self->outage_start_ms_ == 0) self->outage_start_ms_ = self->last_ack_ms_ ? self->last_ack_ms_ : now;
    }
  }

  client::Handle make_producer(const std::string& servers) {
    auto p = props_for(servers);
    p["client.id"] = "ferry-dr-drill";
    p["enable.idempotence"] = "true";
    p["acks"] = "all";
    p["linger.ms"] = "5";
    p["message.timeout.ms"] = "5000";
    rd_kafka_conf_t* conf = client::make_conf(p);
    rd_kafka_conf_set_dr_msg_cb(conf, &Workload::on_delivery);
    rd_kafka_conf_set_opaque(conf, this);
    return client::make_handle(RD_KAFKA_PRODUCER, conf);
  }

  void produce_one(rd_kafka_t* rk, int64_t seq) {
    const std::string key = fmt::format("drill-key-{}", seq % 16);
    const std::string value = fmt::format("{} ferry-dr drill record", seq);
    auto err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(kDrillTopic), RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(seq))), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::lock_guard lk(mu_);
      retry_.push_back(seq);
      last_error_ = rd_kafka_err2name(err);
    }
  }

  void produce_loop() {
    std::string servers = read_bootstrap(cfg_.bootstrap_file);
    client::Handle rk;
    int64_t next_seq = 0;
    double tokens = 0;
    auto last = std::chrono::steady_clock::now();
    auto connect = [&] {
      rk = make_producer(servers);
      std::lock_guard lk(mu_);
      producer_servers_ = servers;
      switches_.push_back({{"client", "producer"}, {"to", region_of(servers)}, {"at_ms", wall_clock_ms()}});
    };
    try {
      connect();
      while (!stop_producing_) {
        const std::string now_servers = read_bootstrap(cfg_.bootstrap_file);
        if (!now_servers.empty() && now_servers != servers) {
          // The redirect: what a well-behaved application does when its bootstrap changes.
          rd_kafka_flush(rk.get(), 5000);
          rk.reset();
          servers = now_servers;
          connect();
        }
        rd_kafka_poll(rk.get(), 0);
        // Failed records are retried every 200 ms; until they succeed no new record is offered,
        // like an application whose writes block while its cluster refuses them.
        std::deque<int64_t> again;
        bool blocked;
        {
          std::lock_guard lk(mu_);
          if (!retry_.empty() && wall_clock_ms() - last_failure_ms_ >= 200) again.swap(retry_);
          blocked = outage_start_ms_ > 0 || !retry_.empty() || !again.empty();
        }
        for (int64_t seq : again) produce_one(rk.get(), seq);
        // A token bucket at `rate` per second with a 100 ms burst: time spent blocked is not
        // made up for with a flood afterwards.
        const auto now = std::chrono::steady_clock::now();
        tokens = std::min(opts_.rate / 10.0 + 1, tokens + std::chrono::duration<double>(now - last).count() * opts_.rate);
        last = now;
        if (!blocked)
          for (; tokens >= 1; tokens -= 1) produce_one(rk.get(), next_seq++);
        std::this_thread::sleep_for(5ms);
      }
      // Deliver what is outstanding; failures retried on the current cluster until 10 s pass.
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < deadline) {
        rd_kafka_flush(rk.get(), 500);
        std::deque<int64_t> again;
        {
          std::lock_guard lk(mu_);
          again.swap(retry_);
        }
        if (again.empty() && rd_kafka_outq_len(rk.get()) == 0) break;
        for (int64_t seq : again) produce_one(rk.get(), seq);
      }
    } catch (const std::exception& e) {
      spdlog::error("drill producer: {}", e.what());
      std::lock_guard lk(mu_);
      last_error_ = e.what();
    }
  }

  client::Handle make_consumer(const std::string& servers) {
    auto p = props_for(servers);
    p["client.id"] = "ferry-dr-drill";
    p["group.id"] = kDrillTopic;
    p["auto.offset.reset"] = "earliest";
    p["enable.auto.commit"] = "false";
    p["session.timeout.ms"] = "6000";
    p["heartbeat.interval.ms"] = "500";
    client::Handle h = client::make_handle(RD_KAFKA_CONSUMER, client::make_conf(p));
    rd_kafka_poll_set_consumer(h.get());
    client::PartitionListPtr topics = client::partition_list(1);
    rd_kafka_topic_partition_list_add(topics.get(), kDrillTopic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(h.get(), topics.get());
    return h;
  }

  void consume_loop() {
    std::string servers = read_bootstrap(cfg_.bootstrap_file);
    client::Handle rk;
    auto connect = [&] {
      rk = make_consumer(servers);
      std::lock_guard lk(mu_);
      consumer_servers_ = servers;
      switches_.push_back({{"client", "consumer"}, {"to", region_of(servers)}, {"at_ms", wall_clock_ms()}});
    };
    try {
      connect();
      while (!stop_consuming_) {
        const std::string now_servers = read_bootstrap(cfg_.bootstrap_file);
        if (!now_servers.empty() && now_servers != servers) {
          rd_kafka_consumer_close(rk.get());
          rk.reset();
          servers = now_servers;
          connect();
        }
        client::MessagePtr own(rd_kafka_consumer_poll(rk.get(), 100));
        if (!own) continue;
        const rd_kafka_message_t* m = own.get();
        if (m->err) continue;
        const std::string value(static_cast<const char*>(m->payload), m->len);
        int64_t seq = -1;
        try {
          seq = std::stoll(value);
        } catch (const std::exception&) {
          continue;
        }
        {
          std::lock_guard lk(mu_);
          ++seen_[seq];
          ++consumed_;
        }
        // Commit after processing, synchronously: the group's committed offset is always exactly
        // what was consumed, which is what the failover's final checkpoint translates.
        rd_kafka_commit_message(rk.get(), m, 0);
      }
      rd_kafka_consumer_close(rk.get());
    } catch (const std::exception& e) {
      spdlog::error("drill consumer: {}", e.what());
    }
  }

  const DrConfig& cfg_;
  DrillOptions opts_;
  std::thread producer_, consumer_;
  std::atomic<bool> stop_producing_{false}, stop_consuming_{false};
  std::mutex mu_;
  std::map<int64_t, int64_t> acked_;  // seq -> acknowledgements
  std::map<int64_t, int64_t> seen_;   // seq -> times consumed
  std::deque<int64_t> retry_;
  int64_t failures_ = 0, consumed_ = 0, last_failure_ms_ = 0, last_ack_ms_ = 0, outage_start_ms_ = 0;
  std::string last_error_;
  std::string producer_servers_, consumer_servers_;
  std::vector<json> switches_;
  json outages_ = json::array();
};

// The primary now: state.json, else the source of the first flow.
std::string current_primary(const DrConfig& cfg) {
  if (auto s = read_state(cfg.state_dir); s && !s->primary.empty()) return s->primary;
  if (!cfg.flows.empty()) return cfg.flows.front().source;
  return cfg.regions.begin()->first;
}

}  // namespace

DrillResult run_drill(const DrConfig& cfg, Journal& journal, AuditLog& audit, const DrillOptions& opts,
                      ProgressFn progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  if (cfg.bootstrap_file.empty())
    throw DrError(Exit::bad_input, "drill: [dr] bootstrap.file is not set; the drill's clients follow it like applications do");
  const std::string primary = current_primary(cfg);
  const FlowConfig* out = nullptr;
  for (const auto& f : cfg.flows)
    if (f.source == primary && cfg.flow(f.target, f.source)) {
      out = &f;
      break;
    }
  if (!out)
    throw DrError(Exit::bad_input, fmt::format("drill: needs a flow from the primary {} to another region and one back "
                                               "(for the failback); configure both [[flows]]",
                                               primary));
  const std::string other = out->target;
  const int64_t started = wall_clock_ms();
  audit.record("drill", "started", "", {{"primary", primary}, {"to", other}});

  StatusReport before = collect_status(cfg);
  for (size_t i = 0; i < before.regions.size(); ++i)
    if (before.region_verdicts[i].state == RegionState::down)
      throw DrError(Exit::failed, fmt::format("drill: region {} is down; a drill starts from healthy regions",
                                              before.regions[i].region));
  const RegionConfig& p = cfg.region(primary);
  // The application's starting point: the bootstrap file names the primary.
  if (read_bootstrap(cfg.bootstrap_file) != p.bootstrap_servers) atomic_write_file(cfg.bootstrap_file, p.bootstrap_servers + "\n");
  try {
    auto props = p.properties();
    props["client.id"] = "ferry-dr";
    // The region's default.replication.factor (-1, KIP-464), as for the canary topic.
    client::Admin(props, 10s).create_topic(kDrillTopic, opts.partitions, -1, {});
  } catch (const std::exception& e) {
    throw DrError(Exit::failed, fmt::format("drill: cannot create topic {} on {}: {}", kDrillTopic, primary, e.what()));
  }
  say(fmt::format("drill: waiting for flow {} to replicate {}", out->name(), kDrillTopic));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (true) {
    FlowHealth fh = probe_flow(*out);
    int32_t listed = 0;
    for (const auto& part : fh.partitions) listed += part.topic == kDrillTopic ? 1 : 0;
    if (listed > 0) break;
    if (std::chrono::steady_clock::now() > deadline)
      throw DrError(Exit::failed, fmt::format("drill: flow {} does not replicate {} after 30 s; include it in the flow's "
                                              "topics and keep refresh.topics.interval.seconds short",
                                              out->name(), kDrillTopic));
    std::this_thread::sleep_for(250ms);
  }

  Workload w(cfg, opts);
  w.start();
  std::atomic<bool> ticking{true};
  std::thread ticker([&] {
    while (ticking) {
      for (int i = 0; i < 10 && ticking; ++i) std::this_thread::sleep_for(100ms);
      if (ticking) say(w.progress());
    }
  });
  auto finish_ticker = [&] {
    ticking = false;
    if (ticker.joinable()) ticker.join();
  };
  std::this_thread::sleep_for(std::chrono::seconds(opts.warmup_seconds));

  Operation op(cfg, journal, audit, progress);
  FailoverRequest fo;
  fo.kind = "failover";
  fo.to = other;
  fo.planned = true;
  OperationResult r1, r2;
  try {
    r1 = op.start(fo);
    if (r1.outcome == "ok") {
      std::this_thread::sleep_for(std::chrono::seconds(opts.hold_seconds));
      FailoverRequest fb;
      fb.kind = "failback";
      fb.planned = true;
      r2 = op.start(fb);
    }
  } catch (...) {
    finish_ticker();
    w.stop();
    throw;
  }
  std::this_thread::sleep_for(1s);
  w.stop_producing();
  const bool all_consumed = w.wait_consumed(std::chrono::seconds(opts.settle_seconds));
  // A little longer, so a late duplicate would still be counted.
  std::this_thread::sleep_for(1s);
  w.stop();
  finish_ticker();

  // Flows just resumed need a heartbeat and a checkpoint pass before they look ok: give the
  // final health up to 20 s to settle.
  StatusReport after = collect_status(cfg);
  for (int i = 0; i < 40 && !after.all_healthy(); ++i) {
    std::this_thread::sleep_for(500ms);
    after = collect_status(cfg);
  }
  json load = w.result();
  json rep = {{"kind", "drill"},
              {"from", primary},
              {"to", other},
              {"started", rfc3339_ms(started)},
              {"duration_ms", wall_clock_ms() - started},
              {"workload", load},
              {"all_consumed", all_consumed},
              {"rpo_records", load["missing"]},
              {"redelivered", load["redelivered"]},
              {"rto_failover_ms", r1.report.is_object() ? r1.report["rto_ms"] : json(nullptr)},
              {"rto_failback_ms", r2.report.is_object() ? r2.report["rto_ms"] : json(nullptr)},
              {"failover", r1.report.is_null() ? json({{"outcome", r1.outcome}, {"reason", r1.reason}}) : r1.report},
              {"failback", r2.report.is_null() ? json({{"outcome", r2.outcome.empty() ? "not run" : r2.outcome}, {"reason", r2.reason}}) : r2.report},
              {"final_health", to_json(after)},
              {"final_healthy", after.all_healthy()}};
  const bool passed = r1.outcome == "ok" && r2.outcome == "ok" && load["missing"] == 0 && load["redelivered"] == 0 &&
                      load["produced_twice"] == 0 && all_consumed && after.all_healthy();
  rep["passed"] = passed;
  rep["op_id"] = fmt::format("drill-{}", started);
  audit.record("drill", passed ? "ok" : "failed", passed ? "" : "see the drill report",
               {{"rpo_records", rep["rpo_records"]}, {"redelivered", rep["redelivered"]},
                {"rto_failover_ms", rep["rto_failover_ms"]}, {"rto_failback_ms", rep["rto_failback_ms"]}});
  return {rep, passed};
}

std::string render_drill_markdown(const json& r) {
  std::ostringstream o;
  auto val = [](const json& v) { return v.is_null() ? std::string("n/a") : v.is_string() ? v.get<std::string>() : v.dump(); };
  const json& w = r["workload"];
  o << fmt::format("# ferry-dr drill {} -> {} -> {}: {}\n\n", val(r["from"]), val(r["to"]), val(r["from"]),
                   r.value("passed", false) ? "PASSED" : "FAILED");
  o << "| measure | value |\n|---|---|\n";
  o << fmt::format("| RPO (acknowledged records never consumed) | **{}** |\n", val(r["rpo_records"]));
  o << fmt::format("| records the consumer group saw twice | **{}** |\n", val(r["redelivered"]));
  o << fmt::format("| RTO failover (start -> first produce on {}) | **{} ms** |\n", val(r["to"]), val(r["rto_failover_ms"]));
  o << fmt::format("| RTO failback (start -> first produce on {}) | **{} ms** |\n", val(r["from"]), val(r["rto_failback_ms"]));
  o << fmt::format("| records produced and acknowledged | {} |\n", val(w["produced_acknowledged"]));
  o << fmt::format("| produce attempts refused and retried (fenced) | {} |\n", val(w["produce_failures_retried"]));
  o << fmt::format("| records consumed (unique) | {} ({}) |\n", val(w["consumed"]), val(w["consumed_unique"]));
  o << fmt::format("| records acknowledged twice | {} |\n", val(w["produced_twice"]));
  for (const auto& out : w["write_outages"])
    o << fmt::format("| application write outage, recovered on {} | {} ms |\n", val(out["recovered_on"]), val(out["duration_ms"]));
  o << fmt::format("| final health | {} |\n", r.value("final_healthy", false) ? "ok" : "NOT ok");
  const json& h = r["final_health"];
  std::string unhealthy;
  for (const char* kind : {"regions", "flows"})
    for (const auto& e : h.value(kind, json::array()))
      for (const auto& why : e.value("reasons", json::array()))
        unhealthy += fmt::format("{}{}: {}", unhealthy.empty() ? "" : "; ", val(e.contains("region") ? e["region"] : e["flow"]), val(why));
  if (!unhealthy.empty())
    o << fmt::format("| final health {} | {} |\n", r.value("final_healthy", false) ? "notes" : "reasons", unhealthy);
  o << fmt::format("| took | {:.1f} s |\n", r.value("duration_ms", 0) / 1000.0);
  for (const char* part : {"failover", "failback"}) {
    const json& rep = r[part];
    o << "\n";
    if (rep.contains("steps")) {
      std::string md = render_markdown(rep);
      // Nest the operation's report one heading level down.
      std::string nested;
      std::istringstream in(md);
      for (std::string line; std::getline(in, line);) nested += (line.starts_with("#") ? "#" + line : line) + "\n";
      o << nested;
    } else {
      o << fmt::format("## {}: {} {}\n", part, val(rep["outcome"]), rep.contains("reason") ? val(rep["reason"]) : "");
    }
  }
  return o.str();
}

}  // namespace ferry::dr
