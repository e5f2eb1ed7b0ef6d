#include "common/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "common/client_properties.h"

namespace ferry::config {
namespace {

const char* type_name(Type t) {
  switch (t) {
    case Type::Int:
      return "integer";
    case Type::Bool:
      return "boolean";
    case Type::String:
      return "string";
    case Type::Enum:
      return "string (one of a set)";
    case Type::List:
      return "list of strings (TOML array or comma-separated string)";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, ',')) {
    size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
  }
  return out;
}

std::string expectation(const KeySpec& k) {
  switch (k.type) {
    case Type::Int:
      if (k.min == INT64_MIN && k.max == INT64_MAX) return "an integer";
      if (k.max == INT64_MAX) return fmt::format("an integer >= {}", k.min);
      return fmt::format("an integer in [{}, {}]", k.min, k.max);
    case Type::Bool:
      return "true or false";
    case Type::String:
      return "a string";
    case Type::Enum:
      return "one of: " + join(k.allowed, ", ");
    case Type::List:
      return "a list of strings";
  }
  return "?";
}

// Renders a TOML node as it would be written (strings quoted), for error messages.
std::string show(const toml::node& n) {
  std::ostringstream os;
  n.visit([&](auto&& v) {
    if constexpr (requires { os << toml::toml_formatter{v}; })
      os << toml::toml_formatter{v};
    else
      os << "<table>";
  });
  return os.str();
}

// Converts a TOML node to a Value of the key's declared type, or throws with key, value, expectation.
Value from_toml(const KeySpec& k, const toml::node& n, const std::string& origin) {
  auto fail = [&](const std::string& shown) -> Value {
    throw ConfigError(fmt::format("{}: key '{}' has value {}; expected {}", origin, k.name, shown,
                                  expectation(k)));
  };
  const std::string shown_text = show(n);
  switch (k.type) {
    case Type::Int:
      if (auto v = n.value_exact<int64_t>()) return *v;
      return fail(shown_text);
    case Type::Bool:
      if (auto v = n.value_exact<bool>()) return *v;
      return fail(shown_text);
    case Type::String:
    case Type::Enum:
      if (auto v = n.value_exact<std::string>()) return *v;
      return fail(shown_text);
    case Type::List:
      if (auto v = n.value_exact<std::string>()) return split_csv(*v);
      if (auto arr = n.as_array()) {
        std::vector<std::string> out;
        for (auto& e : *arr) {
          auto s = e.value_exact<std::string>();
          if (!s) return fail(shown_text);
          out.push_back(*s);
        }
        return out;
      }
      return fail(shown_text);
  }
  return fail(shown_text);
}

void flatten(const toml::table& t, const std::string& prefix,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto& [key, node] : t) {
    std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (auto sub = node.as_table())
      flatten(*sub, name, out);
    else
      out.emplace_back(name, &node);
  }
}

}  // namespace

