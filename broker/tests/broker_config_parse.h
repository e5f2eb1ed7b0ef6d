// Test support shared by the broker's config tests: a BrokerConfig from TOML text, and the
// ConfigError text a bad one raises.
#pragma once

#include <string>

#include "broker/config/broker_config.h"

namespace ferry::broker {

/// The broker configuration of `toml` (origin "t"), validated as ferry-broker validates its file.
/// Throws config::ConfigError.
inline BrokerConfig parse_broker_config(const std::string& toml) {
  return BrokerConfig(config::load_toml(broker_schema(), toml, "t"));
}

/// The ConfigError message `toml` raises, or "" when it is a valid configuration.
inline std::string broker_config_error(const std::string& toml) {
  try {
    parse_broker_config(toml);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace ferry::broker
