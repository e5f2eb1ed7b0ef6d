// configs describe | alter for topics and brokers, with kafka-configs.sh semantics.
//
// librdkafka 2.0.2's C API has DescribeConfigs and the legacy AlterConfigs (API key 33) but not
// IncrementalAlterConfigs (KIP-339). AlterConfigs replaces the resource's whole set of dynamic
// configs, so --add-config/--delete-config are applied as read-modify-write: describe, edit the
// dynamic entries, send them all back. That is the same trade-off kafka-configs.sh made before
// KIP-339: two concurrent alters can lose one another's edits.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/session.h"

namespace ferry::admin {
namespace {

struct Entity {
  rd_kafka_ResourceType_t type;
  rd_kafka_ConfigSource_t dynamic_source;  // where an override of this entity is reported from
  std::string kind;                        // "topic" / "broker", for messages
  std::string name;
};

Entity parse_entity(const ParsedArgs& args) {
  const std::string type = args.require("--entity-type");
  const std::string name = args.require("--entity-name");
  if (name.empty()) throw UsageError(args.command(), "--entity-name: empty value");
  if (type == "topics") {
    return {RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, "topic", name};
  }
  if (type == "brokers") {
    // A broker resource is named by its node id; librdkafka routes the request to that broker.
    parse_int(args.command(), "--entity-name", name, 0, INT32_MAX);
    return {RD_KAFKA_RESOURCE_BROKER, RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG, "broker",
            name};
  }
  throw UsageError(args.command(),
                   fmt::format("--entity-type: expected 'topics' or 'brokers', got '{}'", type));
}

struct Entry {
  std::string name;
  std::optional<std::string> value;  // nullopt: sensitive or null
  rd_kafka_ConfigSource_t source;
  bool is_default, read_only, sensitive;
};

using ResourcePtr = std::unique_ptr<rd_kafka_ConfigResource_t, void (*)(rd_kafka_ConfigResource_t*)>;

ResourcePtr new_resource(const Entity& e) {
  return {rd_kafka_ConfigResource_new(e.type, e.name.c_str()), &rd_kafka_ConfigResource_destroy};
}

// Checks the per-resource error of a Describe/AlterConfigs result.
void check_resource(const rd_kafka_ConfigResource_t* r, const Entity& e, const char* verb) {
  rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(r);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* msg = rd_kafka_ConfigResource_error_string(r);
  throw OpError(err, fmt::format("cannot {} configs of {} '{}': {}", verb, e.kind, e.name,
                                 msg && *msg ? msg : rd_kafka_err2str(err)));
}

std::vector<Entry> describe(Session& s, const Entity& e) {
  ResourcePtr res = new_resource(e);
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_ConfigResource_t* arr[] = {res.get()};
  auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
    rd_kafka_DescribeConfigs(s.handle(), arr, 1, opts.get(), q);
  });
  size_t n = 0;
  auto* rs = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  if (n != 1) throw OpError("_BAD_MSG", fmt::format("expected 1 resource in reply, got {}", n));
  check_resource(rs[0], e, "describe");
  size_t cnt = 0;
  const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[0], &cnt);
  std::vector<Entry> out;
  for (size_t i = 0; i < cnt; ++i) {
    const char* v = rd_kafka_ConfigEntry_value(entries[i]);
    out.push_back({rd_kafka_ConfigEntry_name(entries[i]),
                   v ? std::optional<std::string>(v) : std::nullopt,
                   rd_kafka_ConfigEntry_source(entries[i]),
                   rd_kafka_ConfigEntry_is_default(entries[i]) != 0,
                   rd_kafka_ConfigEntry_is_read_only(entries[i]) != 0,
                   rd_kafka_ConfigEntry_is_sensitive(entries[i]) != 0});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

// An override set on this entity itself. Brokers that predate config sources (DescribeConfigs
// v0) report UNKNOWN; then "not default and writable" is the best available signal.
bool is_override(const Entry& x, const Entity& e) {
  if (x.source == e.dynamic_source) return true;
  return x.source == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG && !x.is_default && !x.read_only;
}

int configs_describe(Session& s, const ParsedArgs& args) {
  Entity e = parse_entity(args);
  const bool all = args.has("--all");
  Table table({"NAME", "VALUE", "SOURCE", "READ-ONLY"});
  Json jentries = Json::array();
  for (const auto& x : describe(s, e)) {
    if (!all && x.is_default) continue;
    const char* source = rd_kafka_ConfigSource_name(x.source);
    table.add({x.name, x.sensitive ? "(sensitive)" : x.value.value_or("(null)"), source,
               x.read_only ? "yes" : "no"});
    Json j = Json::object();
    j.set("name", x.name)
        .set("value", x.value && !x.sensitive ? Json(*x.value) : Json())
        .set("source", source)
        .set("is_default", x.is_default)
        .set("read_only", x.read_only)
        .set("sensitive", x.sensitive);
    jentries.push(std::move(j));
  }
  Json doc = Json::object();
  doc.set("entity_type", e.kind).set("entity_name", e.name).set("configs", std::move(jentries));
  std::string human = fmt::format("Configs of {} {}{}:\n", e.kind, e.name,
                                  all ? "" : " (non-default; --all for every entry)");
  human += table.empty() ? "  (none)\n" : table.render();
  s.print(doc, human);
  return 0;
}

// Splits "a=1,b=[x,y]" at commas outside square brackets; brackets protect list values the way
// kafka-configs.sh does, and are removed from the value.
std::vector<std::pair<std::string, std::string>> parse_add_config(const ParsedArgs& args) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& arg : args.all("--add-config")) {
    std::vector<std::string> items;
    std::string cur;
    int depth = 0;
    for (char c : arg) {
      if (c == '[') ++depth;
      if (c == ']') --depth;
      if (c == ',' && depth == 0) {
        items.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (depth != 0) {
      throw UsageError(args.command(), fmt::format("--add-config: unbalanced '[' in '{}'", arg));
    }
    items.push_back(std::move(cur));
    for (const auto& item : items) {
      auto [k, v] = split_key_value(args.command(), "--add-config", item);
      if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
      out.emplace_back(std::move(k), std::move(v));
    }
  }
  return out;
}

std::vector<std::string> parse_delete_config(const ParsedArgs& args) {
  std::vector<std::string> out;
  for (const auto& arg : args.all("--delete-config")) {
    size_t start = 0;
    while (start <= arg.size()) {
      size_t comma = arg.find(',', start);
      std::string key = arg.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
      if (key.empty()) {
        throw UsageError(args.command(), fmt::format("--delete-config: empty key in '{}'", arg));
      }
      out.push_back(std::move(key));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

int configs_alter(Session& s, const ParsedArgs& args) {
  Entity e = parse_entity(args);
  auto adds = parse_add_config(args);
  auto deletes = parse_delete_config(args);
  if (adds.empty() && deletes.empty()) {
    throw UsageError(args.command(), "nothing to do: give --add-config and/or --delete-config");
  }
  std::set<std::string> deleted(deletes.begin(), deletes.end());
  for (const auto& [k, v] : adds) {
    if (deleted.count(k)) {
      throw UsageError(args.command(),
                       fmt::format("config '{}' is in both --add-config and --delete-config", k));
    }
  }

  std::map<std::string, std::optional<std::string>> next;  // the full override set to send
  std::set<std::string> sensitive_kept;
  for (const auto& x : describe(s, e)) {
    if (!is_override(x, e)) continue;
    next[x.name] = x.value;
    if (!x.value) sensitive_kept.insert(x.name);
  }
  for (const auto& k : deletes) {
    if (!next.count(k)) {
      throw OpError("INVALID_CONFIG",
                    fmt::format("--delete-config: '{}' is not set on {} '{}'", k, e.kind, e.name));
    }
    next.erase(k);
    sensitive_kept.erase(k);
  }
  for (const auto& [k, v] : adds) {
    next[k] = v;
    sensitive_kept.erase(k);
  }
  // AlterConfigs would drop an override whose value the broker hid from us; refuse rather than
  // erase a password silently.
  if (!sensitive_kept.empty()) {
    throw OpError("INVALID_CONFIG",
                  fmt::format("{} '{}' has sensitive override '{}' whose value is hidden; "
                              "AlterConfigs would erase it. Re-supply it with --add-config.",
                              e.kind, e.name, *sensitive_kept.begin()));
  }

  ResourcePtr res = new_resource(e);
  for (const auto& [k, v] : next) {
    rd_kafka_resp_err_t err = rd_kafka_ConfigResource_set_config(res.get(), k.c_str(),
                                                                 v ? v->c_str() : nullptr);
    if (err) throw UsageError(args.command(), fmt::format("config '{}': {}", k,
                                                          rd_kafka_err2str(err)));
  }
  auto opts = s.admin_options(RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
  rd_kafka_ConfigResource_t* arr[] = {res.get()};
  auto ev = s.run_admin([&](rd_kafka_queue_t* q) {
    rd_kafka_AlterConfigs(s.handle(), arr, 1, opts.get(), q);
  });
  size_t n = 0;
  auto* rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()),
                                                    &n);
  if (n != 1) throw OpError("_BAD_MSG", fmt::format("expected 1 resource in reply, got {}", n));
  check_resource(rs[0], e, "alter");

  Json jset = Json::object();
  for (const auto& [k, v] : adds) jset.set(k, v);
  Json jdel = Json::array();
  for (const auto& k : deletes) jdel.push(k);
  Json doc = Json::object();
  doc.set("entity_type", e.kind)
      .set("entity_name", e.name)
      .set("set", std::move(jset))
      .set("deleted", std::move(jdel));
  s.print(doc, fmt::format("Completed updating config for {} {}.\n", e.kind, e.name));
  return 0;
}

}  // namespace

std::vector<Command> config_commands() {
  const OptionSpec type{"--entity-type", "topics|brokers", "kind of entity", true};
  const OptionSpec name{"--entity-name", "NAME", "topic name or broker node id", true};
  return {
      {{"configs", "describe"},
       "show the configuration of a topic or broker (DescribeConfigs)",
       "Without --all only entries that differ from the default are shown, as kafka-configs.sh\n"
       "does. Sensitive values are never returned by the broker.",
       {type, name, {"--all", "", "show every entry, defaults included"}},
       &configs_describe},
      {{"configs", "alter"},
       "set or remove config overrides of a topic or broker (AlterConfigs)",
       "--add-config takes k=v pairs separated by commas; wrap list values in brackets:\n"
       "  --add-config 'retention.ms=60000,cleanup.policy=[compact,delete]'\n"
       "--delete-config takes keys separated by commas and reverts them to the default.\n"
       "librdkafka 2.0.2 offers only the legacy AlterConfigs, which replaces all overrides at\n"
       "once, so the current overrides are read first and sent back with the edits applied.",
       {type, name,
        {"--add-config", "k=v[,k=v]", "overrides to set", false, true},
        {"--delete-config", "k[,k]", "overrides to remove", false, true}},
       &configs_alter},
  };
}

}  // namespace ferry::admin