std::string to_toml(const Value& v) {
  if (auto i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  auto& l = std::get<std::vector<std::string>>(v);
  std::string out = "[";
  for (size_t i = 0; i < l.size(); ++i) out += (i ? ", \"" : "\"") + l[i] + "\"";
  return out + "]";
}

std::string to_kafka_string(const Value& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s;
  if (auto l = std::get_if<std::vector<std::string>>(&v)) return join(*l, ",");
  return to_toml(v);
}

Schema& Schema::add_int(std::string name, int64_t def, int64_t min, int64_t max, std::string doc) {
  keys_.push_back({std::move(name), Type::Int, def, min, max, {}, std::move(doc)});
  return *this;
}
Schema& Schema::add_bool(std::string name, bool def, std::string doc) {
  keys_.push_back({std::move(name), Type::Bool, def, INT64_MIN, INT64_MAX, {}, std::move(doc)});
  return *this;
}
Schema& Schema::add_string(std::string name, std::string def, std::string doc) {
  keys_.push_back({std::move(name), Type::String, std::move(def), INT64_MIN, INT64_MAX, {}, std::move(doc)});
  return *this;
}
Schema& Schema::add_required_string(std::string name, std::string doc) {
  KeySpec k{std::move(name), Type::String, std::string{}, INT64_MIN, INT64_MAX, {}, std::move(doc)};
  k.required = true;
  k.has_default = false;
  keys_.push_back(std::move(k));
  return *this;
}
Schema& Schema::add_enum(std::string name, std::string def, std::vector<std::string> allowed, std::string doc) {
  keys_.push_back({std::move(name), Type::Enum, std::move(def), INT64_MIN, INT64_MAX, std::move(allowed), std::move(doc)});
  return *this;
}
Schema& Schema::add_list(std::string name, std::vector<std::string> def, std::string doc) {
  keys_.push_back({std::move(name), Type::List, std::move(def), INT64_MIN, INT64_MAX, {}, std::move(doc)});
  return *this;
}

const KeySpec* Schema::find(const std::string& name) const {
  for (const auto& k : keys_)
    if (k.name == name) return &k;
  if (auto parts = split_listener_override(name); parts && is_per_listener(parts->second)) return find(parts->second);
  return nullptr;
}

Schema& Schema::allow_per_listener(const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    if (find(k) == nullptr) throw std::logic_error("allow_per_listener: undeclared key " + k);
    per_listener_.push_back(k);
  }
  return *this;
}

bool Schema::is_per_listener(const std::string& key) const {
  return std::find(per_listener_.begin(), per_listener_.end(), key) != per_listener_.end();
}

std::optional<std::pair<std::string, std::string>> split_listener_override(const std::string& name) {
  static constexpr std::string_view kPrefix = "listener.name.";
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  auto dot = name.find('.', kPrefix.size());
  if (dot == std::string::npos || dot == kPrefix.size() || dot + 1 >= name.size()) return std::nullopt;
  return std::pair{name.substr(kPrefix.size(), dot - kPrefix.size()), name.substr(dot + 1)};
}

