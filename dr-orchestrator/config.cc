#include "dr-orchestrator/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <regex>
#include <set>

#include "client/kafka.h"
#include "common/client_properties.h"

namespace ferry::dr {

using config::ConfigError;

namespace {

using config::load_table;
using config::toml_quoted;

bool valid_name(const std::string& s) {
  static const std::regex re("[A-Za-z0-9._-]+");
  return std::regex_match(s, re);
}

RegionConfig load_region(const std::string& name, const toml::node& node, const std::string& origin) {
  const std::string where = fmt::format("{} [regions.{}]", origin, name);
  if (!valid_name(name))
    throw ConfigError(fmt::format("{}: region name {} is invalid; expected one or more of [A-Za-z0-9._-]", origin,
                                  toml_quoted(name)));
  config::ClusterTable t = config::split_cluster_table(node, where, "regions." + name);
  RegionConfig r;
  r.name = name;
  r.client = std::move(t.client);
  config::Values v = load_table(region_schema(), t.keys, where);
  r.bootstrap_servers = v.get_string("bootstrap.servers");
  if (r.bootstrap_servers.empty())
    throw ConfigError(fmt::format("{}: key 'bootstrap.servers' has value \"\"; expected host:port[,host:port...]", where));
  // librdkafka checks names and values when the configuration is built; doing it here makes a bad
  // property a configuration error (exit 2) instead of a region that looks down.
  try {
    rd_kafka_conf_destroy(client::make_conf(r.properties()));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{} client: {}", where, e.what()));
  }
  r.metrics_url = v.get_string("metrics.url");
  if (!r.metrics_url.empty()) {
    if (std::string why = check_http_url(r.metrics_url); !why.empty())
      throw ConfigError(fmt::format("{}: key 'metrics.url' has value {}; expected http[s]://host[:port][/path] ({})",
                                    where, toml_quoted(r.metrics_url), why));
  }
  return r;
}

FlowConfig load_flow(const toml::node& node, size_t index, const std::map<std::string, RegionConfig>& regions,
                     const std::string& origin) {
  std::string where = fmt::format("{} [[flows]] #{}", origin, index + 1);
  const toml::table* table = node.as_table();
  if (!table) throw ConfigError(fmt::format("{}: expected a table", where));
  config::Values v = load_table(flow_schema(), *table, where);
  FlowConfig f;
  f.source = v.get_string("source");
  f.target = v.get_string("target");
  std::vector<std::string> names;
  for (const auto& [n, _] : regions) names.push_back(n);
  for (const char* key : {"source", "target"}) {
    const std::string& name = v.get_string(key);
    if (!regions.count(name))
      throw ConfigError(fmt::format("{}: key '{}' has value {}; expected one of the [regions]: {}", where, key,
                                    toml_quoted(name), fmt::join(names, ", ")));
  }
  if (f.source == f.target)
    throw ConfigError(fmt::format("{}: keys 'source' and 'target' are both {}; a flow goes from one region to another",
                                  where, toml_quoted(f.source)));
  f.status_urls = v.get_list("status.urls");
  if (f.status_urls.empty())
    throw ConfigError(fmt::format("{}: key 'status.urls' is empty; expected the base URL of every ferry-mirror process "
                                  "running {}->{}",
                                  where, f.source, f.target));
  for (auto& url : f.status_urls) {
    if (std::string why = check_http_url(url); !why.empty())
      throw ConfigError(fmt::format("{}: key 'status.urls' has value {}; expected http[s]://host:port ({})", where,
                                    toml_quoted(url), why));
    while (!url.empty() && url.back() == '/') url.pop_back();
  }
  return f;
}

}  // namespace

std::map<std::string, std::string> RegionConfig::properties() const {
  auto p = client;
  p["bootstrap.servers"] = bootstrap_servers;
  return p;
}

const RegionConfig& DrConfig::region(const std::string& name) const {
  auto it = regions.find(name);
  if (it == regions.end()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : regions) names.push_back(n);
    throw ConfigError(fmt::format("unknown region {}; expected one of: {}", toml_quoted(name), fmt::join(names, ", ")));
  }
  return it->second;
}

