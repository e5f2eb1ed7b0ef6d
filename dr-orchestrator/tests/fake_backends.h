// In-memory regions, mirror flows and canary for the state machine's unit tests
// (failover_machine_test.cc). They model only what the failover steps observe: a region's
// reachability, role, log end offsets and consumer groups; a flow's running/paused state and its
// per-partition positions; the canary's record in its region's topic, which flows out of the
// region list without copying it. Every action is appended to `calls` so tests can check what was done,
// in which order. The real implementations are exercised by tests/integration/test_dr_*.py.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "dr-orchestrator/backends.h"
#include "dr-orchestrator/errors.h"

namespace ferry::dr::testing {

/// One fake region (a Kafka cluster).
struct FakeRegion {
  bool reachable = true;
  ClusterRole role = ClusterRole::primary;
  std::map<TopicPartition, int64_t> log_end;  ///< per partition
  std::vector<client::GroupListing> groups;
  std::map<std::string, std::vector<client::GroupOffset>> committed;  ///< by group
};

/// One fake flow, as every mirror process of it would answer.
struct FakeFlow {
  bool reachable = true;
  bool paused = false;
  std::vector<FlowPartitionLag> partitions;
  std::map<std::string, int32_t> topics;  ///< source topic -> partitions
};

/// The whole fake world. `fail` holds actions (as written to `calls`) that throw instead.
class FakeWorld final : public RegionOps, public MirrorOps, public CanaryOps {
 public:
  std::map<std::string, FakeRegion> regions;
  std::map<std::string, FakeFlow> flows;  ///< by "source->target"
  std::vector<std::string> calls;
  std::set<std::string> fail;
  int64_t canary_offset = 0;

  Backends view() { return {*this, *this, *this}; }

  RegionHealth probe(const RegionConfig& r, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    const FakeRegion& f = regions.at(r.name);
    RegionHealth h;
    h.region = r.name;
    h.probed_at_ms = wall_clock_ms();
    if (!f.reachable) {
      h.error = "fake: connection refused";
      return h;
    }
    h.reachable = true;
    h.brokers = 1;
    h.controller_id = 1;
    h.role = to_string(f.role);
    return h;
  }
  ClusterRole cluster_role(const RegionConfig& r) override {
    std::lock_guard lock(mu_);
    act("role " + r.name, DrError(Exit::failed, "region " + r.name + ": fake DescribeConfigs failed"));
    reachable_or_throw(r.name);
    return regions.at(r.name).role;
  }
  void set_cluster_role(const RegionConfig& r, ClusterRole role) override {
    std::lock_guard lock(mu_);
    act(std::string("set_role ") + r.name + " " + to_string(role),
        DrError(Exit::failed, "region " + r.name + ": fake IncrementalAlterConfigs failed"));
    reachable_or_throw(r.name);
    regions.at(r.name).role = role;
  }
  std::map<TopicPartition, int64_t> log_end_offsets(const RegionConfig& r, const std::vector<std::string>& topics) override {
    std::lock_guard lock(mu_);
    act("log_end_offsets " + r.name, DrError(Exit::failed, "region " + r.name + ": fake ListOffsets failed"));
    reachable_or_throw(r.name);
    std::map<TopicPartition, int64_t> out;
    for (const auto& [tp, end] : regions.at(r.name).log_end)
      if (std::find(topics.begin(), topics.end(), tp.first) != topics.end()) out[tp] = end;
    return out;
  }
  std::vector<client::GroupListing> list_groups(const RegionConfig& r) override {
    std::lock_guard lock(mu_);
    reachable_or_throw(r.name);
    return regions.at(r.name).groups;
  }
  std::vector<client::GroupOffset> group_offsets(const RegionConfig& r, const std::string& group) override {
    std::lock_guard lock(mu_);
    reachable_or_throw(r.name);
    return regions.at(r.name).committed[group];
  }

  FlowHealth probe_flow(const FlowConfig& flow) override {
    std::lock_guard lock(mu_);
    const FakeFlow& f = flows.at(flow.name());
    FlowHealth h;
    h.flow = flow.name();
    h.source = flow.source;
    h.target = flow.target;
    h.urls_total = static_cast<int32_t>(flow.status_urls.size());
    h.probed_at_ms = wall_clock_ms();
    if (!f.reachable) {
      h.errors.push_back(flow.status_urls.at(0) + ": fake: connection refused");
      return h;
    }
    h.reachable = true;
    h.urls_reachable = h.urls_total;
    h.state = f.paused ? "paused" : "running";
    h.healthy = true;
    h.partitions = f.partitions;
    for (const auto& p : f.partitions) h.lag_records += p.lag_records;
    h.topics = f.topics;
    h.checkpoint_age_s = 1.0;
    return h;
  }
  PauseResult pause(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    act("pause " + flow.name(), MirrorError("fake pause failed", url, 500, "fake"));
    FakeFlow& f = flows.at(flow.name());
    if (!f.reachable) throw MirrorError("fake: connection refused", url, 0, "");
    f.paused = true;
    return {flow.name(), "paused", regions.at(flow.source).reachable, f.partitions};
  }
  void resume(const std::string& url, const FlowConfig& flow) override {
    std::lock_guard lock(mu_);
    act("resume " + flow.name(), MirrorError("fake resume failed", url, 500, "fake"));
    FakeFlow& f = flows.at(flow.name());
    if (!f.reachable) throw MirrorError("fake: connection refused", url, 0, "");
    f.paused = false;
  }
  CheckpointResult checkpoint(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    act("checkpoint " + flow.name(), MirrorError("fake checkpoint failed", url, 500, "fake"));
    CheckpointResult r{flow.name(), 1, {}};
    CheckpointGroup g;
    g.group = "app";
    g.synced = true;
    g.offsets.push_back({"orders", 0, 7, 7});
    r.groups.push_back(g);
    return r;
  }

  CanaryResult run(const RegionConfig& r, const std::string&, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    act("canary " + r.name, DrError(Exit::failed, "region " + r.name + ": fake canary not read back"));
    reachable_or_throw(r.name);
    // As on a real cluster: the record lands in the region's canary topic, and every flow out of
    // the region lists the topic at its next topic scan, before it has copied anything of it.
    ++regions.at(r.name).log_end[{kCanaryTopic, 0}];
    for (auto& [name, f] : flows)
      if (name.starts_with(r.name + "->")) f.topics.try_emplace(kCanaryTopic, 1);
    CanaryResult c;
    c.offset = canary_offset++;
    c.acked_ms = c.consumed_ms = wall_clock_ms();
    return c;
  }

 private:
  // Records `what`; throws `error` when the test asked for `what` to fail.
  template <class E>
  void act(const std::string& what, const E& error) {
    calls.push_back(what);
    if (fail.count(what)) throw error;
  }
  void reachable_or_throw(const std::string& region) {
    if (!regions.at(region).reachable) throw DrError(Exit::failed, "region " + region + ": fake: unreachable");
  }

  std::mutex mu_;
};

/// A partition position as the mirror reports it, its view of the source read just now.
inline FlowPartitionLag position(const std::string& topic, int32_t partition, int64_t next, int64_t source_end) {
  FlowPartitionLag p;
  p.topic = topic;
  p.partition = partition;
  p.remote_topic = topic;
  p.next_offset = next;
  p.source_end_offset = source_end;
  p.lag_records = source_end > next ? source_end - next : 0;
  p.source_end_offset_ms = wall_clock_ms();
  return p;
}

}  // namespace ferry::dr::testing
