// Partition reassignment rules (reassignment.h).
#include "broker/replication/reassignment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace ferry::broker::replication {
namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// `from` without the members of `drop`, in `from`'s order.
std::vector<int32_t> without(const std::vector<int32_t>& from, const std::vector<int32_t>& drop) {
  std::vector<int32_t> out;
  for (int32_t x : from)
    if (!contains(drop, x)) out.push_back(x);
  return out;
}

}  // namespace

std::vector<int32_t> target_replicas(const TopicMetadata& t, int32_t p) {
  if (p < 0 || static_cast<size_t>(p) >= t.assignment.size()) return {};
  const auto& replicas = t.assignment[static_cast<size_t>(p)];
  auto it = t.reassignments.find(p);
  return it == t.reassignments.end() ? replicas : without(replicas, it->second.removing);
}

std::vector<int32_t> original_replicas(const TopicMetadata& t, int32_t p) {
  if (p < 0 || static_cast<size_t>(p) >= t.assignment.size()) return {};
  const auto& replicas = t.assignment[static_cast<size_t>(p)];
  auto it = t.reassignments.find(p);
  return it == t.reassignments.end() ? replicas : without(replicas, it->second.adding);
}

std::optional<ReassignmentError> request_reassignment(TopicMetadata& t, int32_t p,
                                                      const std::optional<std::vector<int32_t>>& target,
                                                      const std::set<int32_t>& live) {
  using protocol::ErrorCode;
  if (p < 0 || p >= t.partitions || static_cast<size_t>(p) >= t.assignment.size())
    return ReassignmentError{ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                             fmt::format("topic '{}' has no partition {}", t.name, p)};
  const auto current = t.assignment[static_cast<size_t>(p)];
  const auto original = original_replicas(t, p);
  const bool moving = t.reassignments.count(p) > 0;
  std::vector<int32_t> trs;
  if (!target) {
    if (!moving)
      return ReassignmentError{ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
                               fmt::format("{}-{} has no reassignment in progress to cancel", t.name, p)};
    trs = original;
  } else {
    trs = *target;
    if (trs.empty())
      return ReassignmentError{ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                               fmt::format("the target replica list of {}-{} is empty", t.name, p)};
    for (size_t i = 0; i < trs.size(); ++i) {
      if (trs[i] < 0)
        return ReassignmentError{ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                                 fmt::format("the target replicas of {}-{} name broker {}", t.name, p, trs[i])};
      if (std::count(trs.begin(), trs.begin() + static_cast<std::ptrdiff_t>(i), trs[i]) > 0)
        return ReassignmentError{ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                                 fmt::format("the target replicas of {}-{} name broker {} twice", t.name, p, trs[i])};
      if (!contains(original, trs[i]) && !live.count(trs[i]))
        return ReassignmentError{
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            fmt::format("broker {} in the target replicas of {}-{} is not a registered broker (live: {})", trs[i],
                        t.name, p, fmt::join(live, ","))};
    }
  }
  if (!moving && trs == current) return std::nullopt;  // already there
  // RS = TRS then ORS − TRS; AR = TRS − ORS; RR = ORS − TRS. Adding replicas of a replaced move
  // that the new target drops leave RS at once (Kafka stops them), and a cancel is RS = ORS.
  std::vector<int32_t> rs = trs;
  for (int32_t r : original)
    if (!contains(trs, r)) rs.push_back(r);
  PartitionReassignment move{without(trs, original), without(original, trs)};
  t.assignment[static_cast<size_t>(p)] = rs;
  if (move.adding.empty() && move.removing.empty())
    t.reassignments.erase(p);  // back to the original replicas, or only their order changed
  else
    t.reassignments[p] = std::move(move);
  return std::nullopt;
}

std::optional<ReassignmentCompletion> complete_reassignments(
    const TopicMetadata& t, const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
    const std::set<int32_t>& live, int64_t controller_epoch) {
  ReassignmentCompletion out{t, {}, {}};
  for (const auto& [p, move] : t.reassignments) {
    if (out.completed.size() >= kMaxCompletions) break;
    auto it = states.find({t.name, p});
    if (it == states.end()) continue;
    const PartitionState& s = it->second;
    const auto trs = target_replicas(t, p);
    if (trs.empty() || !std::all_of(trs.begin(), trs.end(), [&](int32_t r) { return contains(s.isr, r); })) continue;
    PartitionState next = s;
    next.isr.clear();
    for (int32_t r : trs)
      if (contains(s.isr, r)) next.isr.push_back(r);
    if (!(contains(trs, s.leader) && live.count(s.leader))) {
      next.leader = -1;
      for (int32_t r : next.isr)
        if (live.count(r)) {
          next.leader = r;
          break;
        }
      if (next.leader < 0) continue;  // no live target replica to lead yet
    }
    next.leader_epoch = s.leader_epoch + 1;
    next.controller_epoch = controller_epoch;
    out.states.push_back(PartitionWrite{t.name, p, next, s.mod_revision});
    out.topic.assignment[static_cast<size_t>(p)] = trs;
    out.topic.reassignments.erase(p);
    out.completed.push_back(p);
  }
  if (out.completed.empty()) return std::nullopt;
  size_t rf = 0;
  for (int32_t p = 0; p < static_cast<int32_t>(out.topic.assignment.size()); ++p)
    rf = std::max(rf, target_replicas(out.topic, p).size());
  out.topic.replication_factor = static_cast<int16_t>(rf);
  return out;
}

}  // namespace ferry::broker::replication
