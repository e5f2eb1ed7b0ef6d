#include "mirror/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <set>

#include "common/client_properties.h"
#include "mirror/provenance.h"

namespace ferry::mirror {

using config::ConfigError;

namespace {

constexpr const char* kDefaultPolicyClass = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy";
constexpr const char* kIdentityPolicyClass = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";

using config::load_table;
using config::toml_quoted;

ClusterConfig load_cluster(const std::string& alias, const toml::node& node, const std::string& origin) {
  const std::string where = fmt::format("{} [clusters.{}]", origin, alias);
  if (!is_valid_alias(alias))
    throw ConfigError(
        fmt::format("{}: cluster alias '{}' is invalid; expected one or more of [A-Za-z0-9._-] "
                    "(the alias becomes part of topic names)",
                    origin, alias));
  config::ClusterTable t = config::split_cluster_table(node, where, "clusters." + alias);
  ClusterConfig c;
  c.alias = alias;
  c.client = std::move(t.client);
  config::Values v = load_table(cluster_schema(), t.keys, where);
  c.bootstrap_servers = v.get_string("bootstrap.servers");
  if (c.bootstrap_servers.empty())
    throw ConfigError(
        fmt::format("{}: key 'bootstrap.servers' has value \"\"; expected host:port[,host:port...]", where));
  return c;
}

std::vector<std::string> checked_regexes(const config::Values& v, const std::string& key, const std::string& where) {
  std::vector<std::string> list = v.get_list(key);
  try {
    RegexList compiled(list);
  } catch (const InvalidRegex& e) {
    throw ConfigError(
        fmt::format("{}: key '{}' has invalid regular expression '{}': {}", where, key, e.pattern, e.reason));
  }
  return list;
}

std::chrono::seconds seconds(const config::Values& v, const std::string& key) {
  return std::chrono::seconds(v.get_int(key));
}

FlowConfig load_flow(const toml::node& node, size_t index, const std::map<std::string, ClusterConfig>& clusters,
                     const std::string& origin) {
  std::string where = fmt::format("{} [[flows]] #{}", origin, index + 1);
  const toml::table* table = node.as_table();
  if (!table) throw ConfigError(fmt::format("{}: expected a table", where));
  config::Values v = load_table(flow_schema(), *table, where);

  FlowConfig f;
  f.source = v.get_string("source");
  f.target = v.get_string("target");
  where += fmt::format(" ({}->{})", f.source, f.target);
  std::vector<std::string> aliases;
  for (const auto& [alias, _] : clusters) aliases.push_back(alias);
  for (const char* key : {"source", "target"}) {
    const std::string& alias = v.get_string(key);
    if (!clusters.count(alias))
      throw ConfigError(fmt::format("{}: key '{}' has value {}; expected one of the [clusters] aliases: {}", where, key,
                                    toml_quoted(alias), aliases.empty() ? "(none defined)" : fmt::format("{}", fmt::join(aliases, ", "))));
  }
  if (f.source == f.target)
    throw ConfigError(fmt::format("{}: source and target are both {}; a flow must go from one cluster to another",
                                  where, toml_quoted(f.source)));

  const std::string& policy = v.get_string("replication.policy");
  const std::string& separator = v.get_string("replication.policy.separator");
  if (!is_valid_alias(separator))
    throw ConfigError(
        fmt::format("{}: key 'replication.policy.separator' has value {}; expected one or more of "
                    "[A-Za-z0-9._-] (it becomes part of topic names)",
                    where, toml_quoted(separator)));
  bool identity = policy == "identity" || policy == kIdentityPolicyClass;
  f.policy =
      ReplicationPolicy(identity ? ReplicationPolicy::Kind::kIdentity : ReplicationPolicy::Kind::kDefault, separator);
  for (const auto& alias : aliases)
    if (alias.find(separator) != std::string::npos)
      throw ConfigError(
          fmt::format("{}: cluster alias '{}' contains the replication.policy.separator {}; remote topic "
                      "names such as '{}{}orders' would be ambiguous",
                      where, alias, toml_quoted(separator), alias, separator));

  f.topics = checked_regexes(v, "topics", where);
  f.topics_exclude = checked_regexes(v, "topics.exclude", where);
  f.groups = checked_regexes(v, "groups", where);
  f.groups_exclude = checked_regexes(v, "groups.exclude", where);
  f.refresh_topics_interval = seconds(v, "refresh.topics.interval.seconds");
  f.refresh_groups_interval = seconds(v, "refresh.groups.interval.seconds");
  f.sync_topic_configs_enabled = v.get_bool("sync.topic.configs.enabled");
  f.sync_topic_configs_interval = seconds(v, "sync.topic.configs.interval.seconds");
  f.sync_topic_acls_enabled = v.get_bool("sync.topic.acls.enabled");
  f.sync_topic_acls_interval = seconds(v, "sync.topic.acls.interval.seconds");
  f.emit_heartbeats_enabled = v.get_bool("emit.heartbeats.enabled");
  f.emit_heartbeats_interval = seconds(v, "emit.heartbeats.interval.seconds");
  f.emit_checkpoints_enabled = v.get_bool("emit.checkpoints.enabled");
  f.emit_checkpoints_interval = seconds(v, "emit.checkpoints.interval.seconds");
  f.sync_group_offsets_enabled = v.get_bool("sync.group.offsets.enabled");
  f.sync_group_offsets_interval = seconds(v, "sync.group.offsets.interval.seconds");
  f.offset_lag_max = v.get_int("offset.lag.max");
  f.paused = v.get_bool("paused");
  f.tasks_max = static_cast<int32_t>(v.get_int("tasks.max"));
  int64_t rf = v.get_int("replication.factor");
  if (rf == 0)
    throw ConfigError(
        fmt::format("{}: key 'replication.factor' has value 0; expected -1 (the target broker's default) "
                    "or an integer in [1, 32767]",
                    where));
  f.replication_factor = static_cast<int32_t>(rf);
  return f;
}

}  // namespace

TopicFilter FlowConfig::topic_filter() const { return TopicFilter(topics, topics_exclude, policy, target); }
GroupFilter FlowConfig::group_filter() const { return GroupFilter(groups, groups_exclude); }

const config::Schema& mirror_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_string("status.listener", "",
                 "host:port of the HTTP endpoint serving /metrics (Prometheus text format), /status (JSON) and "
                 "the control API (POST /flows/<source>/<target>/pause, resume, checkpoint; docs/mirror.md); "
                 "port 0 picks a free port; \"\" turns the endpoint off (and with it the control API).")
        .add_enum("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
                  "Log level of the process (stderr).")
        .add_string("state.dir", "",
                    "Ferry: directory where the control API's pause and resume are kept "
                    "(flow-control.json, fsynced before they take effect), so a restarted mirror keeps a flow "
                    "paused that ferry-dr paused at failover; a recorded decision overrides the flow's `paused` "
                    "key. \"\" keeps them in memory only: a restart goes back to each flow's `paused` key (a "
                    "warning says so at start). One directory per ferry-mirror process.")
        .add_int("task.shutdown.graceful.timeout.ms", 5000, 0, INT32_MAX,
                 "Kafka Connect's key: how long a SIGTERM or SIGINT waits for the flows to finish (records in "
                 "flight acknowledged, the consumer group left). A cluster that does not answer cannot hold "
                 "the process longer: it then exits 0 without waiting (nothing is lost; the next start "
                 "resumes from the target's own records) and logs which flow still waited on what.");
    return s;
  }();
  return schema;
}