const FlowConfig* DrConfig::flow(const std::string& source, const std::string& target) const {
  for (const auto& f : flows)
    if (f.source == source && f.target == target) return &f;
  return nullptr;
}

std::string check_http_url(const std::string& url) {
  static const std::regex re(R"(^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:([0-9]{1,5}))?(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, re)) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return "scheme must be http or https";
    return "not a valid URL";
  }
  if (m[4].matched && std::stoi(m[4].str()) > 65535) return "port above 65535";
  return "";
}

const config::Schema& dr_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_required_string("state.dir",
                          "Directory of ferry-dr's durable state: `lock`, `journal.jsonl`, `state.json` and reports. "
                          "Created if missing. Keep it on a local disk of the machine that runs ferry-dr.")
        .add_string("audit.log", "", "Audit log file (JSON lines, hash-chained); \"\" means `<state.dir>/audit.jsonl`.")
        .add_required_string("bootstrap.file",
                             "Client-routing target: a file holding the current primary's bootstrap.servers, "
                             "replaced atomically at failover/failback.")
        .add_string("redirect.hook", "",
                    "Optional command run with /bin/sh -c after the bootstrap file is replaced; environment "
                    "FERRY_DR_PRIMARY (region name) and FERRY_DR_BOOTSTRAP (its bootstrap.servers). \"\" = none.")
        .add_int("redirect.hook.timeout.seconds", 30, 1, 86400,
                 "Seconds the redirect hook may run (until its shell exits and its output is closed); then it and "
                 "every process it started get SIGKILL and the redirect step fails, naming the hook and this "
                 "timeout (the operation stays pending for `ferry-dr resume`).")
        .add_string("metrics.listener", "127.0.0.1:9405",
                    "host:port where `ferry-dr watch` serves /metrics (Prometheus), /status (JSON) and /healthz; "
                    "port 0 picks a free port; \"\" turns the endpoint off.")
        .add_int("watch.interval.seconds", 2, 1, 86400, "Seconds between two evaluations of `ferry-dr watch`.")
        .add_bool("watch.fence.stale.primary", true,
                  "`ferry-dr watch` fences (sets ferry.cluster.role=standby on) a region that answers in the "
                  "primary role while state.json names another region primary, e.g. an old primary that "
                  "returns after an unplanned failover, so applications still pointed at it get an error "
                  "instead of writing to a cluster nobody reads (split brain). Skipped while an operation holds "
                  "the lock or is pending. Every fence is audited. Before the first failover (no state.json) "
                  "it fences a region that answers primary while it is the target of a running flow.")
        .add_bool("watch.auto.resume", true,
                  "`ferry-dr watch` finishes an operation left pending by a ferry-dr that died (for instance "
                  "killed between fencing the old primary and promoting the new one, when no region accepts "
                  "writes): when the journal has a pending operation and nobody holds `<state.dir>/lock` (the "
                  "kernel released the dead holder's flock), watch takes the lock and runs `ferry-dr resume`, "
                  "audited as \"watch resume\". A pending operation is reported unhealthy either way. false "
                  "leaves it to an operator.")
        .add_enum("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
                  "Log level (stderr).");
    return s;
  }();
  return schema;
}

const config::Schema& region_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_required_string("bootstrap.servers",
                          "Comma-separated host:port list of the region's brokers (librdkafka bootstrap.servers).")
        .add_string("metrics.url", "",
                    "A broker's Prometheus endpoint (http://host:port/metrics); when set, every probe scrapes it "
                    "and a failed scrape makes the region degraded. \"\" = not scraped.");
    return s;
  }();
  return schema;
}

const config::Schema& flow_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_required_string("source", "Region the flow reads from (a [regions] name).")
        .add_required_string("target", "Region the flow writes to (a [regions] name, not the source).")
        .add_list("status.urls", {},
                  "Base URL (http://host:port) of the status listener of every ferry-mirror process running this "
                  "flow; at least one. ferry-dr needs all of them: with several processes each holds a share of "
                  "the partitions, and pausing must reach every one.");
    return s;
  }();
  return schema;
}

