#include "broker/replication/partition_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>
#include <climits>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace ferry::broker::replication {
namespace {

using nlohmann::json;

/// A state value that breaks the layout; the message names the field.
struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Whether `j` holds an integer in [min, max]; unsigned values above INT64_MAX never fit.
bool integer_in(const json& j, int64_t min, int64_t max, int64_t* out) {
  if (!j.is_number_integer()) return false;
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
  const int64_t v = j.get<int64_t>();
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

int64_t need_int(const json& obj, const char* field, int64_t min, int64_t max) {
  auto it = obj.find(field);
  if (it == obj.end()) throw Malformed(fmt::format("field \"{}\" is missing", field));
  if (!it->is_number_integer()) throw Malformed(fmt::format("field \"{}\" is not an integer: {}", field, it->dump()));
  int64_t v = 0;
  if (!integer_in(*it, min, max, &v))
    throw Malformed(fmt::format("field \"{}\" is {}, expected {}..{}", field, it->dump(), min, max));
  return v;
}

std::vector<int32_t> need_isr(const json& obj) {
  auto it = obj.find("isr");
  if (it == obj.end()) throw Malformed("field \"isr\" is missing");
  if (!it->is_array()) throw Malformed(fmt::format("field \"isr\" is not an array: {}", it->dump()));
  std::vector<int32_t> isr;
  std::set<int32_t> seen;
  for (const json& e : *it) {
    int64_t id = 0;
    if (!integer_in(e, 0, INT32_MAX, &id))
      throw Malformed(fmt::format("field \"isr\" holds {}, expected broker ids 0..{}", e.dump(), INT32_MAX));
    if (!seen.insert(static_cast<int32_t>(id)).second)
      throw Malformed(fmt::format("field \"isr\" lists broker {} twice", id));
    isr.push_back(static_cast<int32_t>(id));
  }
  return isr;
}

/// The replicas of `R` that pass `keep`, in R's order, each once.
std::vector<int32_t> in_replica_order(const std::vector<int32_t>& R, const std::function<bool(int32_t)>& keep) {
  std::vector<int32_t> out;
  for (int32_t r : R)
    if (keep(r) && std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  return out;
}

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// Kafka's replicaIndex: the broker position `nth` steps into the follower walk of a partition
/// whose first replica sits at `first`; the walk never lands back on `first`.
size_t follower_index(size_t first, int64_t shift, int64_t nth, size_t n) {
  const int64_t step = 1 + (shift + nth) % static_cast<int64_t>(n - 1);
  return (first + static_cast<size_t>(step)) % n;
}

/// `v` modulo `n`, never negative.
int64_t wrap(int64_t v, size_t n) {
  const auto m = static_cast<int64_t>(n);
  return ((v % m) + m) % m;
}

std::vector<std::vector<int32_t>> assign_without_racks(const std::vector<int32_t>& ids, int32_t first_partition,
                                                       int32_t count, int16_t rf, int64_t start, int64_t shift) {
  const size_t n = ids.size();
  std::vector<std::vector<int32_t>> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t p = first_partition; p < int64_t{first_partition} + count; ++p) {
    // The follower shift grows each time the partition id wraps the broker list, so partitions
    // with the same leader get different follower sets (bumped only within this call, as Kafka).
    if (p > 0 && p % static_cast<int64_t>(n) == 0) ++shift;
    const auto first = static_cast<size_t>((p + start) % static_cast<int64_t>(n));
    std::vector<int32_t> replicas{ids[first]};
    for (int64_t j = 0; j + 1 < rf; ++j) replicas.push_back(ids[follower_index(first, shift, j, n)]);
    out.push_back(std::move(replicas));
  }
  return out;
}

/// Brokers interleaved by rack: racks in name order, each contributing its next broker (id order)
/// in turn, racks that ran out skipped.
std::vector<int32_t> rack_interleaved(const std::vector<BrokerNode>& brokers) {
  std::map<std::string, std::vector<int32_t>> by_rack;  // brokers arrive in id order
  for (const BrokerNode& b : brokers) by_rack[b.rack].push_back(b.id);
  std::vector<int32_t> out;
  for (size_t round = 0; out.size() < brokers.size(); ++round)
    for (const auto& [rack, ids] : by_rack)
      if (round < ids.size()) out.push_back(ids[round]);
  return out;
}

std::vector<std::vector<int32_t>> assign_with_racks(const std::vector<BrokerNode>& brokers, int32_t first_partition,
                                                    int32_t count, int16_t rf, int64_t start, int64_t shift) {
  std::map<int32_t, std::string> rack_of;
  std::set<std::string> racks;
  for (const BrokerNode& b : brokers) {
    rack_of[b.id] = b.rack;
    racks.insert(b.rack);
  }
  const std::vector<int32_t> ids = rack_interleaved(brokers);
  const size_t n = ids.size();
  const auto n_racks = static_cast<int64_t>(racks.size());
  std::vector<std::vector<int32_t>> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t p = first_partition; p < int64_t{first_partition} + count; ++p) {
    if (p > 0 && p % static_cast<int64_t>(n) == 0) ++shift;
    const auto first = static_cast<size_t>((p + start) % static_cast<int64_t>(n));
    std::vector<int32_t> replicas{ids[first]};
    std::set<std::string> used_racks{rack_of[ids[first]]};
    std::set<int32_t> used{ids[first]};
    // Walk the followers; take a broker only on a rack without a replica (while such racks
    // remain) and only if it has none yet (while such brokers remain). The walk visits every
    // other broker within n - 1 steps, so each pick ends.
    int64_t k = 0;
    while (replicas.size() < static_cast<size_t>(rf)) {
      const int32_t b = ids[follower_index(first, shift * n_racks, k++, n)];
      const bool rack_ok = !used_racks.contains(rack_of[b]) || static_cast<int64_t>(used_racks.size()) == n_racks;
      const bool broker_ok = !used.contains(b) || used.size() == n;
      if (rack_ok && broker_ok) {
        replicas.push_back(b);
        used_racks.insert(rack_of[b]);
        used.insert(b);
      }
    }
    out.push_back(std::move(replicas));
  }
  return out;
}

/// The decision for one created partition (`s` its state), or nullopt when nothing must change.
std::optional<PartitionState> decide(const std::vector<int32_t>& R, const PartitionState& s,
                                     const std::set<int32_t>& live, bool unclean) {
  // The ISR as the controller may trust it: members of R only, in R's order.
  const std::vector<int32_t> isr = in_replica_order(R, [&](int32_t r) { return contains(s.isr, r); });
  const std::vector<int32_t> live_isr =
      in_replica_order(R, [&](int32_t r) { return contains(s.isr, r) && live.contains(r); });
  PartitionState next = s;
  next.leader_epoch = s.leader_epoch + 1;
  // A leader outside R or outside its own ISR is no leader the rules allow: elect anew.
  if (s.leader >= 0 && contains(live_isr, s.leader)) {
    if (live_isr == s.isr) return std::nullopt;
    next.isr = live_isr;
    return next;
  }
  if (!live_isr.empty()) {
    next.leader = live_isr.front();
    next.isr = live_isr;
    return next;
  }
  if (unclean) {
    for (int32_t r : R) {
      if (live.contains(r)) {
        next.leader = r;
        next.isr = {r};
        return next;
      }
    }
  }
  // Offline: keep the (dead) ISR so a clean election can wait for one of them to return.
  if (s.leader == -1 && isr == s.isr) return std::nullopt;
  next.leader = -1;
  next.isr = isr;
  return next;
}

}  // namespace

