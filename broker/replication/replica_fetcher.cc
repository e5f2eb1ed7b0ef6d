// The follower's fetch loop (replica_fetcher.h).
#include "broker/replication/replica_fetcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "broker/core/partition.h"
#include "broker/core/replica_manager.h"
#include "broker/protocol/messages/fetch.h"
#include "broker/protocol/messages/list_offsets.h"
#include "broker/protocol/messages/offset_for_leader_epoch.h"
#include "broker/replication/replication.h"
#include "broker/storage/record_batch.h"
#include "client/wire_client.h"
#include "common/clock.h"

namespace ferry::broker::replication {

using protocol::ErrorCode;
using Clock = std::chrono::steady_clock;

TruncationDecision truncation_offset(int32_t local_epoch, int64_t local_end, int32_t leader_epoch, int64_t leader_end,
                                     int64_t high_watermark,
                                     const std::function<std::pair<int32_t, int64_t>(int32_t)>& local_end_for) {
  if (local_epoch < 0) return {std::min(high_watermark, local_end), true};  // no history: the high watermark
  if (leader_end < 0) return {std::min(high_watermark, local_end), true};   // the leader knows nothing of it
  if (leader_epoch < 0) return {std::min(leader_end, local_end), true};     // a v0 answer: no epoch named
  const auto [own_epoch, own_end] = local_end_for(leader_epoch);
  if (own_epoch == leader_epoch) return {std::min({leader_end, own_end, local_end}), true};
  if (own_epoch >= 0) return {std::min(own_end, local_end), false};  // ask again for that older epoch
  return {std::min(leader_end, local_end), true};
}

client::WireSecurity inter_broker_security(const BrokerConfig& config) {
  const Listener& l = config.inter_broker_listener();
  const auto& v = config.values;
  client::WireSecurity s;
  s.tls = l.tls();
  s.sasl = l.sasl();
  if (s.tls) {
    s.ca_location = v.get_string("ssl.truststore.location");  // empty: the system's trust store
    if (v.get_string("ssl.client.auth") != "none") {
      // Kafka's PEM keystore holds the chain and the key in one file.
      s.certificate_location = v.get_string("ssl.keystore.location");
      s.key_location = v.get_string("ssl.keystore.location");
      s.key_password = v.get_string("ssl.key.password");
    }
  }
  if (s.sasl) {
    s.mechanism = v.get_string("sasl.mechanism.inter.broker.protocol");
    s.username = v.get_string("inter.broker.sasl.username");
    s.password = v.get_string("inter.broker.sasl.password");
  }
  return s;
}

class ReplicaFetchers::Fetcher {
 public:
  Fetcher(const BrokerConfig& config, int32_t leader, std::string host, std::string port)
      : config_(config), leader_(leader), host_(std::move(host)), port_(std::move(port)),
        security_(inter_broker_security(config)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Fetcher() {
    retire();
    thread_.join();
  }
  /// Stops following anything and asks the thread to end; what a request in flight brings back
  /// is dropped. Does not wait.
  void retire() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      entries_.clear();
    }
    cv_.notify_all();
  }
  const std::string& host() const { return host_; }
  int64_t max_lag() const { return max_lag_.load(std::memory_order_relaxed); }
  const std::string& port() const { return port_; }

