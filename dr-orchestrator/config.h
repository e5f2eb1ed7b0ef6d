// ferry-dr configuration: one TOML file.
//
//   [dr]                       process and state keys (dr_schema())
//   [regions.<name>]           bootstrap.servers, metrics.url (region_schema())
//   [regions.<name>.client]    librdkafka properties, passed verbatim
//   [[flows]]                  source, target, status.urls (flow_schema())
//   [policy]                   failover limits and health thresholds (policy_schema())
//
// Keys are declared once in the schemas (common/config.h); loading, errors, `--help` and
// docs/dr-config.md (`ferry-dr --config-reference`) derive from them, as in ferry-mirror.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"

namespace ferry::dr {

/// One Kafka-compatible cluster ferry-dr watches and may promote or fence.
struct RegionConfig {
  std::string name;               ///< [A-Za-z0-9._-]+, the key of [regions.<name>]
  std::string bootstrap_servers;  ///< librdkafka bootstrap.servers, "host:port[,host:port...]"
  std::string metrics_url;        ///< a broker's Prometheus endpoint (http://...), "" = not scraped
  /// librdkafka properties (security.protocol, ssl.*, sasl.*), nested tables flattened to dotted
  /// names, values as text. bootstrap.servers is not here.
  std::map<std::string, std::string> client;

  /// `client` plus bootstrap.servers: what ferry::client::Admin takes.
  std::map<std::string, std::string> properties() const;
};

/// One mirror flow source -> target, and every ferry-mirror process that runs it.
struct FlowConfig {
  std::string source;                    ///< region name
  std::string target;                    ///< region name, != source
  std::vector<std::string> status_urls;  ///< base URLs "http://host:port" (no path), >= 1

  /// "source->target", the mirror's own flow name, used in logs, metrics and JSON.
  std::string name() const { return source + "->" + target; }
};

/// Limits for failover and thresholds for health evaluation.
struct PolicyConfig {
  /// Records a failover may lose without --force (also the flow "lagging" threshold: a flow is
  /// lagging when failing over now would lose more than this).
  int64_t max_data_loss_records = 0;
  std::chrono::seconds drain_timeout{60};       ///< planned failover: how long to wait for lag 0
  std::chrono::seconds heartbeat_max_age{30};   ///< older newest-replicated heartbeat = stale flow
  std::chrono::seconds checkpoint_max_age{60};  ///< older last checkpoint pass = stale flow
};

/// The whole ferry-dr configuration, validated.
struct DrConfig {
  std::filesystem::path state_dir;      ///< journal.jsonl, lock, state.json, reports
  std::filesystem::path audit_log;      ///< defaults to <state_dir>/audit.jsonl
  std::filesystem::path audit_anchor;   ///< <state_dir>/audit-anchor.json: the audit chain's head (audit.h)
  std::filesystem::path bootstrap_file; ///< client-routing target, replaced atomically at failover
  std::string redirect_hook;            ///< /bin/sh -c command after a redirect, "" = none
  std::chrono::seconds redirect_hook_timeout{30};  ///< then the hook's process group gets SIGKILL
  std::string metrics_listener;         ///< "host:port" for watch's /metrics /healthz /status, "" = off
  std::chrono::seconds watch_interval{2};
  bool watch_fence_stale_primary = true;  ///< watch fences a primary-role region state.json does not name
  bool watch_auto_resume = true;  ///< watch resumes a pending operation whose ferry-dr died (lock free)
  std::string log_level = "info";
  std::map<std::string, RegionConfig> regions;  ///< by name, >= 2
  std::vector<FlowConfig> flows;                ///< may be empty
  PolicyConfig policy;

  /// The region `name`. Throws config::ConfigError "unknown region 'x'; expected one of: a, b"
  /// (ferry-dr maps it to exit 2).
  const RegionConfig& region(const std::string& name) const;
  /// The flow source -> target, or nullptr when none is configured.
  const FlowConfig* flow(const std::string& source, const std::string& target) const;
};

/// Keys of [dr].
const config::Schema& dr_schema();
/// Keys of [regions.<name>] (the `client` sub-table is free-form).
const config::Schema& region_schema();
/// Keys of a [[flows]] entry.
const config::Schema& flow_schema();
/// Keys of [policy].
const config::Schema& policy_schema();

/// Parses and validates a configuration; `origin` names the source in errors. Throws
/// config::ConfigError naming the section, the key, the value and what was expected for: TOML
/// syntax errors, unknown sections or keys, wrong types or ranges, a missing required key, fewer
/// than two regions, a region name outside [A-Za-z0-9._-]+, a flow naming an unknown region or
/// going from a region to itself, a duplicate flow, a URL that is not http://host:port[/path], a
/// listener that is not host:port, and client properties that are not scalars or that librdkafka
/// refuses (unknown name, invalid value).
DrConfig load_dr_config(const std::string& toml_text, const std::string& origin);

/// Reads and parses a file; a missing or unreadable file throws config::ConfigError.
DrConfig load_dr_config_file(const std::filesystem::path& path);

/// Markdown reference of every key (docs/dr-config.md), printed by `ferry-dr --config-reference`.
std::string dr_config_reference();

/// Checks an http(s) URL ("http[s]://host[:port][/path]"); returns "" when valid, else what is
/// wrong (libcurl does the TLS for https with the system CA store).
std::string check_http_url(const std::string& url);

}  // namespace ferry::dr