const config::Schema& policy_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_int("max.data.loss.records", 0, 0, INT64_MAX,
              "Records an unplanned failover may lose without --force (the sum over partitions of what the "
              "source holds and the target does not). Also the health threshold: a flow whose lag exceeds it "
              "is `lagging`.")
        .add_int("drain.timeout.seconds", 60, 1, 86400,
                 "Planned failover: how long the mirror may take to replicate everything (lag 0) after the old "
                 "primary is fenced.")
        .add_int("heartbeat.max.age.seconds", 30, 1, 86400,
                 "A flow whose newest replicated heartbeat is older than this is `stale`.")
        .add_int("checkpoint.max.age.seconds", 60, 1, 86400,
                 "A flow whose last checkpoint pass is older than this is `stale`.");
    return s;
  }();
  return schema;
}

DrConfig load_dr_config(const std::string& toml_text, const std::string& origin) {
  const toml::table root = config::parse_toml_document(toml_text, origin);
  auto sections = config::top_level_sections(root, origin, {{"dr"}, {"regions"}, {"policy"}, {"flows", true}},
                                             "[dr], [regions.<name>], [[flows]] and [policy]");
  const toml::table empty;
  const toml::table* dr = sections["dr"] ? sections["dr"]->as_table() : nullptr;
  const toml::table* regions = sections["regions"] ? sections["regions"]->as_table() : &empty;
  const toml::table* policy = sections["policy"] ? sections["policy"]->as_table() : &empty;
  const toml::array* flows = sections["flows"] ? sections["flows"]->as_array() : nullptr;
  if (!dr) throw ConfigError(fmt::format("{}: missing section [dr]; expected at least \"state.dir\" and "
                                         "\"bootstrap.file\"",
                                         origin));

  DrConfig out;
  config::Values dv = load_table(dr_schema(), *dr, origin + " [dr]");
  out.state_dir = dv.get_string("state.dir");
  if (out.state_dir.empty())
    throw ConfigError(fmt::format("{} [dr]: key 'state.dir' has value \"\"; expected a directory path", origin));
  out.audit_log = dv.get_string("audit.log").empty() ? out.state_dir / "audit.jsonl"
                                                     : std::filesystem::path(dv.get_string("audit.log"));
  out.audit_anchor = out.state_dir / "audit-anchor.json";
  out.bootstrap_file = dv.get_string("bootstrap.file");
  if (out.bootstrap_file.empty())
    throw ConfigError(fmt::format("{} [dr]: key 'bootstrap.file' has value \"\"; expected a file path", origin));
  out.redirect_hook = dv.get_string("redirect.hook");
  out.redirect_hook_timeout = std::chrono::seconds(dv.get_int("redirect.hook.timeout.seconds"));
  out.metrics_listener = dv.get_string("metrics.listener");
  if (!out.metrics_listener.empty() && !config::is_host_port(out.metrics_listener))
    throw ConfigError(fmt::format("{} [dr]: key 'metrics.listener' has value {}; expected host:port (port 0-65535, "
                                  "IPv6 host in brackets) or \"\" for off",
                                  origin, toml_quoted(out.metrics_listener)));
  out.watch_interval = std::chrono::seconds(dv.get_int("watch.interval.seconds"));
  out.watch_fence_stale_primary = dv.get_bool("watch.fence.stale.primary");
  out.watch_auto_resume = dv.get_bool("watch.auto.resume");
  out.log_level = dv.get_string("log.level");

  for (auto& [key, node] : *regions) {
    std::string name(key.str());
    out.regions.emplace(name, load_region(name, node, origin));
  }
  if (out.regions.size() < 2)
    throw ConfigError(fmt::format("{}: [regions] defines {} region(s){}; expected at least two (a primary and a "
                                  "standby)",
                                  origin, out.regions.size(),
                                  out.regions.empty() ? "" : " (" + out.regions.begin()->first + ")"));

  if (flows) {
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < flows->size(); ++i) {
      FlowConfig f = load_flow((*flows)[i], i, out.regions, origin);
      if (!seen.emplace(f.source, f.target).second)
        throw ConfigError(fmt::format("{} [[flows]] #{}: duplicate flow {}; each source -> target pair may appear once",
                                      origin, i + 1, f.name()));
      out.flows.push_back(std::move(f));
    }
  }

  config::Values pv = load_table(policy_schema(), *policy, origin + " [policy]");
  out.policy.max_data_loss_records = pv.get_int("max.data.loss.records");
  out.policy.drain_timeout = std::chrono::seconds(pv.get_int("drain.timeout.seconds"));
  out.policy.heartbeat_max_age = std::chrono::seconds(pv.get_int("heartbeat.max.age.seconds"));
  out.policy.checkpoint_max_age = std::chrono::seconds(pv.get_int("checkpoint.max.age.seconds"));
  return out;
}

