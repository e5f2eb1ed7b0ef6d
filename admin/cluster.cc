// cluster describe: in one view what kafka-metadata-quorum.sh / kafka-broker-api-versions.sh and
// kafka-topics.sh --describe --under-replicated-partitions --unavailable-partitions tell an
// operator. The cluster id, controller and brokers come from DescribeCluster (API 60 v0, KIP-700)
// on client/wire_client; the health summary from Metadata through librdkafka.
#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/session.h"
#include "broker/protocol/messages/describe_cluster.h"
#include "client/wire_client.h"

namespace ferry::admin {
namespace {

namespace proto = ferry::protocol;

// Metadata's counts: a partition is offline without a leader (Kafka's "unavailable partitions")
// and under-replicated when its ISR is smaller than its replica list (kafka-topics.sh
// --under-replicated-partitions; the broker metric UnderReplicatedPartitions).
struct Health {
  int64_t topics = 0, partitions = 0, offline = 0, under_replicated = 0;
  Json unhealthy = Json::array();
  Table table{{"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "STATUS"}};
};

Health health_of(const rd_kafka_metadata_t* md) {
  std::vector<const rd_kafka_metadata_topic_t*> topics;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[i].partition_cnt > 0)
      topics.push_back(&md->topics[i]);
  std::sort(topics.begin(), topics.end(),
            [](auto* a, auto* b) { return std::string_view(a->topic) < std::string_view(b->topic); });
  Health h;
  h.topics = static_cast<int64_t>(topics.size());
  for (const auto* t : topics) {
    std::vector<const rd_kafka_metadata_partition_t*> parts;
    for (int j = 0; j < t->partition_cnt; ++j) parts.push_back(&t->partitions[j]);
    std::sort(parts.begin(), parts.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (const auto* p : parts) {
      ++h.partitions;
      const bool offline = p->leader < 0;
      const bool under = p->isr_cnt < p->replica_cnt;
      h.offline += offline;
      h.under_replicated += under;
      if (!offline && !under) continue;
      h.unhealthy.push(Json::object().set("topic", t->topic).set("partition", p->id)
                           .set("leader", offline ? Json() : Json(p->leader))
                           .set("replicas", id_array(ids_of(p->replicas, p->replica_cnt))).set("isr", id_array(ids_of(p->isrs, p->isr_cnt)))
                           .set("offline", offline).set("under_replicated", under));
      const std::string status = offline && under ? "offline, under-replicated"
                                 : offline          ? "offline"
                                                    : "under-replicated";
      h.table.add({t->topic, std::to_string(p->id), offline ? "none" : std::to_string(p->leader),
                   join_ids(ids_of(p->replicas, p->replica_cnt)), join_ids(ids_of(p->isrs, p->isr_cnt)), status});
    }
  }
  return h;
}

int cluster_describe(Session& s, const ParsedArgs&) {
  proto::DescribeClusterResponse d;
  on_cluster(s, [&](client::WireConnection& c) {
    d = c.call(proto::DescribeClusterRequest{}, version_or_throw<proto::DescribeClusterRequest>(c, "KIP-700"));
  });
  if (d.error_code != proto::ErrorCode::NONE)
    throw OpError(proto::error_name(d.error_code),
                  fmt::format("DescribeCluster: {}", d.error_message.value_or(proto::error_name(d.error_code))));
  std::sort(d.brokers.begin(), d.brokers.end(), [](const auto& a, const auto& b) { return a.broker_id < b.broker_id; });
  auto md = s.metadata();
  Health h = health_of(md.get());

  Json brokers = Json::array();
  Table btable({"BROKER", "HOST", "PORT", "RACK"});
  for (const auto& b : d.brokers) {
    brokers.push(Json::object().set("id", b.broker_id).set("host", b.host).set("port", b.port)
                     .set("rack", b.rack ? Json(*b.rack) : Json()));
    btable.add({std::to_string(b.broker_id), b.host, std::to_string(b.port), b.rack.value_or("-")});
  }
  const bool has_controller = d.controller_id >= 0;
  std::string human = fmt::format("Cluster id:  {}\nController:  {}\n\n", d.cluster_id,
                                  has_controller ? std::to_string(d.controller_id) : "none");
  human += btable.render();
  human += fmt::format("\nTopics: {}  Partitions: {}  Offline: {}  Under-replicated: {}\n", h.topics, h.partitions,
                       h.offline, h.under_replicated);
  human += h.table.empty() ? "Every partition has a leader and a full ISR.\n" : "\n" + h.table.render();
  Json doc = Json::object();
  doc.set("cluster_id", d.cluster_id)
      .set("controller_id", has_controller ? Json(d.controller_id) : Json())
      .set("brokers", std::move(brokers))
      .set("topics", h.topics)
      .set("partitions", h.partitions)
      .set("offline_partitions", h.offline)
      .set("under_replicated_partitions", h.under_replicated)
      .set("unhealthy_partitions", std::move(h.unhealthy));
  s.print(doc, human);
  return 0;
}

}  // namespace

std::vector<Command> cluster_commands() {
  return {
      {{"cluster", "describe"},
       "show the cluster id, controller, brokers and partition health (DescribeCluster, Metadata)",
       "Brokers are those DescribeCluster (KIP-700) reports as live. A partition is offline when it\n"
       "has no leader and under-replicated when its ISR is smaller than its replica list; both are\n"
       "counted and listed. Exit 0 whenever the cluster could be described, whatever its health.",
       {},
       &cluster_describe},
  };
}

}  // namespace ferry::admin
