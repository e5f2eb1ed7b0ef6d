// SyncGroup, Heartbeat, LeaveGroup, the admin operations, timeouts and restore.
#include "broker/groups/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ferry::groups {

namespace {

SyncResult sync_error(ErrorCode error) {
  SyncResult r;
  r.error = error;
  return r;
}

}  // namespace

GroupCoordinator::GroupCoordinator(CoordinatorConfig config, std::shared_ptr<GroupStore> store,
                                   int64_t now_ms)
    : config_(config), store_(std::move(store)), now_ms_(now_ms), rng_(std::random_device{}()) {}

GroupCoordinator::~GroupCoordinator() = default;

void GroupCoordinator::deliver(std::unique_lock<std::mutex>& lk, Outbox& out) {
  if (store_ && !out.writes.empty()) {
    // Taken before mu_ is released so that writes reach the store in the order the state changed.
    std::unique_lock sl(store_mu_);
    lk.unlock();
    for (const auto& [id, snap] : out.writes) {
      if (snap)
        store_->persist(*snap);
      else
        store_->remove(id);
    }
  } else {
    lk.unlock();
  }
  for (auto& call : out.calls) call();
}

void GroupCoordinator::sync(const SyncRequest& req, SyncCallback done) {
  std::unique_lock lk(mu_);
  Outbox out;
  expire_touched(req.group_id, out);  // a request after its deadline finds it expired
  auto it = groups_.find(req.group_id);
  if (req.group_id.empty()) {
    out.answer(done, sync_error(ErrorCode::INVALID_GROUP_ID));
  } else if (it == groups_.end()) {
    out.answer(done, sync_error(ErrorCode::UNKNOWN_MEMBER_ID));
  } else {
    Group& g = *it->second;
    if (g.state() == GroupState::dead) {
      out.answer(done, sync_error(ErrorCode::COORDINATOR_NOT_AVAILABLE));
    } else if (g.is_fenced(req.member_id, req.group_instance_id)) {
      out.answer(done, sync_error(ErrorCode::FENCED_INSTANCE_ID));
    } else if (!g.has(req.member_id)) {
      out.answer(done, sync_error(ErrorCode::UNKNOWN_MEMBER_ID));
    } else if (req.generation_id != g.generation) {
      out.answer(done, sync_error(ErrorCode::ILLEGAL_GENERATION));
    } else if ((req.protocol_type && *req.protocol_type != g.protocol_type) ||
               (req.protocol_name && *req.protocol_name != g.protocol_name)) {
      out.answer(done, sync_error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL));  // KIP-559
    } else {
      Member& m = g.get(req.member_id);
      switch (g.state()) {
        case GroupState::empty:
        case GroupState::dead:
          out.answer(done, sync_error(ErrorCode::UNKNOWN_MEMBER_ID));
          break;
        case GroupState::preparing_rebalance:
          out.answer(done, sync_error(ErrorCode::REBALANCE_IN_PROGRESS));
          break;
        case GroupState::stable:
          renew(m);
          out.answer(done, SyncResult{ErrorCode::NONE, g.protocol_type, g.protocol_name, m.assignment});
          break;
        case GroupState::completing_rebalance:
          out.answer_sync(m, sync_error(ErrorCode::REBALANCE_IN_PROGRESS));  // superseded
          m.sync_cb = done;
          renew(m);
          if (g.leader_id == m.id) {
            for (const auto& id : g.member_ids()) {
              auto a = std::find_if(req.assignments.begin(), req.assignments.end(),
                                    [&](const auto& kv) { return kv.first == id; });
              g.get(id).assignment = a == req.assignments.end() ? Bytes{} : a->second;
            }
            if (ErrorCode refused = store_ ? store_->check(g.snapshot()) : ErrorCode::NONE;
                refused != ErrorCode::NONE) {
              // The group record could never be written (Kafka: storeGroup failing with
              // MESSAGE_TOO_LARGE): answer every waiting member with the error and rebalance,
              // rather than run a generation that a restart would forget.
              spdlog::warn("group {}: generation {} cannot be stored ({}); rebalancing", g.id(), g.generation,
                           protocol::error_name(refused));
              for (const auto& id : g.member_ids()) {
                Member& each = g.get(id);
                each.assignment.clear();
                out.answer_sync(each, sync_error(refused));
              }
              prepare_rebalance(g, out, "group metadata cannot be stored");
              break;
            }
            g.transition(GroupState::stable, now_ms_);
            out.persist(g);
            spdlog::info("group {}: assignment received from leader {} for generation {}",
                         g.id(), m.id, g.generation);
            for (const auto& id : g.member_ids()) {
              Member& each = g.get(id);
              if (!each.awaiting_sync()) continue;
              renew(each);
              out.answer_sync(each,
                              SyncResult{ErrorCode::NONE, g.protocol_type, g.protocol_name, each.assignment});
            }
          }
          break;
      }
    }
  }
  expire_touched(req.group_id, out);
  deliver(lk, out);
}