DrConfig load_dr_config_file(const std::filesystem::path& path) {
  return load_dr_config(config::read_config_text(path), path.string());
}

std::string dr_config_reference() {
  std::string out =
      "# ferry-dr configuration reference\n\n"
      "Generated by `ferry-dr --config-reference` from the key tables in dr-orchestrator/config.cc; do not edit by "
      "hand. The health model, journal, audit log and exit codes are in [dr.md](dr.md).\n\n"
      "One TOML file. Dotted keys (`log.level = ...`) and quoted keys (`\"log.level\" = ...`) are the same key; "
      "quote keys that extend another key's name. Unknown sections and keys are errors.\n\n"
      "```toml\n"
      "[dr]\n"
      "\"state.dir\" = \"/var/lib/ferry-dr\"\n"
      "\"bootstrap.file\" = \"/etc/ferry/bootstrap.servers\"\n"
      "\"metrics.listener\" = \"127.0.0.1:9405\"\n\n"
      "[regions.east]\n"
      "\"bootstrap.servers\" = \"10.0.0.1:9092\"\n"
      "\"metrics.url\" = \"http://10.0.0.1:9404/metrics\"\n"
      "[regions.east.client]              # librdkafka properties, passed verbatim\n"
      "\"security.protocol\" = \"plaintext\"\n\n"
      "[regions.west]\n"
      "\"bootstrap.servers\" = \"10.1.0.1:9092\"\n\n"
      "[[flows]]\n"
      "source = \"east\"\n"
      "target = \"west\"\n"
      "\"status.urls\" = [\"http://10.1.0.5:8083\"]\n\n"
      "[policy]\n"
      "\"max.data.loss.records\" = 0\n"
      "```\n\n"
      "## `[dr]`\n\n";
  out += dr_schema().markdown_reference();
  out +=
      "\n## `[regions.<name>]`\n\n"
      "At least two regions. The name is one or more of `[A-Za-z0-9._-]`; it is what `--to` and the flows "
      "refer to and should be the mirror's cluster alias for the same cluster.\n\n";
  out += region_schema().markdown_reference();
  out +=
      "\nThe optional `[regions.<name>.client]` table holds librdkafka properties (strings, integers, floats, "
      "booleans; nested tables flatten to dotted names) for ferry-dr's Kafka clients of that region, including the "
      "IncrementalAlterConfigs client that writes `ferry.cluster.role` (every `security.protocol`; SASL PLAIN, "
      "SCRAM-SHA-256, SCRAM-SHA-512). Give the password as `sasl.password.file` (a file holding it) or "
      "`sasl.password.env` (an environment variable's name) rather than a literal `sasl.password`.\n\n"
      "## `[[flows]]`\n\n"
      "One entry per mirror flow (each source -> target pair at most once; source and target differ). Zero flows "
      "is allowed (health only).\n\n";
  out += flow_schema().markdown_reference();
  out += "\n## `[policy]`\n\n";
  out += policy_schema().markdown_reference();
  return out;
}

}  // namespace ferry::dr