  /// Replaces the followed partitions; a new or re-epoched one is truncated first.
  void set(const std::vector<FollowTarget>& targets) {
    std::lock_guard lk(mu_);
    std::map<std::pair<std::string, int32_t>, Entry> next;
    for (const auto& t : targets) {
      const auto key = std::make_pair(t.partition->topic(), t.partition->index());
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.partition == t.partition && it->second.epoch == t.leader_epoch) {
        next[key] = it->second;
      } else {
        next[key] = Entry{t.partition, t.leader_epoch, /*truncate=*/true, {}};
      }
    }
    entries_ = std::move(next);
    cv_.notify_all();
  }

 private:
  struct Entry {
    std::shared_ptr<Partition> partition;
    int32_t epoch = -1;
    bool truncate = true;
    Clock::time_point retry_at{};  // backoff after an error for this partition
  };

  void run();
  void truncate_all(client::WireConnection& conn, std::vector<std::pair<std::string, int32_t>> keys);
  void fetch(client::WireConnection& conn, const std::vector<std::pair<std::string, int32_t>>& keys);
  /// The leader says the follower's offset is out of its range: catch up to the leader's log.
  void reset_out_of_range(client::WireConnection& conn, const std::pair<std::string, int32_t>& key);
  void backoff(const std::pair<std::string, int32_t>& key) {
    std::lock_guard lk(mu_);
    if (auto it = entries_.find(key); it != entries_.end())
      it->second.retry_at = Clock::now() + std::chrono::milliseconds(config_.values.get_int("replica.fetch.backoff.ms"));
  }
  /// The entry if it is still followed at `epoch`.
  std::optional<Entry> entry(const std::pair<std::string, int32_t>& key) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::milliseconds(config_.values.get_int("replica.socket.timeout.ms") +
                                                     config_.values.get_int("replica.fetch.wait.max.ms"));
  }

  const BrokerConfig& config_;
  const int32_t leader_;
  const std::string host_, port_;
  const client::WireSecurity security_;  // of the inter-broker listener
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::pair<std::string, int32_t>, Entry> entries_;
  std::atomic<int64_t> max_lag_{0};
  std::thread thread_;
};

void ReplicaFetchers::Fetcher::run() {
  std::unique_ptr<client::WireConnection> conn;
  bool warned = false;
  const auto backoff = std::chrono::milliseconds(config_.values.get_int("replica.fetch.backoff.ms"));
  const std::string client_id = fmt::format("ferry-replica-fetcher-{}-from-{}", config_.node_id, leader_);
  for (;;) {
    std::vector<std::pair<std::string, int32_t>> to_truncate, to_fetch;
    {
      std::unique_lock lk(mu_);
      // Sleep while nothing is due: no partitions, or all of them backing off.
      for (;;) {
        if (stop_) return;
        to_truncate.clear();
        to_fetch.clear();
        auto next_due = Clock::time_point::max();
        const auto now = Clock::now();
        for (const auto& [key, e] : entries_) {
          if (e.retry_at > now) {
            next_due = std::min(next_due, e.retry_at);
            continue;
          }
          (e.truncate ? to_truncate : to_fetch).push_back(key);
        }
        if (!to_truncate.empty() || !to_fetch.empty()) break;
        if (next_due == Clock::time_point::max()) cv_.wait(lk);
        else cv_.wait_until(lk, next_due);
      }
    }
    try {
      if (!conn) {
        conn = std::make_unique<client::WireConnection>(host_, port_, security_, client_id,
                                                        Clock::now() + std::chrono::milliseconds(config_.values.get_int(
                                                                           "replica.socket.timeout.ms")));
        if (warned) spdlog::info("replica fetcher: connected to leader {} at {}:{} again", leader_, host_, port_);
        warned = false;
      }
      if (!to_truncate.empty()) truncate_all(*conn, to_truncate);
      if (!to_fetch.empty()) fetch(*conn, to_fetch);
    } catch (const std::exception& e) {
      // The leader is unreachable or answered garbage: reconnect after replica.fetch.backoff.ms. Its
      // death is the controller's business (its registration expires, another leader is elected).
      if (!warned) spdlog::warn("replica fetcher: leader {} at {}:{}: {}", leader_, host_, port_, e.what());
      warned = true;
      conn.reset();
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, backoff, [&] { return stop_; });
    }
  }
}

