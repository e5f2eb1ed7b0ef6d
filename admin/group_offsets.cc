// groups offsets show | reset, with kafka-consumer-groups.sh --describe / --reset-offsets
// semantics: lag against the log end, a dry run unless --execute, targets clamped into the
// partition's [log start, log end] range, and resets refused while the group has members.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/groups.h"

namespace ferry::admin {
namespace {

using PartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;

PartitionListPtr new_list(int size) {
  return {rd_kafka_topic_partition_list_new(size), &rd_kafka_topic_partition_list_destroy};
}

using TopicPartition = std::pair<std::string, int32_t>;

// Committed offsets of `group` (OffsetFetch). `only` null means every partition the group has
// committed for. Partitions without a committed offset are absent from the result.
std::map<TopicPartition, int64_t> committed(Session& s, const std::string& group,
                                            const rd_kafka_topic_partition_list_t* only) {
  std::unique_ptr<rd_kafka_ListConsumerGroupOffsets_t,
                  void (*)(rd_kafka_ListConsumerGroupOffsets_t*)>
      req(rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), only),
          &rd_kafka_ListConsumerGroupOffsets_destroy);
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets_t* arr[] = {req.get()};
  return coordinator_call(s, [&] {
    auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
      rd_kafka_ListConsumerGroupOffsets(s.handle(), arr, 1, opts.get(), q);
    });
    size_t n = 0;
    auto** res = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
    std::map<TopicPartition, int64_t> out;
    for (size_t i = 0; i < n; ++i) {
      check_group_result(res[i], fmt::format("cannot fetch offsets of group '{}'", group));
      const auto* parts = rd_kafka_group_result_partitions(res[i]);
      for (int k = 0; parts && k < parts->cnt; ++k) {
        const auto& p = parts->elems[k];
        if (p.err) {
          throw OpError(p.err, fmt::format("offset of {}:{} in group '{}': {}", p.topic,
                                           p.partition, group, rd_kafka_err2str(p.err)));
        }
        if (p.offset >= 0) out[{p.topic, p.partition}] = p.offset;
      }
    }
    return out;
  });
}

std::string offset_text(std::optional<int64_t> v) { return v ? std::to_string(*v) : "-"; }
Json offset_json(std::optional<int64_t> v) { return v ? Json(*v) : Json(); }

int offsets_show(Session& s, const ParsedArgs& args) {
  const std::string group = args.require("--group");
  auto offsets = committed(s, group, nullptr);
  Table table({"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"});
  Json jparts = Json::array();
  for (const auto& [tp, off] : offsets) {
    int64_t end = s.watermarks(tp.first, tp.second).second;
    int64_t lag = std::max<int64_t>(0, end - off);
    table.add({tp.first, std::to_string(tp.second), std::to_string(off), std::to_string(end),
               std::to_string(lag)});
    jparts.push(Json::object()
                    .set("topic", tp.first)
                    .set("partition", tp.second)
                    .set("current_offset", off)
                    .set("log_end_offset", end)
                    .set("lag", lag));
  }
  Json doc = Json::object();
  doc.set("group", group).set("offsets", std::move(jparts));
  s.print(doc, offsets.empty() ? fmt::format("Group {} has no committed offsets.\n", group)
                               : table.render());
  return 0;
}

// Parses an ISO-8601 timestamp "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" into Unix epoch
// milliseconds. Without a zone the local time zone applies, as in kafka-consumer-groups.sh.
std::optional<int64_t> parse_iso8601(const std::string& text) {
  int y, mo, d, h, mi, sec, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6 || consumed != 19) {
    return std::nullopt;
  }
  std::string rest = text.substr(19);
  int64_t millis = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t k = 1;
    int digits = 0;
    while (k < rest.size() && std::isdigit(static_cast<unsigned char>(rest[k]))) {
      if (digits < 3) millis = millis * 10 + (rest[k] - '0');
      ++digits;
      ++k;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) millis *= 10;
    rest = rest.substr(k);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t epoch;
  if (rest.empty()) {
    tm.tm_isdst = -1;
    epoch = static_cast<int64_t>(std::mktime(&tm));
  } else if (rest == "Z") {
    epoch = static_cast<int64_t>(timegm(&tm));
  } else {
    int oh, om, n = 0;
    if ((rest[0] != '+' && rest[0] != '-') ||
        std::sscanf(rest.c_str() + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 ||
        rest.size() != 6 || oh > 23 || om > 59) {
      return std::nullopt;
    }
    int sign = rest[0] == '+' ? 1 : -1;
    epoch = static_cast<int64_t>(timegm(&tm)) - sign * (oh * 3600 + om * 60);
  }
  return epoch * 1000 + millis;
}

