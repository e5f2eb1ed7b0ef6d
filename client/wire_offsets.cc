#include "client/wire_offsets.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <thread>

#include "broker/protocol/messages/list_offsets.h"
#include "broker/protocol/messages/metadata.h"

namespace ferry::client {

namespace proto = ferry::protocol;
using Clock = std::chrono::steady_clock;
using Key = std::pair<std::string, int32_t>;

namespace {

constexpr int kRounds = 3;

// Errors that mean "leadership is moving": ask again after a fresh Metadata (Kafka's
// Fetcher.handleListOffsetResponse retries the same set).
bool leadership_moving(proto::ErrorCode e) {
  return e == proto::ErrorCode::NOT_LEADER_OR_FOLLOWER || e == proto::ErrorCode::LEADER_NOT_AVAILABLE ||
         e == proto::ErrorCode::REPLICA_NOT_AVAILABLE || e == proto::ErrorCode::FENCED_LEADER_EPOCH ||
         e == proto::ErrorCode::UNKNOWN_LEADER_EPOCH;
}

}  // namespace

struct WireOffsets::Leaders {
  std::map<Key, int32_t> leader;              // partition -> leader id (-1: none)
  std::map<std::string, int16_t> topic_error;  // topics Metadata answered with an error
  std::set<std::string> listed;               // topics Metadata listed without error
};

WireOffsets::WireOffsets(const std::map<std::string, std::string>& props, std::string client_id)
    : security_(parse_wire_security(props)), client_id_(std::move(client_id)) {
  auto it = props.find("bootstrap.servers");
  if (it == props.end() || it->second.empty()) it = props.find("metadata.broker.list");
  bootstrap_ = parse_bootstrap_servers(it == props.end() ? "" : it->second);
  if (auto iso = props.find("isolation.level"); iso != props.end() && iso->second == "read_committed")
    isolation_level_ = 1;
}

WireOffsets::~WireOffsets() = default;

WireOffsets::Leaders WireOffsets::metadata(const std::vector<std::string>& topics, Clock::time_point deadline) {
  proto::MetadataRequest req;
  req.topics.emplace();
  for (const auto& t : topics) req.topics->push_back({proto::Uuid{}, t});
  req.allow_auto_topic_creation = false;  // asking a topic's offsets must not create it
  proto::MetadataResponse resp;
  std::string failures;
  // The connection kept from the last call first, then each bootstrap server, then each known broker.
  auto try_one = [&](std::unique_ptr<WireConnection> conn) {
    conn->set_deadline(deadline);
    const int16_t v = conn->version_for(proto::MetadataRequest::api_key, 8);
    if (v < 4) throw WireError("UNSUPPORTED_VERSION", conn->server() + ": Metadata v4+ is needed");
    resp = conn->call(req, v);
    metadata_conn_ = std::move(conn);
  };
  bool done = false;
  if (metadata_conn_) {
    try {
      try_one(std::move(metadata_conn_));
      done = true;
    } catch (const WireError& e) {
      if (e.code() != "NETWORK" && e.code() != "DECODE") throw;
      metadata_conn_.reset();
    }
  }
  std::vector<std::pair<std::string, std::string>> servers = bootstrap_;
  for (const auto& [id, hp] : brokers_) servers.push_back(hp);
  for (size_t i = 0; !done && i < servers.size() && Clock::now() < deadline; ++i) {
    try {
      try_one(std::make_unique<WireConnection>(servers[i].first, servers[i].second, security_, client_id_, deadline));
      done = true;
    } catch (const WireError& e) {
      if (e.code() != "NETWORK") throw;
      failures += (failures.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!done) throw WireError("NETWORK", fmt::format("Metadata: no broker answered ({})", failures));

  for (const auto& b : resp.brokers) {
    auto hp = std::make_pair(b.host, std::to_string(b.port));
    if (auto known = brokers_.find(b.node_id); known != brokers_.end() && known->second != hp)
      conns_.erase(b.node_id);  // moved: the old connection goes to someone else's address
    brokers_[b.node_id] = hp;
  }
  Leaders out;
  for (const auto& t : resp.topics) {
    if (!t.name) continue;
    if (t.error_code != proto::ErrorCode::NONE) {
      out.topic_error[*t.name] = static_cast<int16_t>(t.error_code);
      continue;
    }
    out.listed.insert(*t.name);
    for (const auto& p : t.partitions) out.leader[{*t.name, p.partition_index}] = p.leader_id;
  }
  return out;
}

WireConnection& WireOffsets::connection(int32_t node_id, Clock::time_point deadline) {
  auto it = conns_.find(node_id);
  if (it == conns_.end()) {
    auto b = brokers_.find(node_id);
    if (b == brokers_.end()) throw WireError("NETWORK", fmt::format("broker {} is not in Metadata", node_id));
    it = conns_.emplace(node_id, std::make_unique<WireConnection>(b->second.first, b->second.second, security_,
                                                                  client_id_, deadline))
             .first;
  }
  it->second->set_deadline(deadline);
  return *it->second;
}

std::map<Key, WireOffset> WireOffsets::list(const std::vector<Key>& partitions, int64_t timestamp,
                                            std::chrono::milliseconds timeout) {
  std::lock_guard lk(mu_);
  const auto deadline = Clock::now() + timeout;
  std::map<Key, WireOffset> out;
  std::set<Key> pending(partitions.begin(), partitions.end());
  for (int round = 0; round < kRounds && !pending.empty(); ++round) {
    if (round > 0) {
      // Leadership was moving: give the controller a moment, within the call's bound.
      const auto pause = std::min<Clock::duration>(std::chrono::milliseconds(100 * round), deadline - Clock::now());
      if (pause <= Clock::duration::zero()) break;
      std::this_thread::sleep_for(pause);
    }
    std::set<std::string> topic_set;
    for (const auto& k : pending) topic_set.insert(k.first);
    const Leaders md = metadata({topic_set.begin(), topic_set.end()}, deadline);

    std::map<int32_t, std::vector<Key>> by_leader;
    for (const auto& k : pending) {
      WireOffset& o = out[k];
      o = {};
      if (auto te = md.topic_error.find(k.first); te != md.topic_error.end()) {
        if (te->second == static_cast<int16_t>(proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
          o.unknown = true;
        else
          o.error = te->second;
        continue;
      }
      auto l = md.leader.find(k);
      if (l == md.leader.end()) {
        o.unknown = true;
      } else if (l->second < 0) {
        o.error = static_cast<int16_t>(proto::ErrorCode::LEADER_NOT_AVAILABLE);
      } else {
        by_leader[l->second].push_back(k);
      }
    }
    std::set<Key> again;
    for (const auto& k : pending)
      if (out[k].error == static_cast<int16_t>(proto::ErrorCode::LEADER_NOT_AVAILABLE)) again.insert(k);

    for (const auto& [leader, keys] : by_leader) {
      proto::ListOffsetsRequest req;
      req.isolation_level = isolation_level_;
      for (const auto& [topic, partition] : keys) {
        if (req.topics.empty() || req.topics.back().name != topic) req.topics.push_back({topic, {}});
        req.topics.back().partitions.push_back({partition, timestamp});
      }
      proto::ListOffsetsResponse resp;
      try {
        WireConnection& conn = connection(leader, deadline);
        const int16_t v = conn.version_for(proto::ListOffsetsRequest::api_key, proto::ListOffsetsRequest::max_version);
        if (v < proto::ListOffsetsRequest::min_version)
          throw WireError("UNSUPPORTED_VERSION", conn.server() + ": ListOffsets v1+ is needed");
        resp = conn.call(req, v);
      } catch (const WireError& e) {
        if (e.code() != "NETWORK" && e.code() != "DECODE") throw;
        conns_.erase(leader);  // a dead or confused leader: reconnect next time
        for (const auto& k : keys) out[k].unreachable = true;
        continue;
      }
      for (const auto& k : keys) out[k].error = static_cast<int16_t>(proto::ErrorCode::UNKNOWN_SERVER_ERROR);
      for (const auto& t : resp.topics)
        for (const auto& p : t.partitions) {
          const Key k{t.name, p.partition_index};
          if (!std::binary_search(keys.begin(), keys.end(), k)) continue;  // keys: sorted (from a std::set)
          out[k] = {p.offset, static_cast<int16_t>(p.error_code), false, false};
          if (leadership_moving(p.error_code)) again.insert(k);
        }
    }
    pending = std::move(again);
  }
  return out;
}

}  // namespace ferry::client