const config::Schema& cluster_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_required_string("bootstrap.servers",
                          "Comma-separated host:port list used to reach the cluster (librdkafka bootstrap.servers).");
    return s;
  }();
  return schema;
}

const config::Schema& flow_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_required_string("source", "Alias of the cluster records are read from.")
        .add_required_string("target", "Alias of the cluster records are written to; not the source.")
        .add_list("topics", default_topics_include(),
                  "Regular expressions (ECMAScript syntax, whole-name match) selecting source topics to replicate. "
                  "Heartbeat topics are replicated whatever this says; internal topics and topics that would "
                  "cycle never are (MM2 shouldReplicateTopic).")
        .add_list("topics.exclude", default_topics_exclude(),
                  "Regular expressions of source topics not to replicate (MM2's default).")
        .add_list("groups", default_groups_include(),
                  "Regular expressions of consumer groups whose offsets are checkpointed and synced.")
        .add_list("groups.exclude", default_groups_exclude(),
                  "Regular expressions of consumer groups not to checkpoint (MM2's default).")
        .add_enum("replication.policy", "default", {"default", "identity", kDefaultPolicyClass, kIdentityPolicyClass},
                  "Remote topic naming. default: `<source><separator><topic>`, cycles detected from names. "
                  "identity: names kept (heartbeats still prefixed, as in MM2 3.x); loops are prevented by the "
                  "ferry.origin record header. MM2's class names are accepted as synonyms.")
        .add_string("replication.policy.separator", ".",
                    "Separator between source alias and topic in remote topic names and in MM2's internal topic "
                    "names (KIP-690); [A-Za-z0-9._-]+, and no cluster alias may contain it.")
        .add_int("refresh.topics.interval.seconds", 600, 1, INT32_MAX,
                 "How often source topics are listed to find new ones and new partitions.")
        .add_int("refresh.groups.interval.seconds", 600, 1, INT32_MAX,
                 "How often source consumer groups are listed to find new ones.")
        .add_bool("sync.topic.configs.enabled", true, "Copy source topic configs to remote topics periodically.")
        .add_int("sync.topic.configs.interval.seconds", 600, 1, INT32_MAX, "How often topic configs are copied.")
        .add_bool("sync.topic.acls.enabled", true,
                  "Copy the source's ALLOW ACLs of replicated topics to their remote topics (MM2's rules: literal "
                  "topic bindings only, never WRITE, ALL becomes READ; never deleted on the target). Skipped "
                  "quietly when a cluster has no ACL authorizer (SECURITY_DISABLED).")
        .add_int("sync.topic.acls.interval.seconds", 600, 1, INT32_MAX, "How often topic ACLs are copied.")
        .add_bool("emit.heartbeats.enabled", true,
                  "Write MM2 heartbeats for this flow to the target's heartbeats topic.")
        .add_int("emit.heartbeats.interval.seconds", 1, 1, INT32_MAX, "How often heartbeats are written.")
        .add_bool("emit.checkpoints.enabled", true,
                  "Write MM2 checkpoints (translated group offsets) to `<source>.checkpoints.internal` on the target.")
        .add_int("emit.checkpoints.interval.seconds", 5, 1, INT32_MAX,
                 "How often checkpoints are written. Ferry's default is 5 (MM2: 60): translation is exact, so "
                 "frequent checkpoints shrink re-reads after a failover.")
        .add_bool("sync.group.offsets.enabled", true,
                  "Write translated offsets into target consumer groups that are empty or absent, never moving one "
                  "backwards. Ferry's default is true (MM2: false).")
        .add_int("sync.group.offsets.interval.seconds", 5, 1, INT32_MAX,
                 "How often group offsets are synced. Ferry's default is 5 (MM2: 60).")
        .add_int("offset.lag.max", 100, 0, INT32_MAX,
                 "Records between offset syncs inside an unbroken run (0: every record). Translation is exact "
                 "whatever the value (Ferry also writes a sync at every break in offsets); this bounds how much "
                 "of the target a restarted mirror re-reads to rebuild the mapping.")
        .add_bool("paused", false,
                  "Ferry: the flow starts paused (it reads nothing, emits no heartbeats, checkpoints or group "
                  "offset syncs) until POST /flows/<source>/<target>/resume on the status listener, e.g. the "
                  "reverse flow of an active-passive pair, started at failover (docs/mirror.md, Control API).")
        .add_int("tasks.max", 1, 1, 64,
                 "Data paths of this flow in this process (MM2's key; each task is a member of the flow's consumer "
                 "group with its own source consumer and target producers, so partitions are shared between tasks "
                 "and processes alike). More than one puts more Fetches in flight to a source broker, which a "
                 "long round trip needs (docs/mirror.md, \"Across a WAN\"), and more than one core to work. "
                 "Partitions are shared with the range assignor: per topic, so a topic needs at least as many "
                 "partitions as tasks for all of them to work.")
        .add_int("replication.factor", -1, -1, 32767,
                 "Replication factor of remote topics Ferry creates; -1 uses the target broker's "
                 "default.replication.factor (MM2's default is 2, which a single-broker cluster rejects); 0 is "
                 "rejected.");
    return s;
  }();
  return schema;
}