enum class Strategy { kToOffset, kToDatetime, kShiftBy, kToEarliest, kToLatest };

struct Plan {
  Strategy strategy;
  int64_t value = 0;  // the offset, timestamp (ms) or shift, by strategy
};

Plan parse_strategy(const ParsedArgs& args) {
  std::vector<Plan> plans;
  const std::string& cmd = args.command();
  if (auto v = args.get("--to-offset")) {
    plans.push_back({Strategy::kToOffset, parse_int(cmd, "--to-offset", *v, 0, INT64_MAX)});
  }
  if (auto v = args.get("--to-datetime")) {
    auto ms = parse_iso8601(*v);
    if (!ms) {
      throw UsageError(cmd, fmt::format("--to-datetime: expected YYYY-MM-DDTHH:MM:SS[.sss][Z|+HH:MM]"
                                        ", got '{}'", *v));
    }
    plans.push_back({Strategy::kToDatetime, *ms});
  }
  if (auto v = args.get("--shift-by")) {
    plans.push_back({Strategy::kShiftBy, parse_int(cmd, "--shift-by", *v, INT64_MIN / 2,
                                                   INT64_MAX / 2)});
  }
  if (args.has("--to-earliest")) plans.push_back({Strategy::kToEarliest});
  if (args.has("--to-latest")) plans.push_back({Strategy::kToLatest});
  if (plans.size() != 1) {
    throw UsageError(cmd, "give exactly one of --to-offset, --to-datetime, --shift-by, "
                          "--to-earliest, --to-latest");
  }
  return plans[0];
}

// Resolves "--topic T" (every partition) and "--topic T:0,2" against cluster metadata.
std::vector<TopicPartition> resolve_partitions(Session& s, const ParsedArgs& args) {
  auto md = s.metadata();
  std::set<TopicPartition> out;
  for (const auto& spec : args.all("--topic")) {
    auto colon = spec.find(':');
    std::string topic = spec.substr(0, colon);
    if (topic.empty()) throw UsageError(args.command(), fmt::format("--topic: empty topic in '{}'",
                                                                    spec));
    const rd_kafka_metadata_topic_t* t = nullptr;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        t = &md->topics[i];
      }
    }
    if (!t) {
      throw OpError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                    fmt::format("--topic: topic '{}' does not exist", topic));
    }
    std::set<int32_t> known;
    for (int p = 0; p < t->partition_cnt; ++p) known.insert(t->partitions[p].id);
    if (colon == std::string::npos) {
      for (int32_t p : known) out.insert({topic, p});
      continue;
    }
    std::string list = spec.substr(colon + 1);
    size_t start = 0;
    while (true) {
      size_t comma = list.find(',', start);
      std::string item = list.substr(start, comma == std::string::npos ? std::string::npos
                                                                        : comma - start);
      auto p = static_cast<int32_t>(parse_int(args.command(), "--topic", item, 0, INT32_MAX));
      if (!known.count(p)) {
        throw OpError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                      fmt::format("--topic: topic '{}' has no partition {}", topic, p));
      }
      out.insert({topic, p});
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return {out.begin(), out.end()};
}

