// ferry-mirror configuration: one TOML file with a process section, named clusters and flows.
//
//   [mirror]                          process-wide keys (mirror_schema())
//   [clusters.<alias>]                bootstrap.servers (cluster_schema())
//   [clusters.<alias>.client]         passed verbatim to librdkafka for this cluster
//   [[flows]]                         one source -> target flow each (flow_schema())
//
// Keys are declared once in the three schemas (common/config.h); loading, errors and the generated
// reference docs/mirror-config.md all derive from them. Flow keys use MirrorMaker 2's names and
// defaults (KIP-382; MirrorSourceConfig, MirrorCheckpointConfig, MirrorHeartbeatConfig) except
// where the reference says "Ferry".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "mirror/replication_policy.h"

namespace ferry::mirror {

/// One Kafka-compatible cluster, by alias.
struct ClusterConfig {
  std::string alias;              // [A-Za-z0-9._-]+; part of remote and internal topic names
  std::string bootstrap_servers;  // librdkafka bootstrap.servers
  /// librdkafka properties for every client of this cluster (e.g. security.protocol, TLS and
  /// SASL settings), nested TOML tables flattened to dotted names, values as text.
  std::map<std::string, std::string> client;
};

/// One replication flow, source -> target. Every field is filled by load_mirror_config() from
/// flow_schema(), which holds the defaults (to build one in a test, load a TOML snippet).
struct FlowConfig {
  std::string source;                       // cluster alias
  std::string target;                       // cluster alias, != source
  std::vector<std::string> topics;          // regexes, full match
  std::vector<std::string> topics_exclude;  // regexes, full match
  std::vector<std::string> groups;          // regexes, full match
  std::vector<std::string> groups_exclude;  // regexes, full match
  ReplicationPolicy policy;
  std::chrono::seconds refresh_topics_interval{};
  std::chrono::seconds refresh_groups_interval{};
  bool sync_topic_configs_enabled = false;
  std::chrono::seconds sync_topic_configs_interval{};
  bool sync_topic_acls_enabled = false;  ///< MM2's sync.topic.acls.enabled (mirror/acl_sync.h)
  std::chrono::seconds sync_topic_acls_interval{};
  bool emit_heartbeats_enabled = false;
  std::chrono::seconds emit_heartbeats_interval{};
  bool emit_checkpoints_enabled = false;
  std::chrono::seconds emit_checkpoints_interval{};
  bool sync_group_offsets_enabled = false;
  std::chrono::seconds sync_group_offsets_interval{};
  int64_t offset_lag_max = 0;      // records between syncs inside a run (0: every record)
  int32_t replication_factor = 0;  // of created remote topics; -1 = the target broker's default
  bool paused = false;             // start paused, until the control API resumes the flow
  int32_t tasks_max = 1;           // MM2's tasks.max: data paths (consumer group members) in this process

  /// OffsetMapping's resync_every for this flow: offset.lag.max, where 0 means every record.
  int64_t resync_every() const { return offset_lag_max > 0 ? offset_lag_max : 1; }
  /// "source->target", for logs, metrics and status.
  std::string name() const { return source + "->" + target; }
  /// The flow's topic selection (regexes were validated when the config was loaded).
  TopicFilter topic_filter() const;
  /// The flow's group selection (regexes were validated when the config was loaded).
  GroupFilter group_filter() const;
};

/// The whole ferry-mirror configuration.
struct MirrorConfig {
  std::string status_listener;                    // "host:port" of the HTTP /metrics and /status endpoint; "" = off
  std::string log_level;                          // trace, debug, info, warn, error, critical, off
  std::string state_dir;                          // flow-control state (flow_control_state.h); "" = memory only
  std::chrono::milliseconds shutdown_timeout{5000};  // task.shutdown.graceful.timeout.ms
  std::map<std::string, ClusterConfig> clusters;  // by alias
  std::vector<FlowConfig> flows;                  // at least one
};

/// Keys of the [mirror] section.
const config::Schema& mirror_schema();
/// Keys of a [clusters.<alias>] section (its `client` sub-table is free-form, not in the schema).
const config::Schema& cluster_schema();
/// Keys of a [[flows]] entry.
const config::Schema& flow_schema();

/// Parses and validates a configuration. `origin` names the source in errors (e.g. the file path).
/// Throws config::ConfigError naming the section, key, value and expectation for: TOML syntax
/// errors, unknown sections or keys, wrong types or ranges, an invalid regex (with std::regex's
/// reason), a missing bootstrap.servers, an alias not matching [A-Za-z0-9._-]+ or containing a
/// flow's separator (remote names would be ambiguous), a flow naming an unknown cluster or
/// flowing from a cluster to itself, two flows with the same source and target, no flows, and
/// client properties that are not strings, integers or booleans.
MirrorConfig load_mirror_config(const std::string& toml_text, const std::string& origin);

/// Reads and parses a configuration file; a missing or unreadable file throws config::ConfigError.
MirrorConfig load_mirror_config_file(const std::string& path);

/// The Markdown reference of every key (docs/mirror-config.md), printed by
/// `ferry-mirror --config-reference`.
std::string mirror_config_reference();

}  // namespace ferry::mirror
