#include "common/client_properties.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
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
                                    where, name, shown_property_value(name, shown.str())));
    }
  }
}

std::map<std::string, const toml::node*> top_level_sections(const toml::table& root, const std::string& origin,
                                                             const std::vector<SectionSpec>& sections,
                                                             const std::string& expected) {
  std::map<std::string, const toml::node*> out;
  for (const SectionSpec& s : sections) out[s.name] = nullptr;
  for (auto& [key, node] : root) {
    std::string name(key.str());
    auto spec = std::find_if(sections.begin(), sections.end(), [&](const SectionSpec& s) { return s.name == name; });
    if (spec == sections.end())
      throw ConfigError(fmt::format("{}: unknown section or key '{}'; expected {}", origin, name, expected));
    if (spec->array ? !node.is_array() : !node.is_table())
      throw ConfigError(fmt::format("{}: '{}' must be {}", origin, name,
                                    spec->array ? "an array of tables ([[" + name + "]])" : "a table ([" + name + "])"));
    out[name] = &node;
  }
  return out;
}

ClusterTable split_cluster_table(const toml::node& node, const std::string& where, const std::string& section) {
  const toml::table* table = node.as_table();
  if (!table) throw ConfigError(fmt::format("{}: expected a table with bootstrap.servers", where));
  ClusterTable out{*table, {}};
  if (const toml::node* client = table->get("client")) {
    const toml::table* ct = client->as_table();
    if (!ct) throw ConfigError(fmt::format("{}: key 'client' must be a table of librdkafka properties", where));
    flatten_client_properties(*ct, "", where + " client", out.client);
    out.keys.erase("client");
  }
  if (out.client.count("bootstrap.servers"))
    throw ConfigError(fmt::format("{}: set bootstrap.servers in [{}] itself, not in its client table", where, section));
  resolve_client_secrets(out.client, where + " client");
  return out;
}

void resolve_client_secrets(std::map<std::string, std::string>& props, const std::string& where) {
  const bool literal = props.count("sasl.password") > 0;
  auto file = props.find("sasl.password.file");
  auto env = props.find("sasl.password.env");
  const int given = int(literal) + int(file != props.end()) + int(env != props.end());
  if (given > 1)
    throw ConfigError(fmt::format("{}: set only one of sasl.password, sasl.password.file and sasl.password.env", where));
  if (file != props.end()) {
    const std::string path = file->second;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: sasl.password.file: cannot read '{}'", where, path));
    std::ostringstream text;
    text << in.rdbuf();
    std::string pw = text.str();
    if (pw.size() >= 1 && pw.back() == '\n') pw.pop_back();
    if (pw.size() >= 1 && pw.back() == '\r') pw.pop_back();
    if (pw.empty()) throw ConfigError(fmt::format("{}: sasl.password.file: '{}' is empty", where, path));
    props.erase(file);
    props["sasl.password"] = std::move(pw);
  } else if (env != props.end()) {
    const std::string name = env->second;
    const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
    if (!v) throw ConfigError(fmt::format("{}: sasl.password.env: environment variable '{}' is not set", where, name));
    props.erase(env);
    props["sasl.password"] = v;
  }
}

bool is_secret_property(const std::string& key) {
  const std::string tail = "password";
  return key.size() >= tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
}

std::string shown_property_value(const std::string& key, const std::string& value) {
  return is_secret_property(key) ? "[redacted]" : value;
}

std::string toml_quoted(const std::string& s) { return to_toml(Value{s}); }

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
