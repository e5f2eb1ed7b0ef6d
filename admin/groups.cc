// groups list | describe | delete, with kafka-consumer-groups.sh semantics.
#include "admin/groups.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "admin/commands.h"

namespace ferry::admin {

void throw_if_error(const rd_kafka_error_t* e, const std::string& what) {
  if (!e) return;
  throw OpError(rd_kafka_error_code(e), fmt::format("{}: {}", what, rd_kafka_error_string(e)));
}

void check_group_result(const rd_kafka_group_result_t* r, const std::string& what) {
  throw_if_error(rd_kafka_group_result_error(r), what);
}

void diagnose_coordinator_timeout(Session& s, const OpError& timeout) {
  // A cluster we could not even connect to needs no probe, only the reason.
  if (std::string note = s.connection_note(); !note.empty()) {
    throw OpError(timeout.code(), timeout.what() + note);
  }
  // librdkafka refuses an unsupported API locally once it knows the broker's ApiVersions, so
  // the probe needs no more than a short round trip; it must not double a long --timeout-ms.
  const int probe_ms = std::min(s.timeout_ms(), 2000);
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, probe_ms);
  rd_kafka_resp_err_t probe = RD_KAFKA_RESP_ERR_NO_ERROR;
  try {
    auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
      rd_kafka_ListConsumerGroups(s.handle(), opts.get(), q);
    }, probe_ms);
    size_t nerr = 0;
    auto** errs = rd_kafka_ListConsumerGroups_result_errors(
        rd_kafka_event_ListConsumerGroups_result(ev.get()), &nerr);
    if (nerr > 0) probe = rd_kafka_error_code(errs[0]);
  } catch (const OpError&) {
    throw timeout;
  }
  if (probe == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
    throw OpError(probe, fmt::format("the cluster does not serve the consumer group APIs "
                                     "(ListGroups is unsupported, and no group coordinator "
                                     "answered: {})", timeout.what()));
  }
  throw timeout;
}

namespace {

// DescribeConsumerGroups for one group; the event owns the description.
EventPtr describe_group(Session& s, const std::string& group,
                        const rd_kafka_ConsumerGroupDescription_t** out) {
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  const char* groups[] = {group.c_str()};
  // The coordinator lookup's timeout arrives as the group's own error, so the checks belong
  // inside coordinator_call too.
  return coordinator_call(s, [&] {
    auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
      rd_kafka_DescribeConsumerGroups(s.handle(), groups, 1, opts.get(), q);
    });
    size_t n = 0;
    auto** res = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
    if (n != 1) throw OpError("_BAD_MSG", fmt::format("expected 1 group in reply, got {}", n));
    throw_if_error(rd_kafka_ConsumerGroupDescription_error(res[0]),
                   fmt::format("cannot describe group '{}'", group));
    *out = res[0];
    return ev;
  });
}

std::string partitions_text(const rd_kafka_topic_partition_list_t* l) {
  if (!l || l->cnt == 0) return "-";
  std::vector<std::pair<std::string, int32_t>> v;
  for (int i = 0; i < l->cnt; ++i) v.emplace_back(l->elems[i].topic, l->elems[i].partition);
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto& [t, p] : v) out += fmt::format("{}{}:{}", out.empty() ? "" : ",", t, p);
  return out;
}

int groups_list(Session& s, const ParsedArgs&) {
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
    rd_kafka_ListConsumerGroups(s.handle(), opts.get(), q);
  });
  const auto* result = rd_kafka_event_ListConsumerGroups_result(ev.get());
  // ListGroups goes to every broker; any broker's failure makes the listing incomplete, and an
  // incomplete listing presented as complete would mislead, so it fails the command.
  size_t nerr = 0;
  auto** errs = rd_kafka_ListConsumerGroups_result_errors(result, &nerr);
  if (nerr > 0) throw_if_error(errs[0], "cannot list groups");
  size_t n = 0;
  auto** valid = rd_kafka_ListConsumerGroups_result_valid(result, &n);
  std::vector<const rd_kafka_ConsumerGroupListing_t*> groups(valid, valid + n);
  std::sort(groups.begin(), groups.end(), [](auto* a, auto* b) {
    return std::string_view(rd_kafka_ConsumerGroupListing_group_id(a)) <
           std::string_view(rd_kafka_ConsumerGroupListing_group_id(b));
  });
  Table table({"GROUP", "STATE", "TYPE"});
  Json jgroups = Json::array();
  for (auto* g : groups) {
    const char* id = rd_kafka_ConsumerGroupListing_group_id(g);
    const char* state =
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(g));
    bool simple = rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) != 0;
    table.add({id, state, simple ? "simple" : "consumer"});
    jgroups.push(Json::object().set("group", id).set("state", state).set("simple", simple));
  }
  s.print(Json::object().set("groups", std::move(jgroups)), table.render());
  return 0;
}

