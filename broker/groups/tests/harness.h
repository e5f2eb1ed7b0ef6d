// Test scaffolding: a coordinator on an injected clock, and futures capturing callback answers.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/groups/coordinator.h"

namespace ferry::groups::testing {

/// Holds a callback's answer once it arrives.
template <typename T>
struct Pending {
  std::shared_ptr<std::optional<T>> slot = std::make_shared<std::optional<T>>();
  bool ready() const { return slot->has_value(); }
  const T& get() const {
    EXPECT_TRUE(ready()) << "callback not invoked yet";
    static const T empty{};
    return ready() ? **slot : empty;
  }
  std::function<void(T)> callback() const {
    auto s = slot;
    return [s](T r) {
      EXPECT_FALSE(s->has_value()) << "callback invoked twice";
      *s = std::move(r);
    };
  }
};

inline Protocol proto(const std::string& name, uint8_t tag = 1) { return {name, Bytes{tag}}; }

/// A consumer-style JoinGroup (v5, dynamic) with the "range" protocol.
inline JoinRequest join_req(const std::string& group, const std::string& member_id = "",
                            std::vector<Protocol> protocols = {proto("range")}) {
  JoinRequest r;
  r.group_id = group;
  r.member_id = member_id;
  r.client_id = "client";
  r.client_host = "/127.0.0.1";
  r.session_timeout_ms = 10000;
  r.rebalance_timeout_ms = 20000;
  r.protocol_type = "consumer";
  r.protocols = std::move(protocols);
  r.api_version = 5;
  return r;
}

struct Harness {
  static CoordinatorConfig default_config() {
    CoordinatorConfig c;
    c.initial_rebalance_delay_ms = 3000;
    return c;
  }

  explicit Harness(CoordinatorConfig cfg = default_config())
      : store(std::make_shared<MemoryGroupStore>()),
        gc(std::make_unique<GroupCoordinator>(cfg, store, now)) {}
  ~Harness() { gc->shutdown(); }

  void advance(int64_t ms) {
    now += ms;
    gc->tick(now);
  }

  Pending<JoinResult> join(const JoinRequest& r) {
    Pending<JoinResult> p;
    gc->join(r, p.callback());
    return p;
  }

  /// KIP-394 first step: an empty-id v4+ join; returns the issued member id.
  std::string issue_id(JoinRequest r) {
    r.member_id.clear();
    auto p = join(r);
    EXPECT_EQ(p.get().error, ErrorCode::MEMBER_ID_REQUIRED);
    return p.get().member_id;
  }

  Pending<SyncResult> sync(const std::string& group, int32_t generation, const std::string& member,
                           std::vector<std::pair<std::string, Bytes>> assignments = {},
                           std::optional<std::string> instance = std::nullopt) {
    SyncRequest r;
    r.group_id = group;
    r.generation_id = generation;
    r.member_id = member;
    r.group_instance_id = std::move(instance);
    r.assignments = std::move(assignments);
    Pending<SyncResult> p;
    gc->sync(r, p.callback());
    return p;
  }

  ErrorCode heartbeat(const std::string& group, int32_t generation, const std::string& member,
                    std::optional<std::string> instance = std::nullopt) {
    return gc->heartbeat({group, generation, member, std::move(instance)});
  }

  GroupDescription describe(const std::string& group) { return gc->describe({group}).at(0); }

  int64_t now = 1000;
  std::shared_ptr<MemoryGroupStore> store;
  std::unique_ptr<GroupCoordinator> gc;
};

/// Members of a Stable group built by form_group(): ids in join order and the generation.
struct Formed {
  std::vector<std::string> ids;
  int32_t generation = 0;
};

/// Joins `n` dynamic members (KIP-394 flow), waits out the initial delay, has the leader assign
/// Bytes{i} to member i and everyone sync; the group ends Stable.
inline Formed form_group(Harness& h, const std::string& group, int n) {
  Formed f;
  std::vector<Pending<JoinResult>> joins;
  for (int i = 0; i < n; ++i) {
    std::string id = h.issue_id(join_req(group));
    f.ids.push_back(id);
    joins.push_back(h.join(join_req(group, id)));
  }
  // Members joining during the initial delay extend it (KIP-134), so wait in delay-sized steps.
  for (int step = 0; step < 10 && !joins.at(0).ready(); ++step) h.advance(3000);
  for (auto& j : joins) EXPECT_EQ(j.get().error, ErrorCode::NONE);
  f.generation = joins.at(0).get().generation_id;
  std::vector<std::pair<std::string, Bytes>> assignment;
  for (int i = 0; i < n; ++i) assignment.emplace_back(f.ids[i], Bytes{static_cast<uint8_t>(i)});
  std::vector<Pending<SyncResult>> syncs;
  for (int i = 1; i < n; ++i) syncs.push_back(h.sync(group, f.generation, f.ids[i]));
  syncs.push_back(h.sync(group, f.generation, f.ids[0], assignment));
  for (auto& s : syncs) EXPECT_EQ(s.get().error, ErrorCode::NONE);
  EXPECT_EQ(h.describe(group).state, "Stable");
  return f;
}

}  // namespace ferry::groups::testing
