// The sync thread of a Flow: MM2 heartbeats both ways and the periodic checkpoint and group
// offset sync passes (docs/mirror.md, "Checkpoints and group offset sync", "Heartbeats"). Split
// from flow.cc (the data path).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "mirror/flow.h"
#include "mirror/flow_internal.h"
#include "mirror/mm2_formats.h"

namespace ferry::mirror {

void Flow::sync_loop() {
  client::Handle source_producer, target_producer;
  using clock = std::chrono::steady_clock;
  auto next_heartbeat = clock::now();
  auto next_checkpoint = clock::now() + flow_.emit_checkpoints_interval;
  auto next_group_sync = clock::now() + flow_.sync_group_offsets_interval;
  while (running_) {
    try {
      auto producer_for = [](const ClusterConfig& c) {
        auto props = cluster_properties(c, "ferry-mirror-internal");
        props["acks"] = "all";
        return client::make_handle(RD_KAFKA_PRODUCER, client::make_conf(props));
      };
      if (!source_producer) source_producer = producer_for(source_);
      if (!target_producer) target_producer = producer_for(target_);
      const auto now = clock::now();
      // A paused flow's heartbeats would tell ferry-dr the path works; its checkpoints belong to
      // whoever calls the control API now.
      if (!paused_ && flow_.emit_heartbeats_enabled && now >= next_heartbeat) {
        next_heartbeat = now + flow_.emit_heartbeats_interval;
        emit_heartbeats(source_producer.get(), target_producer.get());
      }
      if (flow_.emit_checkpoints_enabled && now >= next_checkpoint && !paused_) {
        std::unique_lock pass(checkpoint_mu_);
        if (!paused_) {  // a pause that came while waiting for the lock wins
          next_checkpoint = now + flow_.emit_checkpoints_interval;
          const bool sync_groups = flow_.sync_group_offsets_enabled && now >= next_group_sync;
          if (sync_groups) next_group_sync = now + flow_.sync_group_offsets_interval;
          emit_checkpoints(*source_admin_, *target_admin_, target_producer.get(), sync_groups, nullptr,
                           clock::time_point::max());
        }
      }
      rd_kafka_poll(source_producer.get(), 0);
      rd_kafka_poll(target_producer.get(), 0);
      clear_condition("sync");
    } catch (const std::exception& e) {
      set_condition("sync", fmt::format("heartbeats/checkpoints: {}", e.what()));
    }
    std::unique_lock lk(wake_mu_);
    wake_.wait_for(lk, std::chrono::milliseconds(200), [&] { return !running_; });
  }
}

void Flow::emit_heartbeats(rd_kafka_t* source_producer, rd_kafka_t* target_producer) {
  // MM2 emits a heartbeat for every pair into the pair's target; the reverse pair's heartbeats land
  // in this flow's source, so replicating them (as <source>.heartbeats) proves the path end to end.
  const std::string topic(kHeartbeatsTopic);
  const std::string value = encode(HeartbeatValue{wall_clock_ms()});
  auto send = [&](rd_kafka_t* p, const std::string& from, const std::string& to) {
    const std::string key = encode(HeartbeatKey{from, to});
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  };
  send(target_producer, flow_.source, flow_.target);
  send(source_producer, flow_.target, flow_.source);
}

}  // namespace ferry::mirror
