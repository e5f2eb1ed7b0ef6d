#include "bench/client_properties.h"

#include <fmt/format.h>

#include <map>

#include "common/client_properties.h"

namespace ferry::bench {

namespace {
constexpr const char* kPasswordFile = "sasl.password.file";
constexpr const char* kPasswordEnv = "sasl.password.env";
}  // namespace

std::string parse_client_property(const std::string& arg, std::pair<std::string, std::string>& out) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) return "expects KEY=VALUE";
  std::string key = arg.substr(0, eq);
  if (key == "sasl.password") {
    return "a password on the command line is readable by every local user; use "
           "sasl.password.file=PATH or sasl.password.env=NAME";
  }
  if (key == "bootstrap.servers") return "use --bootstrap (and the mode's own address flags)";
  out = {std::move(key), arg.substr(eq + 1)};
  return {};
}

std::string resolve_password(ClientProperties& props) {
  // The resolution itself is common/'s, shared with the mirror, ferry-dr and ferry-admin.
  std::map<std::string, std::string> secrets;
  ClientProperties kept;
  for (auto& [k, v] : props) {
    if (k == kPasswordFile || k == kPasswordEnv || k == "sasl.password")
      secrets[k] = v;
    else
      kept.emplace_back(k, v);
  }
  if (secrets.empty()) return {};
  try {
    config::resolve_client_secrets(secrets, "ferry-bench -X");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  for (auto& [k, v] : secrets) kept.emplace_back(k, v);
  props = std::move(kept);
  return {};
}

bool is_secret_property(const std::string& key) { return config::is_secret_property(key); }

}  // namespace ferry::bench