ErrorCode GroupCoordinator::heartbeat(const HeartbeatRequest& req) {
  std::unique_lock lk(mu_);
  Outbox out;
  expire_touched(req.group_id, out);  // a request after its deadline finds it expired
  ErrorCode error = ErrorCode::NONE;
  auto it = groups_.find(req.group_id);
  if (req.group_id.empty()) {
    error = ErrorCode::INVALID_GROUP_ID;
  } else if (it == groups_.end()) {
    error = ErrorCode::UNKNOWN_MEMBER_ID;
  } else {
    Group& g = *it->second;
    if (g.state() == GroupState::dead) {
      error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    } else if (g.is_fenced(req.member_id, req.group_instance_id)) {
      error = ErrorCode::FENCED_INSTANCE_ID;
    } else if (!g.has(req.member_id)) {
      error = ErrorCode::UNKNOWN_MEMBER_ID;
    } else if (req.generation_id != g.generation) {
      error = ErrorCode::ILLEGAL_GENERATION;
    } else if (g.state() == GroupState::empty) {
      error = ErrorCode::UNKNOWN_MEMBER_ID;
    } else {
      renew(g.get(req.member_id));
      // Members may heartbeat between their JoinGroup and SyncGroup answers; that is fine.
      if (g.state() == GroupState::preparing_rebalance) error = ErrorCode::REBALANCE_IN_PROGRESS;
    }
  }
  expire_touched(req.group_id, out);
  deliver(lk, out);
  return error;
}

ErrorCode GroupCoordinator::check_offset_commit(const HeartbeatRequest& req) {
  std::unique_lock lk(mu_);
  Outbox out;
  expire_touched(req.group_id, out);  // a request after its deadline finds it expired
  ErrorCode error = ErrorCode::NONE;
  auto it = groups_.find(req.group_id);
  // Kafka accepts the empty group id for offset commits (GroupCoordinator.isValidGroupId keeps it
  // for old clients), unlike the membership APIs.
  if (it == groups_.end()) {
    if (req.generation_id < 0)
      groups_.emplace(req.group_id, std::make_unique<Group>(req.group_id, now_ms_));
    else
      error = ErrorCode::ILLEGAL_GENERATION;
  } else {
    Group& g = *it->second;
    if (g.state() == GroupState::dead) {
      error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
    } else if (req.generation_id < 0 && g.state() == GroupState::empty) {
      error = ErrorCode::NONE;
    } else if (g.is_fenced(req.member_id, req.group_instance_id)) {
      error = ErrorCode::FENCED_INSTANCE_ID;
    } else if (!g.has(req.member_id)) {
      // Includes the admin client's commit (generation -1, no member id) into a group that has
      // members: Kafka 3.x answers UNKNOWN_MEMBER_ID ("only members can commit offsets",
      // GroupCoordinator.validateOffsetCommit).
      error = ErrorCode::UNKNOWN_MEMBER_ID;
    } else if (req.generation_id != g.generation) {
      error = ErrorCode::ILLEGAL_GENERATION;
    } else if (g.state() == GroupState::completing_rebalance) {
      error = ErrorCode::REBALANCE_IN_PROGRESS;
    } else {
      renew(g.get(req.member_id));
    }
  }
  expire_touched(req.group_id, out);
  deliver(lk, out);
  return error;
}

void GroupCoordinator::remove_member(Group& g, const std::string& member_id, Outbox& out,
                                     const char* reason) {
  Member& m = g.get(member_id);
  spdlog::info("group {}: removing member {} ({})", g.id(), member_id, reason);
  JoinResult gone;
  gone.error = ErrorCode::UNKNOWN_MEMBER_ID;
  gone.member_id = member_id;
  out.answer_join(m, gone);
  out.answer_sync(m, sync_error(ErrorCode::UNKNOWN_MEMBER_ID));
  g.remove(member_id);
  maybe_prepare_rebalance(g, out, std::string(reason) + " " + member_id);
  maybe_complete_join(g, out);
}

