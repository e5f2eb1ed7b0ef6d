#include "dr-orchestrator/canary.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <thread>

#include "client/kafka.h"
#include "common/clock.h"
#include "dr-orchestrator/errors.h"

namespace ferry::dr {

namespace {

struct Delivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t at_ms = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  d->done = true;
  d->err = m->err;
  d->partition = m->partition;
  d->offset = m->offset;
  d->at_ms = wall_clock_ms();
}

}  // namespace

CanaryResult run_canary(const RegionConfig& region, const std::string& key, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fail = [&](const std::string& what) {
    return DrError(Exit::failed, fmt::format("region {}: canary {}", region.name, what));
  };
  auto props = region.properties();
  props["client.id"] = "ferry-dr-canary";
  try {
    // Replication factor -1: the region's default.replication.factor (KIP-464), so a 3-broker
    // region does not get a one-replica topic that its min.insync.replicas counts as unhealthy.
    client::Admin(props, std::chrono::milliseconds(5000)).create_topic(kCanaryTopic, 1, -1, {});
  } catch (const std::exception&) {
    // An existing topic or Metadata auto-creation both do; a real failure shows in the produce.
  }
  CanaryResult r;
  {
    auto pprops = props;
    pprops["enable.idempotence"] = "true";
    pprops["acks"] = "all";
    pprops["message.timeout.ms"] = "5000";
    rd_kafka_conf_t* conf = client::make_conf(pprops);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    client::Handle producer = client::make_handle(RD_KAFKA_PRODUCER, conf);
    const std::string value = fmt::format(R"({{"canary":"{}","ts_ms":{}}})", key, wall_clock_ms());
    std::string last = "no attempt";
    while (true) {
      Delivery d;
      auto err = rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(kCanaryTopic), RD_KAFKA_V_PARTITION(0),
                                   RD_KAFKA_V_KEY(key.data(), key.size()),
                                   RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw fail(fmt::format("produce: {}", rd_kafka_err2name(err)));
      while (!d.done) rd_kafka_poll(producer.get(), 50);
      if (d.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r.partition = d.partition;
        r.offset = d.offset;
        r.acked_ms = d.at_ms;
        break;
      }
      last = rd_kafka_err2name(d.err);
      if (std::chrono::steady_clock::now() > deadline) throw fail(fmt::format("produce failed: {}", last));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  auto cprops = props;
  cprops["group.id"] = "ferry-dr.canary";  // librdkafka wants one even for assign(); nothing is committed
  cprops["enable.auto.commit"] = "false";
  cprops["enable.partition.eof"] = "false";
  client::Handle consumer = client::make_handle(RD_KAFKA_CONSUMER, client::make_conf(cprops));
  client::PartitionListPtr list = client::partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), kCanaryTopic, r.partition)->offset = r.offset;
  if (auto err = rd_kafka_assign(consumer.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw fail(fmt::format("assign: {}", rd_kafka_err2name(err)));
  std::string last = "nothing read";
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(5)) {
    client::MessagePtr own(rd_kafka_consumer_poll(consumer.get(), 200));
    if (!own) continue;
    const rd_kafka_message_t* m = own.get();
    if (m->err) {
      last = rd_kafka_err2name(m->err);
      continue;
    }
    if (m->offset == r.offset && m->key_len == key.size() &&
        std::string_view(static_cast<const char*>(m->key), m->key_len) == key) {
      r.consumed_ms = wall_clock_ms();
      rd_kafka_assign(consumer.get(), nullptr);
      return r;
    }
  }
  throw fail(fmt::format("record at offset {} not read back: {}", r.offset, last));
}

}  // namespace ferry::dr
