#include "broker/groups/group.h"

#include <algorithm>
#include <set>

namespace ferry::groups::detail {

Bytes Member::metadata_for(const std::string& protocol) const {
  for (const auto& p : protocols)
    if (p.name == protocol) return p.metadata;
  return {};
}

void Group::transition(GroupState s, int64_t now_ms) {
  state_ = s;
  state_since_ms_ = now_ms;
}

void Group::add(Member m) {
  if (order_.empty()) protocol_type = m.protocol_type;
  if (leader_id.empty()) leader_id = m.id;
  if (m.instance_id) static_members_[*m.instance_id] = m.id;
  order_.push_back(m.id);
  std::string id = m.id;
  members_.emplace(std::move(id), std::move(m));
}

void Group::remove(const std::string& member_id) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  if (it->second.instance_id) {
    auto s = static_members_.find(*it->second.instance_id);
    if (s != static_members_.end() && s->second == member_id) static_members_.erase(s);
  }
  members_.erase(it);
  order_.erase(std::find(order_.begin(), order_.end(), member_id));
  if (leader_id == member_id) leader_id = order_.empty() ? std::string() : order_.front();
}

void Group::rename(const std::string& old_id, const std::string& new_id) {
  auto node = members_.extract(old_id);
  node.key() = new_id;
  node.mapped().id = new_id;
  if (node.mapped().instance_id) static_members_[*node.mapped().instance_id] = new_id;
  members_.insert(std::move(node));
  *std::find(order_.begin(), order_.end(), old_id) = new_id;
  if (leader_id == old_id) leader_id = new_id;
}

std::optional<std::string> Group::static_member(const std::string& instance_id) const {
  auto it = static_members_.find(instance_id);
  if (it == static_members_.end()) return std::nullopt;
  return it->second;
}

bool Group::is_fenced(const std::string& member_id,
                      const std::optional<std::string>& instance_id) const {
  if (!instance_id) return false;
  auto owner = static_member(*instance_id);
  return owner && *owner != member_id;
}

bool Group::supports(const std::string& type, const std::vector<Protocol>& protocols,
                     const std::string& exclude) const {
  if (order_.empty()) return !type.empty() && !protocols.empty();
  if (type != protocol_type || protocols.empty()) return false;
  size_t others = order_.size() - (has(exclude) ? 1 : 0);
  if (others == 0) return true;  // the sole member may switch protocols, not the group's type
  for (const auto& p : protocols) {
    size_t supporters = 0;
    for (const auto& [id, m] : members_) {
      if (id == exclude) continue;
      if (std::any_of(m.protocols.begin(), m.protocols.end(),
                      [&](const Protocol& q) { return q.name == p.name; }))
        ++supporters;
    }
    if (supporters == others) return true;
  }
  return false;
}

std::string Group::select_protocol() const {
  if (order_.empty()) return {};
  // Candidates: supported by every member.
  std::set<std::string> candidates;
  for (const auto& p : members_.begin()->second.protocols) candidates.insert(p.name);
  for (const auto& [id, m] : members_) {
    std::set<std::string> mine;
    for (const auto& p : m.protocols)
      if (candidates.count(p.name)) mine.insert(p.name);
    candidates = std::move(mine);
  }
  if (candidates.empty()) return {};
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members_) {
    for (const auto& p : m.protocols) {
      if (candidates.count(p.name)) {
        ++votes[p.name];
        break;
      }
    }
  }
  // Ties: the leader's preference order decides, so the choice is deterministic.
  const Member& leader = members_.at(has(leader_id) ? leader_id : order_.front());
  std::string best;
  int best_votes = -1;
  for (const auto& p : leader.protocols) {
    if (!candidates.count(p.name)) continue;
    int v = votes.count(p.name) ? votes.at(p.name) : 0;
    if (v > best_votes) {
      best = p.name;
      best_votes = v;
    }
  }
  return best;
}

bool Group::all_joined() const {
  if (!pending.empty()) return false;
  return std::all_of(members_.begin(), members_.end(),
                     [](const auto& kv) { return kv.second.awaiting_join(); });
}

int32_t Group::max_rebalance_timeout_ms() const {
  int32_t t = 0;
  for (const auto& [id, m] : members_) t = std::max(t, m.rebalance_timeout_ms);
  return t;
}

bool Group::elect_joined_leader() {
  if (has(leader_id) && get(leader_id).awaiting_join()) return true;
  for (const auto& id : order_) {
    if (members_.at(id).awaiting_join()) {
      leader_id = id;
      return true;
    }
  }
  return false;
}

std::vector<JoinedMember> Group::joined_members() const {
  std::vector<JoinedMember> out;
  for (const auto& id : order_) {
    const Member& m = members_.at(id);
    out.push_back({m.id, m.instance_id, m.metadata_for(protocol_name)});
  }
  return out;
}

GroupSnapshot Group::snapshot() const {
  GroupSnapshot s;
  s.group_id = id_;
  s.protocol_type = protocol_type;
  s.generation_id = generation;
  s.protocol_name = protocol_name;
  s.leader_id = order_.empty() ? std::string() : leader_id;
  s.state_timestamp_ms = state_since_ms_;
  for (const auto& id : order_) {
    const Member& m = members_.at(id);
    s.members.push_back({m.id, m.instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                         m.session_timeout_ms, m.metadata_for(protocol_name), m.assignment});
  }
  return s;
}

GroupDescription Group::describe() const {
  GroupDescription d;
  d.group_id = id_;
  d.state = std::string(state_name(state_));
  d.protocol_type = protocol_type;
  // Kafka shows metadata and assignments only once they are settled.
  bool stable = state_ == GroupState::stable;
  if (stable) d.protocol = protocol_name;
  for (const auto& id : order_) {
    const Member& m = members_.at(id);
    MemberDescription md{m.id, m.instance_id, m.client_id, m.client_host, {}, {}};
    if (stable) {
      md.metadata = m.metadata_for(protocol_name);
      md.assignment = m.assignment;
    }
    d.members.push_back(std::move(md));
  }
  return d;
}

void Outbox::answer_join(Member& m, JoinResult r) {
  if (!m.join_cb) return;
  JoinCallback cb = std::move(m.join_cb);
  m.join_cb = nullptr;
  answer(cb, std::move(r));
}

void Outbox::answer_sync(Member& m, SyncResult r) {
  if (!m.sync_cb) return;
  SyncCallback cb = std::move(m.sync_cb);
  m.sync_cb = nullptr;
  answer(cb, std::move(r));
}

void Outbox::answer(const JoinCallback& cb, JoinResult r) {
  calls.push_back([cb, r = std::move(r)]() mutable { cb(std::move(r)); });
}

void Outbox::answer(const SyncCallback& cb, SyncResult r) {
  calls.push_back([cb, r = std::move(r)]() mutable { cb(std::move(r)); });
}

}  // namespace ferry::groups::detail