LeaveResult GroupCoordinator::leave(const LeaveRequest& req) {
  std::unique_lock lk(mu_);
  Outbox out;
  expire_touched(req.group_id, out);  // a request after its deadline finds it expired
  LeaveResult result;
  auto it = groups_.find(req.group_id);
  if (req.group_id.empty()) {
    result.error = ErrorCode::INVALID_GROUP_ID;
  } else if (it == groups_.end()) {
    for (const auto& who : req.members)
      result.members.push_back({who.member_id, who.group_instance_id, ErrorCode::UNKNOWN_MEMBER_ID});
  } else if (it->second->state() == GroupState::dead) {
    result.error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
  } else {
    Group& g = *it->second;
    for (const auto& who : req.members) {
      ErrorCode e = ErrorCode::NONE;
      std::optional<std::string> by_instance;
      if (who.group_instance_id) by_instance = g.static_member(*who.group_instance_id);
      if (!who.member_id.empty() && g.is_fenced(who.member_id, who.group_instance_id)) {
        e = ErrorCode::FENCED_INSTANCE_ID;
      } else if (g.pending.count(who.member_id)) {
        g.pending.erase(who.member_id);
        maybe_complete_join(g, out);
      } else if (by_instance) {
        remove_member(g, *by_instance, out, "left the group");
      } else if (g.has(who.member_id)) {
        remove_member(g, who.member_id, out, "left the group");
      } else {
        e = ErrorCode::UNKNOWN_MEMBER_ID;
      }
      result.members.push_back({who.member_id, who.group_instance_id, e});
    }
  }
  expire_touched(req.group_id, out);
  deliver(lk, out);
  return result;
}

void GroupCoordinator::advance_clock(std::optional<int64_t> now_ms) {
  if (now_ms) now_ms_ = std::max(now_ms_, *now_ms);
}

std::vector<GroupDescription> GroupCoordinator::describe(const std::vector<std::string>& group_ids,
                                                         std::optional<int64_t> now_ms) {
  std::unique_lock lk(mu_);
  Outbox fired;
  if (now_ms) {
    advance_clock(now_ms);
    for (const auto& id : group_ids) expire_touched(id, fired);
  }
  std::vector<GroupDescription> out;
  for (const auto& id : group_ids) {
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      GroupDescription d;
      d.group_id = id;
      d.state = std::string(state_name(GroupState::dead));
      out.push_back(std::move(d));
    } else {
      out.push_back(it->second->describe());
    }
  }
  deliver(lk, fired);
  return out;
}

std::vector<GroupListing> GroupCoordinator::list(const std::vector<GroupState>& states,
                                                 std::optional<int64_t> now_ms) {
  std::unique_lock lk(mu_);
  Outbox fired;
  if (now_ms) {
    advance_clock(now_ms);
    expire_due(fired);
  }
  std::vector<GroupListing> out;
  for (const auto& [id, g] : groups_) {
    if (g->state() == GroupState::dead) continue;
    if (!states.empty() && std::find(states.begin(), states.end(), g->state()) == states.end())
      continue;
    out.push_back({id, g->protocol_type, g->state(), g->state_since_ms()});
  }
  deliver(lk, fired);
  return out;
}

std::vector<DeleteResult> GroupCoordinator::delete_groups(const std::vector<std::string>& group_ids,
                                                          std::optional<int64_t> now_ms) {
  std::unique_lock lk(mu_);
  Outbox out;
  advance_clock(now_ms);
  std::vector<DeleteResult> result;
  for (const auto& id : group_ids) {
    if (now_ms) expire_touched(id, out);  // members whose sessions ran out no longer count
    auto it = groups_.find(id);
    ErrorCode e = ErrorCode::NONE;
    if (it == groups_.end() || it->second->state() == GroupState::dead) {
      e = ErrorCode::GROUP_ID_NOT_FOUND;
    } else if (it->second->state() != GroupState::empty || !it->second->pending.empty()) {
      e = ErrorCode::NON_EMPTY_GROUP;
    } else {
      it->second->transition(GroupState::dead, now_ms_);
      groups_.erase(it);
      out.tombstone(id);
      spdlog::info("group {}: deleted", id);
    }
    result.push_back({id, e});
  }
  deliver(lk, out);
  return result;
}

void GroupCoordinator::tick(int64_t now_ms) {
  std::unique_lock lk(mu_);
  Outbox out;
  now_ms_ = std::max(now_ms_, now_ms);
  expire_due(out);
  deliver(lk, out);
}

void GroupCoordinator::expire_due(Outbox& out) {
  for (auto& [id, g] : groups_) expire_group(*g, out);
}

void GroupCoordinator::expire_touched(const std::string& group_id, Outbox& out) {
  auto it = groups_.find(group_id);
  if (it != groups_.end()) expire_group(*it->second, out);
}