MirrorConfig load_mirror_config(const std::string& toml_text, const std::string& origin) {
  const toml::table root = config::parse_toml_document(toml_text, origin);
  auto sections = config::top_level_sections(root, origin, {{"mirror"}, {"clusters"}, {"flows", true}},
                                             "[mirror], [clusters.<alias>] and [[flows]]");
  const toml::table empty;
  const toml::table* mirror = sections["mirror"] ? sections["mirror"]->as_table() : &empty;
  const toml::table* clusters = sections["clusters"] ? sections["clusters"]->as_table() : &empty;
  const toml::array* flows = sections["flows"] ? sections["flows"]->as_array() : nullptr;

  MirrorConfig out;
  config::Values mv = load_table(mirror_schema(), *mirror, origin + " [mirror]");
  out.status_listener = mv.get_string("status.listener");
  if (!out.status_listener.empty() && !config::is_host_port(out.status_listener))
    throw ConfigError(
        fmt::format("{} [mirror]: key 'status.listener' has value {}; expected host:port (port 0-65535, "
                    "IPv6 host in brackets) or \"\" for off",
                    origin, toml_quoted(out.status_listener)));
  out.log_level = mv.get_string("log.level");
  out.state_dir = mv.get_string("state.dir");
  out.shutdown_timeout = std::chrono::milliseconds(mv.get_int("task.shutdown.graceful.timeout.ms"));

  for (auto& [key, node] : *clusters) {
    std::string alias(key.str());
    out.clusters.emplace(alias, load_cluster(alias, node, origin));
  }

  if (!flows || flows->empty())
    throw ConfigError(fmt::format("{}: no [[flows]] defined; expected at least one source -> target flow", origin));
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < flows->size(); ++i) {
    FlowConfig f = load_flow((*flows)[i], i, out.clusters, origin);
    if (!seen.emplace(f.source, f.target).second)
      throw ConfigError(fmt::format("{} [[flows]] #{}: duplicate flow {}; each source -> target pair may appear once",
                                    origin, i + 1, f.name()));
    out.flows.push_back(std::move(f));
  }
  return out;
}

