// JoinGroup and the rebalance it drives: PreparingRebalance -> CompletingRebalance (or Empty).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/groups/coordinator.h"

namespace ferry::groups {

namespace {

JoinResult join_error(const std::string& member_id, ErrorCode error) {
  JoinResult r;
  r.error = error;
  r.member_id = member_id;
  return r;
}

}  // namespace

std::string GroupCoordinator::new_member_id(const std::string& prefix) {
  // Kafka's <client.id>-<random UUID>: the prefix helps operators, the UUID keeps ids unique.
  uint64_t hi = rng_(), lo = rng_();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                          // version 4
  lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);          // RFC 4122 variant
  return fmt::format("{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", prefix, hi >> 32,
                     (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

JoinResult GroupCoordinator::current_generation(const Group& g, const Member& m,
                                                bool with_members) const {
  JoinResult r;
  r.generation_id = g.generation;
  r.protocol_type = g.protocol_type;
  r.protocol_name = g.protocol_name;
  r.leader_id = g.leader_id;
  r.member_id = m.id;
  if (with_members) r.members = g.joined_members();
  return r;
}

void GroupCoordinator::join(const JoinRequest& req, JoinCallback done) {
  std::unique_lock lk(mu_);
  Outbox out;
  expire_touched(req.group_id, out);  // a request after its deadline finds it expired
  if (req.group_id.empty()) {
    out.answer(done, join_error(req.member_id, ErrorCode::INVALID_GROUP_ID));
  } else if (req.session_timeout_ms < config_.min_session_timeout_ms ||
             req.session_timeout_ms > config_.max_session_timeout_ms) {
    out.answer(done, join_error(req.member_id, ErrorCode::INVALID_SESSION_TIMEOUT));
  } else {
    auto it = groups_.find(req.group_id);
    if (it == groups_.end()) {
      if (!req.member_id.empty()) {
        out.answer(done, join_error(req.member_id, ErrorCode::UNKNOWN_MEMBER_ID));
      } else {
        auto created = std::make_unique<Group>(req.group_id, now_ms_);
        Group& g = *created;
        groups_.emplace(req.group_id, std::move(created));
        join_unknown(g, req, done, out);
        // A join that failed must not leave a group behind (it would show in ListGroups).
        if (g.empty() && g.pending.empty() && g.generation == 0) groups_.erase(req.group_id);
      }
    } else if (req.member_id.empty()) {
      join_unknown(*it->second, req, done, out);
    } else {
      join_existing(*it->second, req, done, out);
    }
  }
  // Timers already due at the current time (a zero initial delay) fire now, not at the next tick.
  expire_touched(req.group_id, out);
  deliver(lk, out);
}

void GroupCoordinator::join_unknown(Group& g, const JoinRequest& req, const JoinCallback& done,
                                    Outbox& out) {
  if (g.state() == GroupState::dead) {
    out.answer(done, join_error("", ErrorCode::COORDINATOR_NOT_AVAILABLE));
  } else if (!g.supports(req.protocol_type, req.protocols, "")) {
    out.answer(done, join_error("", ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
  } else if (req.group_instance_id) {
    join_static_unknown(g, req, done, out);
  } else {
    std::string id = new_member_id(req.client_id);
    if (req.api_version >= 4) {
      // KIP-394: the member exists only once it comes back with this id, so a client that
      // never sees the response cannot leave a phantom member holding up the rebalance.
      g.pending[id] = now_ms_ + req.session_timeout_ms;
      out.answer(done, join_error(id, ErrorCode::MEMBER_ID_REQUIRED));
    } else {
      add_member_and_rebalance(g, req, id, done, out);
    }
  }
}

void GroupCoordinator::join_static_unknown(Group& g, const JoinRequest& req,
                                           const JoinCallback& done, Outbox& out) {
  const std::string& instance = *req.group_instance_id;
  std::string new_id = new_member_id(instance);
  auto old_id = g.static_member(instance);
  if (!old_id) {
    add_member_and_rebalance(g, req, new_id, done, out);
    return;
  }
  // KIP-345: a restarted static member takes over its old identity; whatever the old process
  // still has in flight is fenced.
  Member& old = g.get(*old_id);
  out.answer_join(old, join_error(*old_id, ErrorCode::FENCED_INSTANCE_ID));
  SyncResult fenced;
  fenced.error = ErrorCode::FENCED_INSTANCE_ID;
  out.answer_sync(old, fenced);
  g.rename(*old_id, new_id);
  Member& m = g.get(new_id);
  spdlog::info("group {}: static member {} replaced member id {} with {}", g.id(), instance,
               *old_id, new_id);
  switch (g.state()) {
    case GroupState::stable:
      if (m.protocols == req.protocols) {
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.client_id = req.client_id;
        m.client_host = req.client_host;
        renew(m);
        out.persist(g);
        bool leader = g.leader_id == new_id;
        JoinResult r = current_generation(g, m, leader);
        r.skip_assignment = leader;  // KIP-814
        out.answer(done, std::move(r));
      } else {
        update_member_and_rebalance(g, m, req, done, out, "static member changed protocols");
      }
      break;
    case GroupState::completing_rebalance:
      // The leader may already be assigning to the old id; only a new round gives the new id
      // an assignment.
      update_member_and_rebalance(g, m, req, done, out, "static member rejoined during sync");
      break;
    case GroupState::preparing_rebalance:
      update_member_and_rebalance(g, m, req, done, out, "static member rejoined");
      break;
    case GroupState::empty:
    case GroupState::dead:
      out.answer(done, join_error(new_id, ErrorCode::UNKNOWN_MEMBER_ID));
      break;
  }
}

void GroupCoordinator::join_existing(Group& g, const JoinRequest& req, const JoinCallback& done,
                                     Outbox& out) {
  const std::string& id = req.member_id;
  if (g.state() == GroupState::dead) {
    out.answer(done, join_error(id, ErrorCode::COORDINATOR_NOT_AVAILABLE));
    return;
  }
  if (g.pending.count(id)) {
    if (req.group_instance_id || !g.supports(req.protocol_type, req.protocols, "")) {
      ErrorCode e = req.group_instance_id ? ErrorCode::UNKNOWN_MEMBER_ID : ErrorCode::INCONSISTENT_GROUP_PROTOCOL;
      out.answer(done, join_error(id, e));
      return;
    }
    g.pending.erase(id);
    add_member_and_rebalance(g, req, id, done, out);
    return;
  }
  if (g.is_fenced(id, req.group_instance_id)) {
    out.answer(done, join_error(id, ErrorCode::FENCED_INSTANCE_ID));
    return;
  }
  if (!g.has(id)) {
    out.answer(done, join_error(id, ErrorCode::UNKNOWN_MEMBER_ID));
    return;
  }
  if (!g.supports(req.protocol_type, req.protocols, id)) {
    out.answer(done, join_error(id, ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
    return;
  }
  Member& m = g.get(id);
  bool unchanged = m.protocols == req.protocols;
  switch (g.state()) {
    case GroupState::preparing_rebalance:
      update_member_and_rebalance(g, m, req, done, out, "member rejoined");
      break;
    case GroupState::completing_rebalance:
      if (unchanged) {
        // The member lost our response; give it the same generation again.
        renew(m);
        out.answer(done, current_generation(g, m, g.leader_id == id));
      } else {
        update_member_and_rebalance(g, m, req, done, out, "member changed protocols");
      }
      break;
    case GroupState::stable:
      if (g.leader_id == id || !unchanged) {
        // A leader's rejoin means it wants a new assignment (e.g. its metadata refresh saw new
        // partitions), so it always rebalances.
        update_member_and_rebalance(g, m, req, done, out,
                                    unchanged ? "leader rejoined" : "member changed protocols");
      } else {
        renew(m);
        out.answer(done, current_generation(g, m, false));
      }
      break;
    case GroupState::empty:
    case GroupState::dead:
      out.answer(done, join_error(id, ErrorCode::UNKNOWN_MEMBER_ID));
      break;
  }
}

void GroupCoordinator::add_member_and_rebalance(Group& g, const JoinRequest& req,
                                                const std::string& member_id,
                                                const JoinCallback& done, Outbox& out) {
  Member m;
  m.id = member_id;
  m.instance_id = req.group_instance_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.protocol_type = req.protocol_type;
  m.protocols = req.protocols;
  m.join_cb = done;
  m.is_new = true;
  m.new_member_deadline_ms = now_ms_ + config_.new_member_join_timeout_ms;
  m.heartbeat_deadline_ms = now_ms_ + req.session_timeout_ms;
  if (g.state() == GroupState::preparing_rebalance && g.initial_delay) g.new_member_added = true;
  g.add(std::move(m));
  maybe_prepare_rebalance(g, out, "adding member " + member_id);
  maybe_complete_join(g, out);
}

void GroupCoordinator::update_member_and_rebalance(Group& g, Member& m, const JoinRequest& req,
                                                   const JoinCallback& done, Outbox& out,
                                                   const char* reason) {
  // One JoinGroup per member is in flight; an older one still waiting is superseded.
  out.answer_join(m, join_error(m.id, ErrorCode::REBALANCE_IN_PROGRESS));
  m.protocols = req.protocols;
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.join_cb = done;
  maybe_prepare_rebalance(g, out, std::string(reason) + " " + m.id);
  maybe_complete_join(g, out);
}

void GroupCoordinator::maybe_prepare_rebalance(Group& g, Outbox& out, const std::string& reason) {
  GroupState s = g.state();
  if (s == GroupState::stable || s == GroupState::completing_rebalance || s == GroupState::empty)
    prepare_rebalance(g, out, reason);
}

void GroupCoordinator::prepare_rebalance(Group& g, Outbox& out, const std::string& reason) {
  if (g.state() == GroupState::completing_rebalance) {
    // Followers waiting for the old generation's assignment must rejoin instead.
    for (const auto& id : g.member_ids()) {
      Member& m = g.get(id);
      m.assignment.clear();
      SyncResult r;
      r.error = ErrorCode::REBALANCE_IN_PROGRESS;
      out.answer_sync(m, r);
    }
  }
  int32_t timeout = g.max_rebalance_timeout_ms();
  if (g.state() == GroupState::empty) {
    // KIP-134: the first rebalance of an empty group waits for more members to arrive.
    int32_t delay = std::min(config_.initial_rebalance_delay_ms, timeout);
    g.initial_delay = true;
    g.new_member_added = false;
    g.initial_remaining_ms = timeout - delay;
    g.rebalance_deadline_ms = now_ms_ + delay;
  } else {
    g.initial_delay = false;
    g.rebalance_deadline_ms = now_ms_ + timeout;
  }
  spdlog::info("group {}: preparing to rebalance in state {} with generation {} ({})", g.id(),
               state_name(g.state()), g.generation, reason);
  g.transition(GroupState::preparing_rebalance, now_ms_);
}

void GroupCoordinator::maybe_complete_join(Group& g, Outbox& out) {
  if (g.state() == GroupState::preparing_rebalance && !g.initial_delay && g.all_joined())
    complete_join(g, out);
}

void GroupCoordinator::complete_join(Group& g, Outbox& out) {
  std::vector<std::string> ids = g.member_ids();
  for (const auto& id : ids) {
    Member& m = g.get(id);
    // Static members keep their place until their session expires (KIP-345).
    if (m.awaiting_join() || m.instance_id) continue;
    spdlog::info("group {}: member {} did not rejoin in time, removing it", g.id(), id);
    out.answer_sync(m, SyncResult{ErrorCode::UNKNOWN_MEMBER_ID, "", "", {}});
    g.remove(id);
  }
  if (!g.empty() && !g.elect_joined_leader()) {
    // Only static members that have not rejoined remain: wait another rebalance timeout.
    g.initial_delay = false;
    g.rebalance_deadline_ms = now_ms_ + g.max_rebalance_timeout_ms();
    return;
  }
  ++g.generation;
  g.rebalance_deadline_ms = -1;
  g.initial_delay = false;
  if (g.empty()) {
    g.protocol_name.clear();
    g.transition(GroupState::empty, now_ms_);
    spdlog::info("group {}: generation {} is empty", g.id(), g.generation);
    out.persist(g);
    return;
  }
  g.protocol_name = g.select_protocol();
  g.transition(GroupState::completing_rebalance, now_ms_);
  spdlog::info("group {}: generation {} with {} members, protocol {}, leader {}", g.id(),
               g.generation, g.size(), g.protocol_name, g.leader_id);
  for (const auto& id : g.member_ids()) {
    Member& m = g.get(id);
    renew(m);
    if (!m.awaiting_join()) continue;
    out.answer_join(m, current_generation(g, m, g.leader_id == id));
    m.is_new = false;
  }
}

}  // namespace ferry::groups
