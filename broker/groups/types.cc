#include <algorithm>
#include <cctype>

#include "broker/groups/store.h"
#include "broker/groups/types.h"

namespace ferry::groups {

namespace {
constexpr GroupState kAllStates[] = {GroupState::empty, GroupState::preparing_rebalance,
                                     GroupState::completing_rebalance, GroupState::stable,
                                     GroupState::dead};
}  // namespace

std::string_view state_name(GroupState s) {
  switch (s) {
    case GroupState::empty: return "Empty";
    case GroupState::preparing_rebalance: return "PreparingRebalance";
    case GroupState::completing_rebalance: return "CompletingRebalance";
    case GroupState::stable: return "Stable";
    case GroupState::dead: return "Dead";
  }
  return "Dead";
}

std::optional<GroupState> parse_state(std::string_view name) {
  auto lower = [](unsigned char c) { return static_cast<char>(std::tolower(c)); };
  for (GroupState s : kAllStates) {
    std::string_view n = state_name(s);
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); }))
      return s;
  }
  return std::nullopt;
}

void MemoryGroupStore::persist(const GroupSnapshot& snapshot) {
  std::lock_guard lk(mu_);
  groups_[snapshot.group_id] = snapshot;
  ++writes_;
}

void MemoryGroupStore::remove(const std::string& group_id) {
  std::lock_guard lk(mu_);
  groups_.erase(group_id);
}

std::vector<GroupSnapshot> MemoryGroupStore::snapshots() const {
  std::lock_guard lk(mu_);
  std::vector<GroupSnapshot> out;
  for (const auto& [id, snap] : groups_) out.push_back(snap);
  return out;
}

std::optional<GroupSnapshot> MemoryGroupStore::get(const std::string& group_id) const {
  std::lock_guard lk(mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

size_t MemoryGroupStore::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}

}  // namespace ferry::groups