MirrorConfig load_mirror_config_file(const std::string& path) {
  return load_mirror_config(config::read_config_text(path), path);
}

std::string mirror_config_reference() {
  std::string out =
      "# ferry-mirror configuration reference\n\n"
      "Generated by `ferry-mirror --config-reference` from the key tables in mirror/config.cc; do not edit by "
      "hand.\n\n"
      "One TOML file. Dotted keys (`log.level = ...`) and quoted keys (`\"log.level\" = ...`) are the same key; in "
      "`[[flows]]` quote keys that extend another key's name (`\"topics.exclude\"` next to `topics`). Lists take a "
      "TOML array or one comma-separated string (MM2's form; use an array when a regex contains a comma). Regular "
      "expressions use ECMAScript syntax and must match the whole name, as MM2's do.\n\n"
      "```toml\n"
      "[mirror]\n"
      "status.listener = \"127.0.0.1:9464\"\n"
      "log.level = \"info\"\n\n"
      "[clusters.east]\n"
      "bootstrap.servers = \"10.0.0.1:9092\"\n"
      "[clusters.east.client]              # librdkafka properties, passed verbatim\n"
      "\"security.protocol\" = \"plaintext\"\n\n"
      "[clusters.west]\n"
      "bootstrap.servers = \"10.1.0.1:9092\"\n\n"
      "[[flows]]\n"
      "source = \"east\"\n"
      "target = \"west\"\n"
      "topics = [\"orders.*\", \"payments\"]\n"
      "\"replication.policy\" = \"identity\"\n"
      "```\n\n"
      "## `[mirror]`\n\n";
  out += mirror_schema().markdown_reference();
  out +=
      "\n## `[clusters.<alias>]`\n\n"
      "The alias is one or more of `[A-Za-z0-9._-]` and must not contain any flow's "
      "`replication.policy.separator`: it becomes part of remote topic names (`east.orders`) and MM2's internal "
      "topic names (`east.checkpoints.internal`, `mm2-offset-syncs.west.internal`).\n\n";
  out += cluster_schema().markdown_reference();
  out +=
      "\nThe optional `[clusters.<alias>.client]` table holds librdkafka properties (strings, integers, floats, "
      "booleans; nested tables flatten to dotted names) given to every client Ferry opens on that cluster, e.g. "
      "`security.protocol`, `ssl.ca.location`, `sasl.mechanism`. `bootstrap.servers` belongs in the cluster table, "
      "not here. On a flow's source cluster, ferry-mirror's consumer defaults to `max.partition.fetch.bytes = "
      "4194304` and `fetch.max.bytes = 16777216` unless this table sets them (sized for long round trips: "
      "docs/mirror.md, \"Across a WAN\"). Ferry's own `sasl.password.file` (a file holding the password) and `sasl.password.env` (an "
      "environment variable's name) become `sasl.password` before librdkafka sees them; prefer them to a literal "
      "`sasl.password` (docs/security.md \"Clients\").\n\n"
      "## `[[flows]]`\n\n"
      "One entry per source -> target pair (each pair at most once; source and target differ). Keys follow "
      "MirrorMaker 2's names and defaults unless the description says Ferry.\n\n";
  out += flow_schema().markdown_reference();
  return out;
}

}  // namespace ferry::mirror