void ReplicaFetchers::Fetcher::truncate_all(client::WireConnection& conn,
                                            std::vector<std::pair<std::string, int32_t>> keys) {
  // Up to a few rounds: KIP-279 may ask again for an older epoch when the logs diverged over more
  // than one leader change.
  std::map<std::pair<std::string, int32_t>, int32_t> asking;  // key → epoch asked about
  for (const auto& k : keys) {
    auto e = entry(k);
    if (!e) continue;
    auto epochs = e->partition->log().epoch_entries();
    asking[k] = epochs.empty() ? -1 : epochs.back().epoch;
  }
  for (int round = 0; round < 8 && !asking.empty(); ++round) {
    protocol::OffsetForLeaderEpochRequest req;
    req.replica_id = config_.node_id;
    std::map<std::string, size_t> topic_index;
    std::vector<std::pair<std::string, int32_t>> no_history;
    for (const auto& [k, epoch] : asking) {
      if (epoch < 0) {
        no_history.push_back(k);
        continue;
      }
      auto e = entry(k);
      if (!e) continue;
      auto [it, fresh] = topic_index.try_emplace(k.first, req.topics.size());
      if (fresh) req.topics.emplace_back().topic = k.first;
      auto& p = req.topics[it->second].partitions.emplace_back();
      p.partition = k.second;
      p.current_leader_epoch = e->epoch;
      p.leader_epoch = epoch;
    }
    for (const auto& k : no_history) {
      // An empty history: nothing this replica holds was written under a known epoch. Cut to the
      // high watermark (KIP-101's rule without epochs) and fetch.
      if (auto e = entry(k)) e->partition->truncate_to(e->partition->high_watermark(), wall_clock_ms());
      std::lock_guard lk(mu_);
      if (auto it = entries_.find(k); it != entries_.end()) it->second.truncate = false;
      asking.erase(k);
    }
    if (req.topics.empty()) break;
    conn.set_deadline(deadline());
    auto resp = conn.call(req, conn.version_for(protocol::OffsetForLeaderEpochRequest::api_key, 4));
    for (const auto& t : resp.topics) {
      for (const auto& p : t.partitions) {
        const auto k = std::make_pair(t.topic, p.partition);
        auto e = entry(k);
        if (!e || !asking.count(k)) continue;
        if (p.error_code != ErrorCode::NONE) {
          // Not the leader yet, or an epoch that does not match: back off and ask again later.
          spdlog::debug("replica fetcher: OffsetForLeaderEpoch {}-{} from {}: {}", k.first, k.second, leader_,
                        protocol::error_name(p.error_code));
          asking.erase(k);
          backoff(k);
          continue;
        }
        Partition& part = *e->partition;
        auto& log = part.log();
        const auto d = truncation_offset(asking[k], log.log_end_offset(), p.leader_epoch, p.end_offset,
                                         part.high_watermark(),
                                         [&log](int32_t epoch) { return log.end_offset_for_epoch(epoch); });
        if (d.offset < log.log_end_offset()) part.truncate_to(d.offset, wall_clock_ms());
        if (d.done) {
          asking.erase(k);
          std::lock_guard lk(mu_);
          if (auto it = entries_.find(k); it != entries_.end() && it->second.epoch == e->epoch)
            it->second.truncate = false;
        } else {
          auto epochs = log.epoch_entries();
          asking[k] = epochs.empty() ? -1 : epochs.back().epoch;
        }
      }
    }
  }
}