std::string encode_partition_state(const PartitionState& s) {
  json j = json::object();
  j["leader"] = s.leader;
  j["leader_epoch"] = s.leader_epoch;
  j["isr"] = s.isr;
  j["controller_epoch"] = s.controller_epoch;
  return j.dump();
}

std::optional<PartitionState> parse_partition_state(const std::string& text, std::string* error) {
  try {
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Malformed("the value is not JSON");
    if (!j.is_object()) throw Malformed("the value is not a JSON object");
    PartitionState s;
    s.leader = static_cast<int32_t>(need_int(j, "leader", -1, INT32_MAX));
    s.leader_epoch = static_cast<int32_t>(need_int(j, "leader_epoch", 0, INT32_MAX));
    s.isr = need_isr(j);
    s.controller_epoch = need_int(j, "controller_epoch", 0, INT64_MAX);
    return s;
  } catch (const std::exception& e) {
    if (error) *error = fmt::format("partition state: {}", e.what());
    return std::nullopt;
  }
}

std::vector<std::vector<int32_t>> assign_replicas(std::vector<BrokerNode> brokers, int32_t first_partition,
                                                  int32_t count, int16_t replication_factor, int32_t start_index,
                                                  int32_t replica_shift) {
  if (replication_factor < 1)
    throw std::invalid_argument(fmt::format("replication factor must be at least 1, not {}", replication_factor));
  if (static_cast<size_t>(replication_factor) > brokers.size())
    throw std::invalid_argument(
        fmt::format("replication factor: {} larger than available brokers: {}", replication_factor, brokers.size()));
  if (first_partition < 0 || count < 0 || int64_t{first_partition} + count > int64_t{INT32_MAX} + 1)
    throw std::invalid_argument(
        fmt::format("partitions [{}, {} + {}) are out of range", first_partition, first_partition, count));
  std::sort(brokers.begin(), brokers.end(), [](const BrokerNode& a, const BrokerNode& b) { return a.id < b.id; });
  for (size_t i = 1; i < brokers.size(); ++i)
    if (brokers[i].id == brokers[i - 1].id)
      throw std::invalid_argument(fmt::format("broker {} is listed twice", brokers[i].id));
  const size_t with_rack = static_cast<size_t>(
      std::count_if(brokers.begin(), brokers.end(), [](const BrokerNode& b) { return !b.rack.empty(); }));
  const int64_t start = wrap(start_index, brokers.size());
  const int64_t shift = wrap(replica_shift, brokers.size());
  if (with_rack == 0) {
    std::vector<int32_t> ids;
    for (const BrokerNode& b : brokers) ids.push_back(b.id);
    return assign_without_racks(ids, first_partition, count, replication_factor, start, shift);
  }
  if (with_rack != brokers.size())
    throw std::invalid_argument(fmt::format(
        "not all brokers have rack information for replica rack aware assignment ({} of {} have broker.rack)",
        with_rack, brokers.size()));
  return assign_with_racks(brokers, first_partition, count, replication_factor, start, shift);
}

