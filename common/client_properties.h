// TOML helpers shared by the daemons whose config is one document of sections naming Kafka clusters
// (ferry-mirror's [clusters.<alias>], ferry-dr's [regions.<name>]), on top of common/config.h.
#pragma once

#include <toml++/toml.h>

#include <map>
#include <string>
#include <vector>

#include "common/config.h"

namespace ferry::config {

/// Flattens a `[... .client]` TOML table of librdkafka properties into `out`: nested tables become
/// dotted names (`ssl.ca.location`), strings/integers/floats/booleans become librdkafka's text form.
/// `prefix` is the dotted name of `t` itself ("" at the top); `where` names the table in errors.
/// Throws ConfigError naming the property and its value for arrays and other non-scalar values
/// (librdkafka takes lists as one comma-separated string).
void flatten_client_properties(const toml::table& t, const std::string& prefix, const std::string& where,
                               std::map<std::string, std::string>& out);

/// Parses a whole TOML document. `origin` names it in errors. Throws ConfigError
/// "<origin>: invalid TOML at line L, column C: <why>" (toml++'s description).
toml::table parse_toml_document(const std::string& text, const std::string& origin);

/// Loads one parsed table (a section of a document) through `schema`, with load_toml's rules and
/// errors; `origin` names the section in errors (e.g. "ferry.toml [mirror]").
Values load_table(const Schema& schema, const toml::table& table, const std::string& origin);

/// One top-level section a document may hold: `[name]` (or `[name.<x>]`), or `[[name]]` when
/// `array`.
struct SectionSpec {
  std::string name;
  bool array = false;
};

/// The top-level sections of `root`, by name; a section that is absent maps to nullptr. Throws
/// ConfigError naming `origin` and the key for a top-level key that is not one of `sections`
/// ("unknown section or key 'x'; expected <expected>") and for a section of the wrong kind
/// ("'flows' must be an array of tables ([[flows]])", "'mirror' must be a table ([mirror])").
std::map<std::string, const toml::node*> top_level_sections(const toml::table& root, const std::string& origin,
                                                             const std::vector<SectionSpec>& sections,
                                                             const std::string& expected);

/// A Kafka cluster's table ([clusters.<alias>], [regions.<name>]) split in two: its own keys, for
/// its schema, and its optional `client` sub-table flattened to librdkafka properties
/// (flatten_client_properties). `where` names the table in errors, `section` is its header without
/// brackets ("regions.east"). Throws ConfigError when the node is not a table, when `client` is not
/// a table, and when the client table sets bootstrap.servers (it belongs to the cluster's table).
struct ClusterTable {
  toml::table keys;
  std::map<std::string, std::string> client;
};
ClusterTable split_cluster_table(const toml::node& node, const std::string& where, const std::string& section);

/// Resolves Ferry's own secret indirections in a librdkafka property map, in place, before
/// librdkafka (or client/wire_client) sees it: `sasl.password.file` = a path whose contents (one
/// trailing "\n" or "\r\n" stripped) become `sasl.password`; `sasl.password.env` = the name of an
/// environment variable whose value becomes `sasl.password`. Both keys are removed. These two keys
/// are Ferry's, not librdkafka's; they keep passwords out of command lines and config files.
/// `where` names the source in errors. Throws ConfigError when more than one of sasl.password,
/// sasl.password.file and sasl.password.env is set, the file cannot be read, or the variable is
/// unset; messages name the file or the variable, never a password.
void resolve_client_secrets(std::map<std::string, std::string>& props, const std::string& where);

/// Whether a client property holds a secret that must never be printed: any key ending in
/// "password" (sasl.password, ssl.key.password, ssl.keystore.password, ...).
bool is_secret_property(const std::string& key);

/// `value`, or "[redacted]" when is_secret_property(key): for anything that prints properties.
std::string shown_property_value(const std::string& key, const std::string& value);

/// `s` as a TOML basic string with its quotes ("a\"b"), the form errors show values in.
std::string toml_quoted(const std::string& s);

/// Whether `s` is "host:port" or "[v6]:port" with a port of 0..65535 (0 = any free port), the
/// form of the daemons' HTTP listener keys.
bool is_host_port(const std::string& s);

}  // namespace ferry::config