std::string listener_prefix_name(std::string_view listener) {
  std::string lower(listener);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

std::string listener_override_key(std::string_view listener, std::string_view key) {
  return fmt::format("listener.name.{}.{}", listener_prefix_name(listener), key);
}

const Value& listener_value(const Values& values, const std::string& listener, const std::string& key) {
  const std::string override_key = listener_override_key(listener, key);
  if (values.is_set(override_key)) return values.get(override_key);
  return values.get(key);
}

void Schema::validate(const std::string& name, const Value& v) const {
  const KeySpec* k = find(name);
  if (!k) throw ConfigError(fmt::format("unknown configuration key '{}'", name));
  auto fail = [&] {
    throw ConfigError(fmt::format("key '{}' has value {}; expected {}", name, to_toml(v), expectation(*k)));
  };
  switch (k->type) {
    case Type::Int: {
      auto i = std::get_if<int64_t>(&v);
      if (!i || *i < k->min || *i > k->max) fail();
      break;
    }
    case Type::Bool:
      if (!std::holds_alternative<bool>(v)) fail();
      break;
    case Type::String:
      if (!std::holds_alternative<std::string>(v)) fail();
      break;
    case Type::Enum: {
      auto s = std::get_if<std::string>(&v);
      if (!s || std::find(k->allowed.begin(), k->allowed.end(), *s) == k->allowed.end()) fail();
      break;
    }
    case Type::List:
      if (!std::holds_alternative<std::vector<std::string>>(v)) fail();
      break;
  }
}

Value Schema::parse_text(const std::string& name, const std::string& text) const {
  const KeySpec* k = find(name);
  if (!k) throw ConfigError(fmt::format("unknown configuration key '{}'", name));
  Value v;
  switch (k->type) {
    case Type::Int: {
      size_t used = 0;
      int64_t i = 0;
      try {
        i = std::stoll(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != text.size())
        throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected {}", name, text, expectation(*k)));
      v = i;
      break;
    }
    case Type::Bool:
      if (text == "true")
        v = true;
      else if (text == "false")
        v = false;
      else
        throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected true or false", name, text));
      break;
    case Type::List:
      v = split_csv(text);
      break;
    default:
      v = text;
  }
  validate(name, v);
  return v;
}

std::string Schema::help_text() const {
  std::string out;
  for (const auto& k : keys_) {
    out += fmt::format("  {}  ({}{})\n", k.name, type_name(k.type),
                       k.required ? ", required" : ", default " + to_toml(k.default_value));
    if (k.type == Type::Int && (k.min != INT64_MIN || k.max != INT64_MAX))
      out += fmt::format("      valid: {}\n", expectation(k));
    if (k.type == Type::Enum) out += fmt::format("      valid: {}\n", join(k.allowed, ", "));
    out += fmt::format("      {}\n", k.doc);
  }
  return out;
}

std::string Schema::markdown_reference() const {
  std::string out = "| key | type | default | valid values | description |\n|---|---|---|---|---|\n";
  for (const auto& k : keys_) {
    std::string valid = k.type == Type::Int || k.type == Type::Enum ? expectation(k) : "";
    // Formatted rather than concatenated: GCC 12 at -O3 reports a false -Wrestrict on "`" + s + "`".
    const std::string def = k.required ? std::string("(required)") : fmt::format("`{}`", to_toml(k.default_value));
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.name, type_name(k.type), def, valid, k.doc);
  }
  return out;
}

const Value& Values::lookup(const std::string& name) const {
  if (auto it = set_.find(name); it != set_.end()) return it->second;
  const KeySpec* k = schema_->find(name);
  if (!k) throw ConfigError(fmt::format("unknown configuration key '{}'", name));
  return k->default_value;
}

const Value& Values::get(const std::string& name) const { return lookup(name); }
int64_t Values::get_int(const std::string& name) const { return std::get<int64_t>(lookup(name)); }
bool Values::get_bool(const std::string& name) const { return std::get<bool>(lookup(name)); }
const std::string& Values::get_string(const std::string& name) const {
  return std::get<std::string>(lookup(name));
}
const std::vector<std::string>& Values::get_list(const std::string& name) const {
  return std::get<std::vector<std::string>>(lookup(name));
}

void Values::set(const std::string& name, Value v) {
  schema_->validate(name, v);
  set_[name] = std::move(v);
}

toml::table parse_toml_document(const std::string& text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}: invalid TOML at line {}, column {}: {}", origin, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
}

std::string read_config_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("cannot read config file '{}'", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Values load_table(const Schema& schema, const toml::table& table, const std::string& origin) {
  std::vector<std::pair<std::string, const toml::node*>> flat;
  flatten(table, "", flat);
  Values values(schema);
  for (auto& [name, node] : flat) {
    const KeySpec* k = schema.find(name);
    if (!k) {
      throw ConfigError(fmt::format("{}: unknown key '{}' (value {}); see --help for the accepted keys",
                                    origin, name, show(*node)));
    }
    Value v = from_toml(*k, *node, origin);
    try {
      values.set(name, std::move(v));
    } catch (const ConfigError& e) {
      throw ConfigError(origin + ": " + e.what());
    }
  }
  for (const auto& k : schema.keys())
    if (k.required && !values.is_set(k.name))
      throw ConfigError(fmt::format("{}: required key '{}' is missing; expected {}", origin, k.name, expectation(k)));
  return values;
}

Values load_toml(const Schema& schema, const std::string& text, const std::string& origin) {
  return load_table(schema, parse_toml_document(text, origin), origin);
}

Values load_toml_file(const Schema& schema, const std::filesystem::path& path) {
  return load_toml(schema, read_config_text(path), path.string());
}

}  // namespace ferry::config