int groups_describe(Session& s, const ParsedArgs& args) {
  const std::string group = args.require("--group");
  const rd_kafka_ConsumerGroupDescription_t* d = nullptr;
  auto ev = describe_group(s, group, &d);
  const char* state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
  const char* assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
  const rd_kafka_Node_t* coord = rd_kafka_ConsumerGroupDescription_coordinator(d);
  std::string coord_text = coord ? fmt::format("{} ({}:{})", rd_kafka_Node_id(coord),
                                               rd_kafka_Node_host(coord), rd_kafka_Node_port(coord))
                                 : "-";
  Table table({"CONSUMER-ID", "HOST", "CLIENT-ID", "INSTANCE-ID", "PARTITIONS"});
  Json jmembers = Json::array();
  size_t n = rd_kafka_ConsumerGroupDescription_member_count(d);
  for (size_t i = 0; i < n; ++i) {
    const auto* m = rd_kafka_ConsumerGroupDescription_member(d, i);
    const char* inst = rd_kafka_MemberDescription_group_instance_id(m);
    const auto* parts =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    table.add({rd_kafka_MemberDescription_consumer_id(m), rd_kafka_MemberDescription_host(m),
               rd_kafka_MemberDescription_client_id(m), inst ? inst : "-",
               partitions_text(parts)});
    Json jparts = Json::array();
    for (int k = 0; parts && k < parts->cnt; ++k) {
      jparts.push(Json::object()
                      .set("topic", parts->elems[k].topic)
                      .set("partition", parts->elems[k].partition));
    }
    jmembers.push(Json::object()
                      .set("consumer_id", rd_kafka_MemberDescription_consumer_id(m))
                      .set("host", rd_kafka_MemberDescription_host(m))
                      .set("client_id", rd_kafka_MemberDescription_client_id(m))
                      .set("group_instance_id", inst ? Json(inst) : Json())
                      .set("assignment", std::move(jparts)));
  }
  Json doc = Json::object();
  doc.set("group", group)
      .set("state", state)
      .set("simple", rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) != 0)
      .set("partition_assignor", assignor ? Json(assignor) : Json())
      .set("coordinator", coord ? Json(Json::object()
                                           .set("id", rd_kafka_Node_id(coord))
                                           .set("host", rd_kafka_Node_host(coord))
                                           .set("port", static_cast<int>(rd_kafka_Node_port(coord))))
                                : Json())
      .set("members", std::move(jmembers));
  std::string human = fmt::format("Group {}: state {}, assignor {}, coordinator {}, {} member(s)\n",
                                  group, state, assignor && *assignor ? assignor : "-",
                                  coord_text, n);
  if (n > 0) human += table.render();
  s.print(doc, human);
  return 0;
}

int groups_delete(Session& s, const ParsedArgs& args) {
  const std::string group = args.require("--group");
  std::unique_ptr<rd_kafka_DeleteGroup_t, void (*)(rd_kafka_DeleteGroup_t*)> dg(
      rd_kafka_DeleteGroup_new(group.c_str()), &rd_kafka_DeleteGroup_destroy);
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroup_t* arr[] = {dg.get()};
  coordinator_call(s, [&] {
    auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
      rd_kafka_DeleteGroups(s.handle(), arr, 1, opts.get(), q);
    });
    size_t n = 0;
    auto** res =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
      check_group_result(res[i], fmt::format("cannot delete group '{}'", group));
    }
  });
  s.print(Json::object().set("deleted", group), fmt::format("Deleted group {}.\n", group));
  return 0;
}

}  // namespace

rd_kafka_consumer_group_state_t group_state(Session& s, const std::string& group) {
  const rd_kafka_ConsumerGroupDescription_t* d = nullptr;
  auto ev = describe_group(s, group, &d);
  return rd_kafka_ConsumerGroupDescription_state(d);
}

std::vector<Command> group_commands() {
  const OptionSpec g{"--group", "G", "consumer group id", true};
  return {
      {{"groups", "list"}, "list consumer groups with their state (ListGroups)", "", {},
       &groups_list},
      {{"groups", "describe"},
       "show a group's state, coordinator and members (DescribeGroups)",
       "Committed offsets and lag are under 'groups offsets show'.",
       {g},
       &groups_describe},
      {{"groups", "delete"},
       "delete an empty group and its committed offsets (DeleteGroups)",
       "The broker refuses groups that still have members (NON_EMPTY_GROUP).",
       {g},
       &groups_delete},
  };
}

}  // namespace ferry::admin
