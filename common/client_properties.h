// TOML helpers shared by the daemons whose config names Kafka clusters (ferry-mirror, ferry-dr).
#pragma once

#include <toml++/toml.h>

#include <map>
#include <string>

namespace ferry::config {

/// Flattens a `[... .client]` TOML table of librdkafka properties into `out`: nested tables become
/// dotted names (`ssl.ca.location`), strings/integers/floats/booleans become librdkafka's text form.
/// `prefix` is the dotted name of `t` itself ("" at the top); `where` names the table in errors.
/// Throws ConfigError naming the property and its value for arrays and other non-scalar values
/// (librdkafka takes lists as one comma-separated string).
void flatten_client_properties(const toml::table& t, const std::string& prefix, const std::string& where,
                               std::map<std::string, std::string>& out);

/// Whether `s` is "host:port" or "[v6]:port" with a port of 0..65535 (0 = any free port), the
/// form of the daemons' HTTP listener keys.
bool is_host_port(const std::string& s);

}  // namespace ferry::config