void ReplicaFetchers::Fetcher::fetch(client::WireConnection& conn,
                                     const std::vector<std::pair<std::string, int32_t>>& keys) {
  protocol::FetchRequest req;
  req.replica_id = config_.node_id;
  req.max_wait_ms = static_cast<int32_t>(config_.values.get_int("replica.fetch.wait.max.ms"));
  req.min_bytes = 1;
  req.max_bytes = static_cast<int32_t>(config_.values.get_int("replica.fetch.response.max.bytes"));
  req.isolation_level = 0;
  req.session_id = 0;
  req.session_epoch = -1;
  std::map<std::pair<std::string, int32_t>, Entry> sent;
  std::map<std::string, size_t> topic_index;
  for (const auto& k : keys) {
    auto e = entry(k);
    if (!e) continue;
    sent[k] = *e;
    auto [it, fresh] = topic_index.try_emplace(k.first, req.topics.size());
    if (fresh) req.topics.emplace_back().topic = k.first;
    auto& p = req.topics[it->second].partitions.emplace_back();
    p.partition = k.second;
    p.current_leader_epoch = e->epoch;
    p.fetch_offset = e->partition->log().log_end_offset();
    p.log_start_offset = e->partition->log().log_start_offset();
    p.partition_max_bytes = static_cast<int32_t>(config_.values.get_int("replica.fetch.max.bytes"));
  }
  if (sent.empty()) return;
  conn.set_deadline(deadline());
  auto resp = conn.call(req, conn.version_for(protocol::FetchRequest::api_key, protocol::FetchRequest::max_version));
  if (resp.error_code != ErrorCode::NONE)
    throw std::runtime_error(fmt::format("Fetch answered {}", protocol::error_name(resp.error_code)));
  const int64_t now = wall_clock_ms();
  int64_t max_lag = 0;
  for (auto& t : resp.responses) {
    for (auto& p : t.partitions) {
      const auto k = std::make_pair(t.topic, p.partition_index);
      auto it = sent.find(k);
      if (it == sent.end()) continue;
      auto current = entry(k);
      // Leadership moved on while the fetch was out: what it brought is not to be applied.
      if (!current || current->epoch != it->second.epoch || current->partition != it->second.partition) continue;
      Partition& part = *it->second.partition;
      switch (p.error_code) {
        case ErrorCode::NONE: break;
        case ErrorCode::OFFSET_OUT_OF_RANGE: reset_out_of_range(conn, k); continue;
        case ErrorCode::FENCED_LEADER_EPOCH:
          // This replica's epoch is older than the leader's: new leadership is on its way through
          // the watch; until then, back off.
        default:
          spdlog::debug("replica fetcher: {}-{} from {}: {}", k.first, k.second, leader_,
                        protocol::error_name(p.error_code));
          backoff(k);
          continue;
      }
      std::vector<uint8_t> blob = p.records ? p.records->materialize() : std::vector<uint8_t>{};
      std::vector<storage::BatchHeader> headers;
      size_t pos = 0, keep = 0;
      const int64_t end = part.log().log_end_offset();
      size_t skip = 0;  // bytes of whole batches below the log end (the leader returns the batch holding the offset)
      while (pos < blob.size()) {
        auto h = storage::parse_batch_header(blob.data() + pos, blob.size() - pos);
        if (!h || h->size_in_bytes() > blob.size() - pos) break;  // a partial batch at the end: fetched next time
        if (h->base_offset + h->last_offset_delta < end) {
          skip = pos + h->size_in_bytes();
        } else {
          headers.push_back(*h);
        }
        pos += h->size_in_bytes();
        keep = pos;
      }
      blob.resize(keep);
      if (skip > 0) blob.erase(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(skip));
      if (!headers.empty()) {
        const ErrorCode err = part.append_as_follower(blob, headers, p.high_watermark, now);
        if (err != ErrorCode::NONE) {
          spdlog::warn("replica fetcher: appending {}-{} from leader {} failed: {}", k.first, k.second, leader_,
                       protocol::error_name(err));
          // A mismatch means the logs diverged in a way the epoch check missed: truncate again.
          std::lock_guard lk(mu_);
          if (auto e = entries_.find(k); e != entries_.end()) {
            e->second.truncate = true;
            e->second.retry_at = Clock::now() + std::chrono::milliseconds(config_.values.get_int("replica.fetch.backoff.ms"));
          }
          continue;
        }
      } else {
        part.follower_update_high_watermark(p.high_watermark);
      }
      // The leader's log start moved (retention, DeleteRecords): follow it.
      if (p.log_start_offset > part.log().log_start_offset() && p.log_start_offset <= part.log().log_end_offset())
        part.log().delete_records_before(p.log_start_offset);
      max_lag = std::max(max_lag, p.high_watermark - part.log().log_end_offset());
    }
  }
  max_lag_.store(max_lag, std::memory_order_relaxed);
}