std::vector<PartitionWrite> reconcile(const std::map<std::string, TopicMetadata>& topics,
                                      const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                      const std::set<int32_t>& live,
                                      const std::function<bool(const std::string& topic)>& unclean,
                                      int64_t controller_epoch) {
  std::vector<PartitionWrite> writes;
  for (const auto& [name, topic] : topics) {
    if (topic.assignment.empty()) continue;
    // Asked lazily and once per topic: only a partition without a live ISR member needs it.
    std::optional<bool> unclean_here;
    auto is_unclean = [&] {
      if (!unclean_here) {
        try {
          unclean_here = unclean && unclean(name);
        } catch (...) {
          unclean_here = false;  // never throw; a clean election is the safe answer
        }
      }
      return *unclean_here;
    };
    const auto n = std::min<size_t>(static_cast<size_t>(std::max(topic.partitions, 0)), topic.assignment.size());
    for (size_t p = 0; p < n; ++p) {
      const std::vector<int32_t>& R = topic.assignment[p];
      if (R.empty()) continue;
      const auto index = static_cast<int32_t>(p);
      auto it = states.find({name, index});
      if (it == states.end()) {
        const std::vector<int32_t> isr = in_replica_order(R, [&](int32_t r) { return live.contains(r); });
        if (isr.empty()) continue;  // wait for a live replica
        PartitionState created;
        created.leader = isr.front();
        created.isr = isr;
        created.controller_epoch = controller_epoch;
        writes.push_back({name, index, created, 0});
        continue;
      }
      const PartitionState& s = it->second;
      // Only the offline branch consults unclean; asking up front keeps `decide` pure.
      const bool needs_unclean =
          std::none_of(R.begin(), R.end(), [&](int32_t r) { return contains(s.isr, r) && live.contains(r); });
      auto next = decide(R, s, live, needs_unclean && is_unclean());
      if (!next) continue;
      next->controller_epoch = controller_epoch;
      writes.push_back({name, index, *next, s.mod_revision});
    }
  }
  return writes;
}

std::optional<PartitionState> preferred_leader_state(const std::vector<int32_t>& replicas, const PartitionState& s,
                                                     const std::set<int32_t>& live) {
  if (replicas.empty()) return std::nullopt;
  const int32_t preferred = replicas.front();
  if (s.leader == preferred || !live.contains(preferred) || !contains(s.isr, preferred)) return std::nullopt;
  PartitionState next = s;
  next.leader = preferred;
  next.leader_epoch = s.leader_epoch + 1;
  return next;
}

std::vector<PartitionWrite> rebalance_leaders(const std::map<std::string, TopicMetadata>& topics,
                                              const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                              const std::set<int32_t>& live, int64_t percentage,
                                              int64_t controller_epoch) {
  // Per preferred broker: how many partitions prefer it, and those led elsewhere.
  std::map<int32_t, std::pair<int64_t, std::vector<std::pair<std::string, int32_t>>>> by_preferred;
  for (const auto& [name, t] : topics) {
    for (int32_t i = 0; i < t.partitions && static_cast<size_t>(i) < t.assignment.size(); ++i) {
      const auto& replicas = t.assignment[static_cast<size_t>(i)];
      if (replicas.empty() || t.reassignments.count(i)) continue;
      auto it = states.find({name, i});
      if (it == states.end()) continue;
      auto& [preferred, elsewhere] = by_preferred[replicas.front()];
      ++preferred;
      if (it->second.leader != replicas.front()) elsewhere.emplace_back(name, i);
    }
  }
  std::vector<PartitionWrite> writes;
  for (const auto& [broker, counts] : by_preferred) {
    const auto& [preferred, elsewhere] = counts;
    // Kafka's test: imbalance ratio (led elsewhere / preferred) above the percentage.
    if (preferred == 0 || static_cast<int64_t>(elsewhere.size()) * 100 <= percentage * preferred) continue;
    for (const auto& [name, i] : elsewhere) {
      const auto& s = states.at({name, i});
      if (auto next = preferred_leader_state(topics.at(name).assignment[static_cast<size_t>(i)], s, live)) {
        next->controller_epoch = controller_epoch;
        writes.push_back({name, i, *next, s.mod_revision});
      }
    }
  }
  std::sort(writes.begin(), writes.end(), [](const PartitionWrite& a, const PartitionWrite& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return writes;
}

}  // namespace ferry::broker::replication
