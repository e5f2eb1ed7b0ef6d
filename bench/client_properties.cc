#include "bench/client_properties.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

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
  std::string file;
  std::string env;
  ClientProperties kept;
  for (auto& [k, v] : props) {
    if (k == kPasswordFile) {
      file = v;
    } else if (k == kPasswordEnv) {
      env = v;
    } else {
      kept.emplace_back(k, v);
    }
  }
  if (!file.empty() && !env.empty()) {
    return fmt::format("give {} or {}, not both", kPasswordFile, kPasswordEnv);
  }
  std::string password;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fmt::format("{}: cannot read '{}'", kPasswordFile, file);
    std::ostringstream text;
    text << in.rdbuf();
    password = text.str();
    if (password.ends_with("\r\n")) {
      password.resize(password.size() - 2);
    } else if (password.ends_with('\n')) {
      password.pop_back();
    }
  } else if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) return fmt::format("{}: variable '{}' is not set", kPasswordEnv, env);
    password = value;
  } else {
    return {};
  }
  kept.emplace_back("sasl.password", std::move(password));
  props = std::move(kept);
  return {};
}

bool is_secret_property(const std::string& key) {
  return key.find("password") != std::string::npos;
}

}  // namespace ferry::bench