void GroupCoordinator::expire_group(Group& g, Outbox& out) {
  for (auto it = g.pending.begin(); it != g.pending.end();) {
    if (now_ms_ >= it->second) {
      spdlog::info("group {}: pending member {} never rejoined, dropping it", g.id(), it->first);
      it = g.pending.erase(it);
    } else {
      ++it;
    }
  }
  maybe_complete_join(g, out);

  std::vector<std::string> ids = g.member_ids();
  for (const auto& id : ids) {
    if (!g.has(id)) continue;
    const Member& m = g.get(id);
    // A member with a request waiting on us cannot heartbeat, so only a brand-new member's
    // join is bounded (by the new-member timeout); a waiting SyncGroup keeps a member alive.
    bool expired = m.awaiting_join()   ? (m.is_new && now_ms_ >= m.new_member_deadline_ms)
                   : m.awaiting_sync() ? false
                                       : now_ms_ >= m.heartbeat_deadline_ms;
    if (expired) remove_member(g, id, out, "session expired");
  }

  while (g.state() == GroupState::preparing_rebalance && g.rebalance_deadline_ms >= 0 &&
         now_ms_ >= g.rebalance_deadline_ms) {
    if (g.initial_delay && g.new_member_added && g.initial_remaining_ms > 0) {
      // KIP-134: members are still arriving; wait once more, within the rebalance timeout.
      int32_t delay = std::min(config_.initial_rebalance_delay_ms, g.initial_remaining_ms);
      g.new_member_added = false;
      g.initial_remaining_ms -= delay;
      g.rebalance_deadline_ms += delay;
      continue;
    }
    g.initial_delay = false;
    complete_join(g, out);
    break;
  }
}

std::optional<int64_t> GroupCoordinator::next_deadline_ms() const {
  std::lock_guard lk(mu_);
  std::optional<int64_t> best;
  auto consider = [&](int64_t t) { best = best ? std::min(*best, t) : t; };
  for (const auto& [gid, g] : groups_) {
    if (g->state() == GroupState::preparing_rebalance && g->rebalance_deadline_ms >= 0)
      consider(g->rebalance_deadline_ms);
    for (const auto& [id, deadline] : g->pending) consider(deadline);
    for (const auto& id : g->member_ids()) {
      const Member& m = g->get(id);
      if (m.awaiting_join()) {
        if (m.is_new) consider(m.new_member_deadline_ms);
      } else if (!m.awaiting_sync()) {
        consider(m.heartbeat_deadline_ms);
      }
    }
  }
  return best;
}

void GroupCoordinator::unload(Group& g, Outbox& out) {
  for (const auto& id : g.member_ids()) {
    Member& m = g.get(id);
    JoinResult r;
    r.error = ErrorCode::NOT_COORDINATOR;
    r.member_id = id;
    out.answer_join(m, r);
    out.answer_sync(m, sync_error(ErrorCode::NOT_COORDINATOR));
  }
}

void GroupCoordinator::restore(const std::vector<GroupSnapshot>& snapshots) {
  std::unique_lock lk(mu_);
  Outbox out;
  for (const auto& snap : snapshots) {
    if (snap.group_id.empty()) continue;
    auto existing = groups_.find(snap.group_id);
    if (existing != groups_.end()) {
      unload(*existing->second, out);
      groups_.erase(existing);
    }
    auto g = std::make_unique<Group>(snap.group_id, now_ms_);
    for (const auto& ms : snap.members) {
      Member m;
      m.id = ms.member_id;
      m.instance_id = ms.group_instance_id;
      m.client_id = ms.client_id;
      m.client_host = ms.client_host;
      m.session_timeout_ms = ms.session_timeout_ms;
      m.rebalance_timeout_ms = ms.rebalance_timeout_ms;
      m.protocol_type = snap.protocol_type;
      m.protocols = {Protocol{snap.protocol_name, ms.subscription}};
      m.assignment = ms.assignment;
      renew(m);
      g->add(std::move(m));
    }
    g->protocol_type = snap.protocol_type;
    g->generation = snap.generation_id;
    if (g->empty()) {
      g->protocol_name.clear();
      g->transition(GroupState::empty, snap.state_timestamp_ms);
    } else {
      g->protocol_name = snap.protocol_name;
      if (g->has(snap.leader_id)) g->leader_id = snap.leader_id;
      g->transition(GroupState::stable, snap.state_timestamp_ms);
    }
    spdlog::info("group {}: restored generation {} in state {} with {} members", snap.group_id,
                 snap.generation_id, state_name(g->state()), g->size());
    groups_.emplace(snap.group_id, std::move(g));
  }
  deliver(lk, out);
}

void GroupCoordinator::unload_groups(const std::vector<std::string>& group_ids) {
  std::unique_lock lk(mu_);
  Outbox out;
  for (const auto& id : group_ids) {
    auto it = groups_.find(id);
    if (it == groups_.end()) continue;
    unload(*it->second, out);
    groups_.erase(it);
  }
  deliver(lk, out);
}

void GroupCoordinator::shutdown() {
  std::unique_lock lk(mu_);
  Outbox out;
  for (auto& [id, g] : groups_) unload(*g, out);
  groups_.clear();
  deliver(lk, out);
}

}  // namespace ferry::groups
