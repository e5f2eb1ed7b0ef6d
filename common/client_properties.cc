#include "common/client_properties.h"

#include <fmt/format.h>

#include <sstream>

#include "common/config.h"

namespace ferry::config {

void flatten_client_properties(const toml::table& t, const std::string& prefix, const std::string& where,
                               std::map<std::string, std::string>& out) {
  for (auto& [k, node] : t) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto sub = node.as_table()) {
      flatten_client_properties(*sub, name, where, out);
    } else if (auto s = node.value_exact<std::string>()) {
      out[name] = *s;
    } else if (auto i = node.value_exact<int64_t>()) {
      out[name] = std::to_string(*i);
    } else if (auto b = node.value_exact<bool>()) {
      out[name] = *b ? "true" : "false";
    } else if (auto d = node.value_exact<double>()) {
      out[name] = fmt::format("{}", *d);
    } else {
      std::ostringstream shown;
      node.visit([&](auto&& v) {
        if constexpr (requires { shown << toml::toml_formatter{v}; }) shown << toml::toml_formatter{v};
      });
      throw ConfigError(fmt::format("{}: client property '{}' has value {}; expected a string, integer, float or "
                                    "boolean (librdkafka takes lists as one comma-separated string)",
                                    where, name, shown.str()));
    }
  }
}

bool is_host_port(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size() || s.size() - colon - 1 > 5) return false;
  std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  for (char c : port)
    if (c < '0' || c > '9') return false;
  if (std::stoi(port) > 65535) return false;
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string::npos && host.find_first_of(" \t/") == std::string::npos;
}

}  // namespace ferry::config
