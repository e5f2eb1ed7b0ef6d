// Replication's state application, ISR upkeep and controller pass (replication.h).
#include "broker/replication/replication.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/core/partition.h"
#include "broker/core/replica_manager.h"
#include "broker/metadata/controller_election.h"
#include "broker/replication/partition_state.h"
#include "broker/replication/replica_fetcher.h"
#include "common/clock.h"

namespace ferry::broker::replication {

std::optional<std::tuple<std::string, std::string, int32_t>> parse_endpoint(const std::string& endpoint) {
  const auto scheme = endpoint.find("://");
  const auto colon = endpoint.rfind(':');
  if (scheme == std::string::npos || scheme == 0 || colon == std::string::npos || colon <= scheme + 3) return std::nullopt;
  std::string host = endpoint.substr(scheme + 3, colon - scheme - 3);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int32_t port = 0;
  const std::string digits = endpoint.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  port = std::stoi(digits);
  if (port < 1 || port > 65535 || host.empty()) return std::nullopt;
  return std::make_tuple(endpoint.substr(0, scheme), host, port);
}

Replication::Replication(const BrokerConfig& config, EtcdMetadataStore& store, ReplicaManager& replicas,
                         ControllerElection& election, metrics::Registry& metrics)
    : config_(config),
      store_(store),
      replicas_(replicas),
      election_(election),
      metrics_(metrics),
      node_id_(config.node_id),
      lag_max_ms_(config.values.get_int("replica.lag.time.max.ms")),
      stale_after_(std::chrono::milliseconds(config.values.get_int("broker.session.timeout.ms"))),
      isr_shrinks_(metrics.counter("kafka_server_replicamanager_isrshrinks_total",
                                   "ISR shrinks written by this broker as leader (Kafka's IsrShrinksPerSec).")),
      isr_expands_(metrics.counter("kafka_server_replicamanager_isrexpands_total",
                                   "ISR expansions written by this broker as leader (Kafka's IsrExpandsPerSec).")),
      failed_isr_updates_(metrics.counter(
          "kafka_server_replicamanager_failedisrupdates_total",
          "ISR writes that lost their compare-and-set: the partition state changed under this leader "
          "(Kafka's FailedIsrUpdatesPerSec).")) {}

Replication::~Replication() { stop(); }

void Replication::register_metrics() {
  // Kafka reports offline partitions on the active controller only (0 elsewhere), so a region's
  // sum is the count.
  metrics_.gauge_callback("kafka_controller_kafkacontroller_offlinepartitionscount",
                          "Partitions without a live leader, counted by the active controller (0 on other brokers).",
                          {}, [this] {
                            if (election_.epoch() == 0) return 0.0;
                            const auto brokers = store_.brokers();
                            double n = 0;
                            for (const auto& t : store_.topics())
                              for (int32_t i = 0; i < t.partitions; ++i) {
                                auto s = store_.partition_state(t.name, i);
                                if (!s || !brokers.count(s->leader)) ++n;
                              }
                            return n;
                          });
  auto* f = fetchers_.get();
  metrics_.gauge_callback("kafka_server_replicafetchermanager_maxlag",
                          "Largest lag, in records, of a partition this broker follows: its leader's high watermark "
                          "minus this replica's log end offset, as of the last fetch (Kafka's MaxLag).",
                          {}, [f] { return static_cast<double>(f->max_lag()); });
}

bool Replication::shutdown_leaderships(std::chrono::milliseconds timeout) {
  // Kafka's controlled shutdown, done the etcd way: the caller has already revoked this broker's
  // registration, so the controller moves every leadership it can to another ISR member. Wait
  // until this broker leads no partition that has another live in-sync replica.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto brokers = store_.brokers();
    size_t movable = 0;
    for (const auto& p : replicas_.all_partitions()) {
      if (!p->is_leader()) continue;
      const auto l = p->leadership();
      for (int32_t r : l.isr)
        if (r != node_id_ && brokers.count(r)) {
          ++movable;
          break;
        }
    }
    if (movable == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("controlled shutdown: {} partition(s) still led here after {} ms; stopping anyway", movable,
                   timeout.count());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Replication::start() {
  fetchers_ = std::make_unique<ReplicaFetchers>(config_);
  register_metrics();
  apply_states();
  fresh_until_.store((std::chrono::steady_clock::now() + stale_after_).time_since_epoch().count(),
                     std::memory_order_release);
  std::lock_guard lk(mu_);
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void Replication::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fetchers_) fetchers_->assign({});  // every fetcher thread stops; the object stays for the gauges
}

void Replication::on_change(EtcdMetadataChange change) {
  if (change != EtcdMetadataChange::kTopics && change != EtcdMetadataChange::kPartitions &&
      change != EtcdMetadataChange::kBrokers && change != EtcdMetadataChange::kController)
    return;
  {
    std::lock_guard lk(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void Replication::request_isr_update(const std::shared_ptr<Partition>& partition) {
  {
    std::lock_guard lk(mu_);
    if (!isr_requests_.emplace(partition->topic(), partition->index()).second) return;
  }
  cv_.notify_all();
}

void Replication::run() {
  // The lag check runs every replica.lag.time.max.ms / 2, as Kafka's isr-expiration task, so a
  // stuck follower leaves the ISR between 1 and 1.5 times the setting after its last catch-up.
  const auto lag_period = std::chrono::milliseconds(std::max<int64_t>(50, lag_max_ms_ / 2));
  auto next_lag_check = std::chrono::steady_clock::now() + lag_period;
  std::unique_lock lk(mu_);
  while (!stopping_) {
    cv_.wait_until(lk, std::min(next_lag_check, std::chrono::steady_clock::now() + std::chrono::seconds(1)),
                   [&] { return stopping_ || dirty_ || !isr_requests_.empty(); });
    if (stopping_) break;
    {
      // A wake-up much later than the wait allowed: this process did not run (SIGSTOP, a stall).
      const auto now = std::chrono::steady_clock::now();
      if (last_wake_.time_since_epoch().count() != 0 && now - last_wake_ > stale_after_) {
        lk.unlock();
        spdlog::warn("replication: this broker did not run for {} ms; reading the cluster metadata again",
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - last_wake_).count());
        try {
          store_.refresh(std::chrono::seconds(2));
        } catch (const std::exception& e) {
          spdlog::warn("replication: {}", e.what());
        }
        lk.lock();
        dirty_ = true;
      }
      last_wake_ = std::chrono::steady_clock::now();
    }
    const bool dirty = std::exchange(dirty_, false);
    const bool requested = !isr_requests_.empty();
    isr_requests_.clear();
    lk.unlock();
    try {
      // The controller first: after a broker died, it elects new leaders, and this broker applies
      // them in the same pass instead of waiting for the watch to bring its own writes back.
      controller_pass();
      if (dirty) apply_states();
      const bool lag_due = std::chrono::steady_clock::now() >= next_lag_check;
      if (lag_due) next_lag_check = std::chrono::steady_clock::now() + lag_period;
      if (requested || lag_due) maintain_isr(lag_due);
      // The copy was current at this wake-up and what it says is applied: good for a session.
      {
        std::lock_guard fresh_lk(mu_);
        fresh_until_.store((last_wake_ + stale_after_).time_since_epoch().count(), std::memory_order_release);
      }
      fresh_cv_.notify_all();
    } catch (const std::exception& e) {
      // etcd unreachable for longer than the store's retries, most likely: the next change or
      // tick tries again, and the broker keeps serving what it leads meanwhile.
      spdlog::warn("replication: {} (retrying)", e.what());
      lk.lock();
      dirty_ = true;
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    lk.lock();
  }
}

void Replication::apply_states() {
  const auto topics = store_.topics();
  replicas_.sync_topics(topics);
  const auto states = store_.partition_states();
  const auto brokers = store_.brokers();
  const int64_t now = wall_clock_ms();
  std::vector<FollowTarget> follow;
  for (const auto& t : topics) {
    for (int32_t i = 0; i < t.partitions; ++i) {
      auto part = replicas_.partition(t.name, i);
      if (!part) continue;
      auto it = states.find({t.name, i});
      if (it == states.end()) continue;
      const PartitionState& s = it->second;
      Leadership l{s.leader, s.leader_epoch, t.assignment.at(static_cast<size_t>(i)), s.isr, s.partition_epoch,
                   s.mod_revision};
      const bool offsets = t.name == kConsumerOffsetsTopic && offsets_listener_;
      if (s.leader == node_id_) {
        const bool new_epoch = part->make_leader(l, now);
        if (new_epoch)
          spdlog::info("{}-{}: leader at epoch {} (ISR {})", t.name, i, s.leader_epoch, fmt::join(s.isr, ","));
        if (offsets && (new_epoch || offsets_pending_.count(i))) notify_offsets_leadership(i, true);
        continue;
      }
      const bool was_leader = part->is_leader();
      const bool new_epoch = part->make_follower(l);
      if (new_epoch) spdlog::info("{}-{}: follower of broker {} at epoch {}", t.name, i, s.leader, s.leader_epoch);
      if (offsets && ((new_epoch && was_leader) || offsets_pending_.count(i))) notify_offsets_leadership(i, false);
      if (s.leader < 0) continue;
      auto b = brokers.find(s.leader);
      if (b == brokers.end()) continue;  // its leader is gone: the controller will elect another
      follow.push_back({part, s.leader, s.leader_epoch, b->second});
    }
  }
  fetchers_->assign(follow);
}

void Replication::notify_offsets_leadership(int32_t partition, bool leader) {
  try {
    offsets_listener_(partition, leader);
    offsets_pending_.erase(partition);
  } catch (const std::exception& e) {
    // The partition's groups could not be read: its groups answer NOT_COORDINATOR until a later
    // pass (every second while any is pending) loads them.
    spdlog::error("group coordinator: {} {}-{} failed: {} (trying again)", leader ? "taking over" : "handing over",
                  kConsumerOffsetsTopic, partition, e.what());
    offsets_pending_.insert(partition);
    std::lock_guard lk(mu_);
    dirty_ = true;
  }
}

void Replication::maintain_isr(bool check_lag) {
  const auto brokers = store_.brokers();
  const int64_t now = wall_clock_ms();
  for (const auto& p : replicas_.all_partitions()) {
    if (!p->is_leader()) continue;
    const Leadership l = p->leadership();
    std::set<int32_t> next(l.isr.begin(), l.isr.end());
    if (check_lag)
      for (int32_t r : p->out_of_sync_replicas(now, lag_max_ms_)) next.erase(r);
    // Only registered brokers join (KIP-841: a fenced or shut-down broker is not eligible).
    for (int32_t r : p->isr_candidates())
      if (brokers.count(r)) next.insert(r);
    std::vector<int32_t> isr;
    for (int32_t r : l.replicas)
      if (next.count(r)) isr.push_back(r);
    if (isr == l.isr) continue;
    const bool shrink = isr.size() < l.isr.size();
    if (write_isr(*p, isr)) {
      (shrink ? isr_shrinks_ : isr_expands_).inc();
      spdlog::info("{}-{}: ISR {} -> {} at leader epoch {}", p->topic(), p->index(), fmt::join(l.isr, ","),
                   fmt::join(isr, ","), l.leader_epoch);
    }
  }
}

bool Replication::write_isr(Partition& p, const std::vector<int32_t>& isr) {
  const Leadership l = p.leadership();
  auto current = store_.partition_state(p.topic(), p.index());
  if (!current || current->leader != node_id_ || current->leader_epoch != l.leader_epoch ||
      current->mod_revision != l.mod_revision) {
    // The store already holds a newer state than this replica applied: apply it, decide again later.
    failed_isr_updates_.inc();
    std::lock_guard lk(mu_);
    dirty_ = true;
    return false;
  }
  PartitionState next = *current;
  next.isr = isr;
  // A leader's own ISR change keeps the leader epoch; only the partition epoch moves (KIP-497).
  const size_t applied =
      store_.write_partition_states({PartitionWrite{p.topic(), p.index(), next, l.mod_revision}}, /*controller_epoch=*/0);
  if (applied == 0) {
    failed_isr_updates_.inc();
    std::lock_guard lk(mu_);
    dirty_ = true;
    return false;
  }
  if (auto written = store_.partition_state(p.topic(), p.index()); written && written->leader == node_id_) {
    Leadership nl{written->leader, written->leader_epoch, l.replicas, written->isr, written->partition_epoch,
                  written->mod_revision};
    p.make_leader(nl, wall_clock_ms());
  }
  return true;
}

void Replication::maybe_create_offsets_topic(const std::set<int32_t>& live) {
  const std::string name(kConsumerOffsetsTopic);
  if (store_.topic(name)) return;
  const auto rf = static_cast<int16_t>(config_.values.get_int("offsets.topic.replication.factor"));
  if (static_cast<int64_t>(live.size()) < rf) {
    if (!offsets_wait_logged_) {
      spdlog::info("controller: {} waits for offsets.topic.replication.factor = {} registered brokers ({} now); "
                   "consumer groups get COORDINATOR_NOT_AVAILABLE until then",
                   name, rf, live.size());
      offsets_wait_logged_ = true;
    }
    return;
  }
  std::vector<BrokerNode> nodes;
  for (const auto& [id, info] : store_.brokers()) nodes.push_back({id, info.rack});
  TopicMetadata t;
  t.name = name;
  t.topic_id = random_kafka_uuid();
  t.partitions = static_cast<int32_t>(config_.values.get_int("offsets.topic.num.partitions"));
  t.replication_factor = rf;
  t.configs = {{"cleanup.policy", "compact"},
               {"segment.bytes", std::to_string(config_.values.get_int("offsets.topic.segment.bytes"))}};
  try {
    t.assignment = assign_replicas(nodes, 0, t.partitions, rf, static_cast<int32_t>(wall_clock_ms() % 997),
                                   static_cast<int32_t>(wall_clock_ms() % 991));
  } catch (const std::invalid_argument& e) {
    spdlog::warn("controller: cannot place {}: {}", name, e.what());
    return;
  }
  store_.put_topic(t);
  spdlog::info("controller: created {} ({} partitions, replication factor {})", name, t.partitions, rf);
}

void Replication::controller_pass() {
  const int64_t epoch = election_.epoch();
  if (epoch == 0) return;
  std::map<std::string, TopicMetadata> topics;
  std::set<int32_t> live;
  for (const auto& [id, info] : store_.brokers()) live.insert(id);
  maybe_create_offsets_topic(live);
  for (auto& t : store_.topics()) topics[t.name] = std::move(t);
  const auto states = store_.partition_states();  // one snapshot for the whole pass
  auto writes = reconcile(
      topics, states, live,
      [this](const std::string& topic) { return replicas_.topic_config(topic).get_bool("unclean.leader.election.enable"); },
      epoch);
  complete_reassignments_pass(epoch, topics, states, live);
  if (writes.empty()) maybe_rebalance_leaders(epoch, topics, states, live);
  if (writes.empty()) return;
  const size_t applied = store_.write_partition_states(writes, epoch);
  size_t elections = 0;
  for (const auto& w : writes) elections += w.state.leader >= 0 ? 1 : 0;
  spdlog::info("controller (epoch {}): wrote {} of {} partition states ({} with a leader), live brokers {}", epoch,
               applied, writes.size(), elections, fmt::join(live, ","));
}

void Replication::maybe_rebalance_leaders(int64_t epoch, const std::map<std::string, TopicMetadata>& topics,
                                          const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                          const std::set<int32_t>& live) {
  if (!config_.values.get_bool("auto.leader.rebalance.enable")) return;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::chrono::seconds(config_.values.get_int("leader.imbalance.check.interval.seconds"));
  if (next_rebalance_.time_since_epoch().count() == 0) next_rebalance_ = now + interval;  // as Kafka: one interval first
  if (now < next_rebalance_) return;
  next_rebalance_ = now + interval;
  auto writes = rebalance_leaders(topics, states, live,
                                  config_.values.get_int("leader.imbalance.per.broker.percentage"), epoch);
  if (writes.empty()) return;
  const size_t applied = store_.write_partition_states(writes, epoch);
  spdlog::info("controller (epoch {}): preferred leaders back on {} of {} partition(s) (auto.leader.rebalance.enable)",
               epoch, applied, writes.size());
}

void Replication::complete_reassignments_pass(int64_t epoch, const std::map<std::string, TopicMetadata>& topics,
                                              const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                              const std::set<int32_t>& live) {
  for (const auto& [name, t] : topics) {
    if (t.reassignments.empty()) continue;
    auto done = complete_reassignments(t, states, live, epoch);
    if (!done) continue;
    // One transaction: the topic's replica lists and the completed partitions' leadership, so no
    // broker sees one without the other. A lost compare-and-set (a new request, an ISR change)
    // is decided again on the next pass.
    if (!store_.put_topic_if(done->topic, done->states, epoch)) continue;
    for (size_t i = 0; i < done->completed.size(); ++i) {
      const int32_t p = done->completed[i];
      const auto& s = done->states[i].state;
      spdlog::info("controller (epoch {}): reassignment of {}-{} complete: replicas {}, leader {} at epoch {}, ISR {}",
                   epoch, t.name, p, fmt::join(done->topic.assignment[static_cast<size_t>(p)], ","), s.leader,
                   s.leader_epoch, fmt::join(s.isr, ","));
    }
  }
}

std::vector<ReassignmentError> Replication::reassign(
    const std::string& topic, const std::vector<std::pair<int32_t, std::optional<std::vector<int32_t>>>>& moves) {
  using protocol::ErrorCode;
  for (int attempt = 0;; ++attempt) {
    std::vector<ReassignmentError> out(moves.size());
    auto t = store_.topic(topic);
    if (!t) {
      for (auto& e : out) e = {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", topic)};
      return out;
    }
    std::set<int32_t> live;
    for (const auto& [id, info] : store_.brokers()) live.insert(id);
    TopicMetadata next = *t;
    for (size_t i = 0; i < moves.size(); ++i)
      if (auto err = request_reassignment(next, moves[i].first, moves[i].second, live)) out[i] = *err;
    if (next == *t) return out;  // refused, or already so
    try {
      if (store_.put_topic_if(next)) {
        for (size_t i = 0; i < moves.size(); ++i)
          if (out[i].code == ErrorCode::NONE)
            spdlog::info("{}-{}: reassignment {}: replicas {}", topic, moves[i].first,
                         moves[i].second ? "requested" : "cancelled",
                         fmt::join(next.assignment[static_cast<size_t>(moves[i].first)], ","));
        return out;
      }
    } catch (const std::exception& e) {
      for (auto& r : out)
        if (r.code == ErrorCode::NONE) r = {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
      return out;
    }
    if (attempt >= 20) {
      for (auto& r : out)
        if (r.code == ErrorCode::NONE)
          r = {ErrorCode::REQUEST_TIMED_OUT, fmt::format("topic '{}' kept changing under the request; try again", topic)};
      return out;
    }
    // Another writer (the controller completing a move, a leader's ISR write does not touch the
    // topic) came first: decide again on the new value.
  }
}

void Replication::ensure_fresh() {
  const auto now = std::chrono::steady_clock::now();
  auto fresh = [&] { return now.time_since_epoch().count() < fresh_until_.load(std::memory_order_acquire); };
  if (fresh()) return;
  // The replication thread sees the same gap when it wakes: it reads the metadata again and
  // applies it, then moves fresh_until_ on. Wait for that, boundedly (a stalled thread, etcd away).
  {
    std::unique_lock lk(mu_);
    dirty_ = true;
    cv_.notify_all();
    if (fresh_cv_.wait_for(lk, std::chrono::seconds(3), [&] { return fresh() || stopping_; })) return;
  }
  spdlog::warn("replication: answering from cluster metadata that may be stale (not re-read within 3 s)");
  // One wait per session at most, even while the replication thread stays stalled.
  fresh_until_.store((now + stale_after_).time_since_epoch().count(), std::memory_order_release);
}

std::vector<BrokerEndpoint> Replication::live_brokers(const std::string& listener) {
  std::vector<BrokerEndpoint> out;
  for (const auto& [id, info] : store_.brokers()) {
    for (const auto& e : info.endpoints) {
      auto parsed = parse_endpoint(e);
      if (!parsed || std::get<0>(*parsed) != listener) continue;
      out.push_back({id, std::get<1>(*parsed), std::get<2>(*parsed), info.rack});
      break;
    }
  }
  return out;
}

int32_t Replication::controller_id() { return store_.controller().first; }

int32_t Replication::awaited_controller_id() {
  int32_t id = controller_id();
  if (id >= 0) {
    controller_missing_since_.store(0, std::memory_order_relaxed);
    return id;
  }
  using clock = std::chrono::steady_clock;
  int64_t since = 0;
  const int64_t now = clock::now().time_since_epoch().count();
  if (controller_missing_since_.compare_exchange_strong(since, now)) since = now;
  const auto deadline = clock::time_point(clock::duration(since)) + std::chrono::seconds(3);
  // Every replication pass (one follows each controller change) notifies fresh_cv_; the 50 ms
  // bound covers a change that lands between the read and the wait (the store is read outside mu_).
  while ((id = controller_id()) < 0 && clock::now() < deadline) {
    std::unique_lock lk(mu_);
    if (stopping_) break;
    fresh_cv_.wait_until(lk, std::min(deadline, clock::now() + std::chrono::milliseconds(50)));
  }
  if (id >= 0) controller_missing_since_.store(0, std::memory_order_relaxed);
  return id;
}

int32_t Replication::leader_of(const std::string& topic, int32_t partition) {
  auto s = store_.partition_state(topic, partition);
  return s ? s->leader : -1;
}

std::vector<PartitionView> Replication::describe(const TopicMetadata& t) {
  const auto brokers = store_.brokers();
  std::vector<PartitionView> out(static_cast<size_t>(std::max(0, t.partitions)));
  for (int32_t i = 0; i < t.partitions; ++i) {
    auto& v = out[static_cast<size_t>(i)];
    if (static_cast<size_t>(i) < t.assignment.size()) v.replicas = t.assignment[static_cast<size_t>(i)];
    for (int32_t r : v.replicas)
      if (!brokers.count(r)) v.offline.push_back(r);
    if (auto s = store_.partition_state(t.name, i)) {
      v.leader = brokers.count(s->leader) ? s->leader : -1;
      v.leader_epoch = s->leader_epoch;
      v.isr = s->isr;
    }
  }
  return out;
}

bool Replication::await_leaders(const std::string& topic, int32_t count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (int32_t i = 0; i < count && all; ++i) {
      auto s = store_.partition_state(topic, i);
      all = s && s->leader >= 0;
    }
    if (all) {
      // And applied here, so this broker answers for what it leads at once.
      std::lock_guard lk(mu_);
      dirty_ = true;
      cv_.notify_all();
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace ferry::broker::replication