int offsets_reset(Session& s, const ParsedArgs& args) {
  const std::string group = args.require("--group");
  const Plan plan = parse_strategy(args);
  const bool execute = args.has("--execute");
  auto parts = resolve_partitions(s, args);

  // Committing over a live member's position would be overwritten by its next commit and
  // confuses its rebalance; Kafka's tool refuses unless the group is empty or unknown (DEAD).
  auto state = group_state(s, group);
  if (state != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY &&
      state != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
    throw OpError("NON_EMPTY_GROUP",
                  fmt::format("group '{}' is {}; stop its consumers before resetting offsets",
                              group, rd_kafka_consumer_group_state_name(state)));
  }

  auto wanted = new_list(static_cast<int>(parts.size()));
  for (const auto& [t, p] : parts) rd_kafka_topic_partition_list_add(wanted.get(), t.c_str(), p);
  auto current = committed(s, group, wanted.get());

  std::map<TopicPartition, int64_t> by_time;
  if (plan.strategy == Strategy::kToDatetime) {
    auto q = new_list(static_cast<int>(parts.size()));
    for (const auto& [t, p] : parts) {
      rd_kafka_topic_partition_list_add(q.get(), t.c_str(), p)->offset = plan.value;
    }
    s.check(rd_kafka_offsets_for_times(s.handle(), q.get(), s.timeout_ms()), "offsets for time");
    for (int i = 0; i < q->cnt; ++i) {
      const auto& e = q->elems[i];
      if (e.err) {
        throw OpError(e.err, fmt::format("offset for time of {}:{}: {}", e.topic, e.partition,
                                         rd_kafka_err2str(e.err)));
      }
      by_time[{e.topic, e.partition}] = e.offset;
    }
  }

  Table table({"TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"});
  Json jparts = Json::array();
  auto commit = new_list(static_cast<int>(parts.size()));
  for (const auto& tp : parts) {
    auto [low, high] = s.watermarks(tp.first, tp.second);
    std::optional<int64_t> cur;
    if (auto it = current.find(tp); it != current.end()) cur = it->second;
    int64_t target = 0;
    switch (plan.strategy) {
      case Strategy::kToOffset: target = plan.value; break;
      case Strategy::kToEarliest: target = low; break;
      case Strategy::kToLatest: target = high; break;
      case Strategy::kShiftBy:
        if (!cur) {
          throw OpError("_INVALID_ARG",
                        fmt::format("--shift-by: group '{}' has no committed offset for {}:{}",
                                    group, tp.first, tp.second));
        }
        target = *cur + plan.value;
        break;
      case Strategy::kToDatetime: {
        // No record at or after the time: the group resumes at the end, as Kafka's tool does.
        int64_t o = by_time.at(tp);
        target = o >= 0 ? o : high;
        break;
      }
    }
    target = std::clamp(target, low, high);
    rd_kafka_topic_partition_list_add(commit.get(), tp.first.c_str(), tp.second)->offset = target;
    table.add({tp.first, std::to_string(tp.second), offset_text(cur), std::to_string(target)});
    jparts.push(Json::object()
                    .set("topic", tp.first)
                    .set("partition", tp.second)
                    .set("current_offset", offset_json(cur))
                    .set("new_offset", target));
  }

  if (execute) {
    std::unique_ptr<rd_kafka_AlterConsumerGroupOffsets_t,
                    void (*)(rd_kafka_AlterConsumerGroupOffsets_t*)>
        req(rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), commit.get()),
            &rd_kafka_AlterConsumerGroupOffsets_destroy);
    auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets_t* arr[] = {req.get()};
    coordinator_call(s, [&] {
      auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
        rd_kafka_AlterConsumerGroupOffsets(s.handle(), arr, 1, opts.get(), q);
      });
      size_t n = 0;
      auto** res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
          rd_kafka_event_AlterConsumerGroupOffsets_result(ev.get()), &n);
      for (size_t i = 0; i < n; ++i) {
        check_group_result(res[i], fmt::format("cannot commit offsets of group '{}'", group));
        const auto* ps = rd_kafka_group_result_partitions(res[i]);
        for (int k = 0; ps && k < ps->cnt; ++k) {
          if (ps->elems[k].err) {
            throw OpError(ps->elems[k].err,
                          fmt::format("commit of {}:{} for group '{}': {}", ps->elems[k].topic,
                                      ps->elems[k].partition, group,
                                      rd_kafka_err2str(ps->elems[k].err)));
          }
        }
      }
    });
  } else {
    std::fputs("Dry run: nothing was committed; add --execute to apply.\n", stderr);
  }
  Json doc = Json::object();
  doc.set("group", group).set("executed", execute).set("offsets", std::move(jparts));
  s.print(doc, table.render());
  return 0;
}

}  // namespace

std::vector<Command> group_offset_commands() {
  const OptionSpec g{"--group", "G", "consumer group id", true};
  return {
      {{"groups", "offsets", "show"},
       "committed offsets of a group with log-end offsets and lag",
       "Lists every partition the group has committed an offset for (OffsetFetch) and its\n"
       "current log-end offset (ListOffsets); LAG = LOG-END-OFFSET - CURRENT-OFFSET.",
       {g},
       &offsets_show},
      {{"groups", "offsets", "reset"},
       "move a group's committed offsets (dry run unless --execute)",
       "Targets are clamped into [log start, log end]. --to-datetime picks the first record at\n"
       "or after the time (ListOffsets by timestamp, KIP-79), or the log end if there is none;\n"
       "without a zone suffix the time is local. The group must have no active members.",
       {g,
        {"--topic", "T[:P[,P]]", "topic, optionally restricted to partitions", true, true},
        {"--to-offset", "N", "absolute offset"},
        {"--to-datetime", "ISO8601", "e.g. 2024-05-01T12:00:00.000Z"},
        {"--shift-by", "N", "move the committed offset by N (negative goes back)"},
        {"--to-earliest", "", "log start offset"},
        {"--to-latest", "", "log end offset"},
        {"--execute", "", "commit the new offsets (otherwise only print them)"}},
       &offsets_reset},
  };
}

}  // namespace ferry::admin
