// Declare-once configuration. Each key is declared one time (name, type, default, range, doc);
// TOML loading, validation, `--help` and the Markdown reference in docs/ are all derived from that
// declaration so code and docs cannot drift (the librdkafka CONFIGURATION.md approach).
// Key names are Kafka's where Kafka has the setting. TOML dotted keys (`log.dirs = "..."`, which
// TOML reads as nested tables) and quoted keys (`"log.dirs" = "..."`) flatten to the same name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ferry::config {

/// A configuration value: integer, boolean, string, or list of strings.
using Value = std::variant<int64_t, bool, std::string, std::vector<std::string>>;

enum class Type { Int, Bool, String, Enum, List };

/// One declared key.
struct KeySpec {
  std::string name;
  Type type = Type::String;
  Value default_value;
  int64_t min = INT64_MIN;  // Int only, inclusive
  int64_t max = INT64_MAX;  // Int only, inclusive
  std::vector<std::string> allowed;  // Enum only
  std::string doc;
  bool required = false;
  bool has_default = true;  // false: no value unless set (is_set() tells)
};

/// Raised for any invalid configuration; what() names the key, the value and what was expected.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Renders a value the way it is written in TOML (strings quoted, lists bracketed).
std::string to_toml(const Value& v);
/// Renders a value the way Kafka's DescribeConfigs shows it (lists comma-separated).
std::string to_kafka_string(const Value& v);

/// The set of keys one binary (or one resource type, e.g. topic configs) accepts.
class Schema {
 public:
  Schema& add_int(std::string name, int64_t def, int64_t min, int64_t max, std::string doc);
  Schema& add_bool(std::string name, bool def, std::string doc);
  Schema& add_string(std::string name, std::string def, std::string doc);
  /// A string key that must be set; there is no default.
  Schema& add_required_string(std::string name, std::string doc);
  Schema& add_enum(std::string name, std::string def, std::vector<std::string> allowed, std::string doc);
  Schema& add_list(std::string name, std::vector<std::string> def, std::string doc);

  /// Lets each of `keys` (already declared) also be set for one listener as
  /// `listener.name.<listener>.<key>`, Kafka's per-listener override form (KIP-103; the listener
  /// name is lower case in the prefix, e.g. `listener.name.external.ssl.keystore.location`).
  /// find() then answers such a name with the base key's spec; listener_value() reads it.
  Schema& allow_per_listener(const std::vector<std::string>& keys);
  /// Whether `key` may be overridden per listener.
  bool is_per_listener(const std::string& key) const;

  const std::vector<KeySpec>& keys() const { return keys_; }
  /// The spec of `name`, or of its base key when `name` is a per-listener override; nullptr when
  /// unknown.
  const KeySpec* find(const std::string& name) const;

  /// Parses a value given as text (Kafka's admin APIs carry config values as strings):
  /// integers in decimal, booleans true/false, lists comma-separated. Throws ConfigError.
  Value parse_text(const std::string& name, const std::string& text) const;

  /// Checks type and range of `v` for key `name`. Throws ConfigError naming key, value, expectation.
  void validate(const std::string& name, const Value& v) const;

  /// `--help` text: one block per key with type, default, range and doc.
  std::string help_text() const;
  /// Markdown table for docs/: key, type, default, valid values, description.
  std::string markdown_reference() const;

 private:
  std::vector<KeySpec> keys_;
  std::vector<std::string> per_listener_;
};

/// The parts of a per-listener override name `listener.name.<listener>.<key>`: {listener, key},
/// or nullopt when `name` does not have that form.
std::optional<std::pair<std::string, std::string>> split_listener_override(const std::string& name);

/// Values for a Schema: what was set, falling back to declared defaults.
class Values {
 public:
  explicit Values(const Schema& schema) : schema_(&schema) {}

  int64_t get_int(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::vector<std::string>& get_list(const std::string& name) const;
  /// The effective value (set or default). Throws ConfigError for an undeclared key.
  const Value& get(const std::string& name) const;
  bool is_set(const std::string& name) const { return set_.count(name) != 0; }
  const std::map<std::string, Value>& explicitly_set() const { return set_; }

  /// Validates and stores a value. Throws ConfigError.
  void set(const std::string& name, Value v);
  /// Removes an explicit value so the default applies again.
  void unset(const std::string& name) { set_.erase(name); }

  const Schema& schema() const { return *schema_; }

 private:
  const Value& lookup(const std::string& name) const;
  const Schema* schema_;
  std::map<std::string, Value> set_;
};

/// `listener` as it is written in an override prefix: lower case (ASCII), as Kafka's
/// ListenerName.configPrefix() lower-cases it (Locale.ROOT). "EXTERNAL" -> "external".
std::string listener_prefix_name(std::string_view listener);
/// The per-listener override name of `key`: `listener.name.<lower-case listener>.<key>` (KIP-103;
/// Kafka's ListenerName.configPrefix() + key). ("EXTERNAL", "ssl.keystore.location") ->
/// "listener.name.external.ssl.keystore.location".
std::string listener_override_key(std::string_view listener, std::string_view key);

/// The value of `key` for listener `listener` (Kafka's lookup order): the override
/// `listener.name.<lower-case listener>.<key>` when set, else the broker-wide `key`.
const Value& listener_value(const Values& values, const std::string& listener, const std::string& key);

/// Parses TOML text against `schema`. `origin` names the source in errors (e.g. the file path).
/// Unknown keys, wrong types, out-of-range values, missing required keys and TOML syntax errors
/// throw ConfigError naming the key, the value and what was expected.
Values load_toml(const Schema& schema, const std::string& text, const std::string& origin);

/// The whole text of config file `path`. Throws ConfigError "cannot read config file '<path>'" when
/// it is missing or unreadable.
std::string read_config_text(const std::filesystem::path& path);

/// Reads and parses a TOML file; a missing or unreadable file throws ConfigError.
Values load_toml_file(const Schema& schema, const std::filesystem::path& path);

}  // namespace ferry::config