void ReplicaFetchers::Fetcher::reset_out_of_range(client::WireConnection& conn,
                                                  const std::pair<std::string, int32_t>& key) {
  auto e = entry(key);
  if (!e) return;
  // Ask the leader for its log end (as a replica) and log start (AbstractFetcherThread
  // .handleOutOfRangeError): a leader behind this replica means an unclean election took place,
  // so the extra tail goes; a leader whose log starts past this replica's end means this replica
  // is too far behind, so it restarts empty at the leader's start.
  auto ask = [&](int64_t timestamp) -> int64_t {
    protocol::ListOffsetsRequest req;
    req.replica_id = config_.node_id;
    auto& t = req.topics.emplace_back();
    t.name = key.first;
    auto& p = t.partitions.emplace_back();
    p.partition_index = key.second;
    p.timestamp = timestamp;
    conn.set_deadline(deadline());
    auto resp = conn.call(req, conn.version_for(protocol::ListOffsetsRequest::api_key, 4));
    if (resp.topics.empty() || resp.topics[0].partitions.empty() ||
        resp.topics[0].partitions[0].error_code != ErrorCode::NONE)
      return -1;
    return resp.topics[0].partitions[0].offset;
  };
  Partition& part = *e->partition;
  const int64_t leader_end = ask(protocol::ListOffsetsRequest::kLatest);
  if (leader_end < 0) return backoff(key);
  if (leader_end < part.log().log_end_offset()) {
    spdlog::warn("{}-{}: leader {} ends at {} below this replica's {}: truncating (unclean leader election?)", key.first,
                 key.second, leader_, leader_end, part.log().log_end_offset());
    part.truncate_to(leader_end, wall_clock_ms());
    return;
  }
  const int64_t leader_start = ask(protocol::ListOffsetsRequest::kEarliest);
  if (leader_start > part.log().log_end_offset()) {
    spdlog::warn("{}-{}: leader {} starts at {}, past this replica's end {}: starting over there", key.first,
                 key.second, leader_, leader_start, part.log().log_end_offset());
    part.truncate_fully_and_start_at(leader_start, wall_clock_ms());
    return;
  }
  backoff(key);
}

ReplicaFetchers::ReplicaFetchers(const BrokerConfig& config) : config_(config) {
  reaper_ = std::thread([this] { reap_loop(); });
}

ReplicaFetchers::~ReplicaFetchers() {
  {
    std::lock_guard lk(mu_);
    for (auto& [id, f] : fetchers_) {
      f->retire();
      retiring_.push_back(std::move(f));
    }
    fetchers_.clear();
    stopping_ = true;
  }
  reap_cv_.notify_all();
  reaper_.join();
}

void ReplicaFetchers::reap_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    reap_cv_.wait(lk, [&] { return stopping_ || !retiring_.empty(); });
    auto batch = std::move(retiring_);
    retiring_.clear();
    if (batch.empty() && stopping_) return;
    lk.unlock();
    batch.clear();  // joins each thread once its request in flight returns
    lk.lock();
  }
}

int64_t ReplicaFetchers::max_lag() const {
  std::lock_guard lk(mu_);
  int64_t lag = 0;
  for (const auto& [id, f] : fetchers_) lag = std::max(lag, f->max_lag());
  return lag;
}

void ReplicaFetchers::assign(const std::vector<FollowTarget>& targets) {
  const std::string listener = config_.inter_broker_listener().name;
  std::map<int32_t, std::vector<FollowTarget>> by_leader;
  std::map<int32_t, std::pair<std::string, std::string>> address;
  for (const auto& t : targets) {
    for (const auto& ep : t.leader_info.endpoints) {
      auto parsed = parse_endpoint(ep);
      if (!parsed || std::get<0>(*parsed) != listener) continue;
      address[t.leader] = {std::get<1>(*parsed), std::to_string(std::get<2>(*parsed))};
      by_leader[t.leader].push_back(t);
      break;
    }
    if (!address.count(t.leader))
      spdlog::warn("replica fetcher: leader {} of {}-{} has no {} listener registered; cannot follow it", t.leader,
                   t.partition->topic(), t.partition->index(), listener);
  }
  std::lock_guard lk(mu_);
  for (auto it = fetchers_.begin(); it != fetchers_.end();) {
    auto a = address.find(it->first);
    // A fetcher whose leader leads nothing here any more, or moved (restarted on another port), goes.
    if (a == address.end() || a->second.first != it->second->host() || a->second.second != it->second->port()) {
      it->second->retire();
      retiring_.push_back(std::move(it->second));
      it = fetchers_.erase(it);
    } else {
      ++it;
    }
  }
  reap_cv_.notify_all();
  for (auto& [leader, list] : by_leader) {
    auto& f = fetchers_[leader];
    if (!f) f = std::make_unique<Fetcher>(config_, leader, address[leader].first, address[leader].second);
    f->set(list);
  }
}

}  // namespace ferry::broker::replication
