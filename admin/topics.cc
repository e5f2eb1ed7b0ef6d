// topics list | describe | create | delete, with kafka-topics.sh semantics.
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/session.h"

namespace ferry::admin {
namespace {

std::vector<const rd_kafka_metadata_topic_t*> sorted_topics(const rd_kafka_metadata_t* md) {
  std::vector<const rd_kafka_metadata_topic_t*> out;
  for (int i = 0; i < md->topic_cnt; ++i) out.push_back(&md->topics[i]);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    return std::string_view(a->topic) < std::string_view(b->topic);
  });
  return out;
}

int topics_list(Session& s, const ParsedArgs&) {
  auto md = s.metadata();
  Json names = Json::array();
  std::string human;
  for (auto* t : sorted_topics(md.get())) {
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    names.push(Json(t->topic));
    human += fmt::format("{}\n", t->topic);
  }
  s.print(Json::object().set("topics", std::move(names)), human);
  return 0;
}

int topics_describe(Session& s, const ParsedArgs& args) {
  auto want = args.get("--topic");
  auto md = s.metadata();
  Json topics = Json::array();
  Table table({"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"});
  bool found = false;
  for (auto* t : sorted_topics(md.get())) {
    if (want && *want != t->topic) continue;
    if (!want && t->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    found = true;
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw OpError(t->err, fmt::format("topic '{}': {}", t->topic, rd_kafka_err2str(t->err)));
    }
    std::vector<const rd_kafka_metadata_partition_t*> parts;
    for (int p = 0; p < t->partition_cnt; ++p) parts.push_back(&t->partitions[p]);
    std::sort(parts.begin(), parts.end(), [](auto* a, auto* b) { return a->id < b->id; });
    Json jparts = Json::array();
    int rf = 0;
    for (auto* p : parts) {
      rf = std::max(rf, p->replica_cnt);
      Json jp = Json::object();
      jp.set("partition", p->id)
          .set("leader", p->leader)
          .set("replicas", id_array(ids_of(p->replicas, p->replica_cnt)))
          .set("isr", id_array(ids_of(p->isrs, p->isr_cnt)))
          .set("error", p->err ? Json(rd_kafka_err2name(p->err)) : Json());
      jparts.push(std::move(jp));
      table.add({t->topic, std::to_string(p->id),
                 p->leader >= 0 ? std::to_string(p->leader) : "none",
                 join_ids(ids_of(p->replicas, p->replica_cnt), ""), join_ids(ids_of(p->isrs, p->isr_cnt), "")});
    }
    Json jt = Json::object();
    jt.set("name", t->topic)
        .set("partition_count", static_cast<int64_t>(parts.size()))
        .set("replication_factor", rf)
        .set("partitions", std::move(jparts));
    topics.push(std::move(jt));
  }
  if (want && !found) {
    throw OpError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                  fmt::format("topic '{}' does not exist", *want));
  }
  s.print(Json::object().set("topics", std::move(topics)), table.render());
  return 0;
}

// Reads the single per-topic result of CreateTopics/DeleteTopics; throws on its error.
void check_topic_results(const rd_kafka_topic_result_t** res, size_t n, const std::string& verb) {
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* msg = rd_kafka_topic_result_error_string(res[i]);
      throw OpError(err, fmt::format("cannot {} topic '{}': {}", verb,
                                     rd_kafka_topic_result_name(res[i]),
                                     msg ? msg : rd_kafka_err2str(err)));
    }
  }
}

int topics_create(Session& s, const ParsedArgs& args) {
  const std::string topic = args.require("--topic");
  // -1 asks the broker for its num.partitions / default.replication.factor (KIP-464,
  // CreateTopics v4+), as kafka-topics.sh does when the option is omitted.
  int partitions = static_cast<int>(args.get_int("--partitions", 1, 1'000'000).value_or(-1));
  int rf = static_cast<int>(args.get_int("--replication-factor", 1, 32767).value_or(-1));
  std::vector<std::pair<std::string, std::string>> configs;
  for (const auto& kv : args.all("--config")) {
    configs.push_back(split_key_value(args.command(), "--config", kv));
  }
  char errstr[512];
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> nt(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, rf, errstr, sizeof errstr),
      &rd_kafka_NewTopic_destroy);
  if (!nt) throw UsageError(args.command(), fmt::format("--topic '{}': {}", topic, errstr));
  for (const auto& [k, v] : configs) {
    rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
    if (err) throw UsageError(args.command(), fmt::format("--config {}: {}", k,
                                                          rd_kafka_err2str(err)));
  }
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_NewTopic_t* arr[] = {nt.get()};
  auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
    rd_kafka_CreateTopics(s.handle(), arr, 1, opts.get(), q);
  });
  size_t n = 0;
  auto* res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  check_topic_results(res, n, "create");
  s.print(Json::object().set("created", topic), fmt::format("Created topic {}.\n", topic));
  return 0;
}

int topics_delete(Session& s, const ParsedArgs& args) {
  const std::string topic = args.require("--topic");
  std::unique_ptr<rd_kafka_DeleteTopic_t, void (*)(rd_kafka_DeleteTopic_t*)> dt(
      rd_kafka_DeleteTopic_new(topic.c_str()), &rd_kafka_DeleteTopic_destroy);
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_DeleteTopic_t* arr[] = {dt.get()};
  auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
    rd_kafka_DeleteTopics(s.handle(), arr, 1, opts.get(), q);
  });
  size_t n = 0;
  auto* res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  check_topic_results(res, n, "delete");
  s.print(Json::object().set("deleted", topic), fmt::format("Deleted topic {}.\n", topic));
  return 0;
}

}  // namespace

std::vector<Command> topic_commands() {
  return {
      {{"topics", "list"}, "list the names of all topics", "", {}, &topics_list},
      {{"topics", "describe"},
       "show partitions, leaders, replicas and in-sync replicas",
       "Without --topic every topic is described. A named topic that does not exist fails with\n"
       "UNKNOWN_TOPIC_OR_PART. Metadata is requested for all topics, so describing never\n"
       "auto-creates a topic.",
       {{"--topic", "T", "describe only this topic"}},
       &topics_describe},
      {{"topics", "create"},
       "create a topic",
       "Omitted --partitions/--replication-factor leave the choice to the broker's defaults\n"
       "(needs CreateTopics v4, KIP-464).",
       {{"--topic", "T", "topic name", true},
        {"--partitions", "N", "number of partitions (1..1000000)", false, false, "the broker's"},
        {"--replication-factor", "N", "replicas per partition (1..32767)", false, false,
         "the broker's"},
        {"--config", "k=v", "topic config override, e.g. retention.ms=60000", false, true}},
       &topics_create},
      {{"topics", "delete"},
       "delete a topic and all its data",
       "",
       {{"--topic", "T", "topic name", true}},
       &topics_delete},
  };
}

}  // namespace ferry::admin
