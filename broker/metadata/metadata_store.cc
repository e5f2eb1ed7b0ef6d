#include "broker/metadata/metadata_store.h"

#include <fmt/format.h>

#include <climits>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "broker/storage/log.h"

namespace ferry::broker {

// The ACL section of the file, defined with the other ACL code at the end.
void load_acls(const toml::table& root, const std::filesystem::path& file, std::set<security::AclBinding>& out);
void save_acls(toml::table& root, const std::set<security::AclBinding>& acls);

std::string random_kafka_uuid() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  uint8_t b[16];
  for (auto& x : b) x = static_cast<uint8_t>(rd());
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t x : b) {
    acc = (acc << 8) | x;
    bits += 8;
    while (bits >= 6) {
      out += kAlphabet[(acc >> (bits - 6)) & 0x3f];
      bits -= 6;
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;  // 128 bits → 22 characters
}

std::optional<std::array<uint8_t, 16>> parse_kafka_uuid(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  std::array<uint8_t, 16> out{};
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : text) {
    uint32_t v;
    if (c >= 'A' && c <= 'Z') v = static_cast<uint32_t>(c - 'A');
    else if (c >= 'a' && c <= 'z') v = static_cast<uint32_t>(c - 'a' + 26);
    else if (c >= '0' && c <= '9') v = static_cast<uint32_t>(c - '0' + 52);
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      out[n++] = static_cast<uint8_t>(acc >> (bits - 8));
      bits -= 8;
    }
    acc &= (1u << bits) - 1;
  }
  if (n != out.size() || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // 2 spare bits must be 0
  return out;
}

FileMetadataStore::FileMetadataStore(std::filesystem::path file) : file_(std::move(file)) {
  if (!std::filesystem::exists(file_)) return;
  toml::table root;
  try {
    root = toml::parse_file(file_.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("metadata file {} is corrupt: {}", file_.string(), e.description()));
  }
  cluster_id_ = root["cluster.id"].value_or(std::string{});
  next_producer_id_ = root["producer.id.next"].value_or(int64_t{0});
  if (auto topics = root["topics"].as_array()) {
    for (auto& node : *topics) {
      auto* t = node.as_table();
      if (!t) throw std::runtime_error(fmt::format("metadata file {}: a topic entry is not a table", file_.string()));
      TopicMetadata m;
      m.name = (*t)["name"].value_or(std::string{});
      m.topic_id = (*t)["id"].value_or(std::string{});
      m.partitions = static_cast<int32_t>((*t)["partitions"].value_or(int64_t{0}));
      m.replication_factor = static_cast<int16_t>((*t)["replication.factor"].value_or(int64_t{1}));
      if (m.name.empty() || m.partitions <= 0)
        throw std::runtime_error(fmt::format("metadata file {}: topic entry without a name or partitions", file_.string()));
      if (auto cfg = (*t)["configs"].as_table())
        for (auto& [k, v] : *cfg) m.configs[std::string(k.str())] = v.value_or(std::string{});
      topics_[m.name] = std::move(m);
    }
  }
  if (auto entries = root["scram_credentials"].as_array()) {
    for (auto& node : *entries) {
      auto* e = node.as_table();
      auto bad = [&](const char* why) {
        return std::runtime_error(fmt::format("metadata file {}: a scram_credentials entry {}", file_.string(), why));
      };
      if (!e) throw bad("is not a table");
      const std::string user = (*e)["user"].value_or(std::string{});
      auto mechanism = security::scram_mechanism_from_name((*e)["mechanism"].value_or(std::string{}));
      auto salt = security::base64_decode((*e)["salt"].value_or(std::string{}));
      auto stored_key = security::base64_decode((*e)["stored_key"].value_or(std::string{}));
      auto server_key = security::base64_decode((*e)["server_key"].value_or(std::string{}));
      const int64_t iterations = (*e)["iterations"].value_or(int64_t{0});
      if (user.empty() || !mechanism || !salt || !stored_key || !server_key || iterations <= 0)
        throw bad("lacks a user, a known mechanism, base64 salt/stored_key/server_key or iterations");
      scram_[user][*mechanism] =
          security::ScramCredential{*mechanism, static_cast<int32_t>(iterations), *salt, *stored_key, *server_key};
    }
  }
  if (auto entries = root["broker_configs"].as_array()) {
    for (auto& node : *entries) {
      auto* e = node.as_table();
      if (!e || !(*e)["entity"].is_string())
        throw std::runtime_error(fmt::format("metadata file {}: a broker_configs entry has no entity", file_.string()));
      auto& m = broker_configs_[(*e)["entity"].value_or(std::string{})];
      if (auto cfg = (*e)["configs"].as_table())
        for (auto& [k, v] : *cfg) m[std::string(k.str())] = v.value_or(std::string{});
    }
  }
  load_acls(root, file_, acls_);
}

void FileMetadataStore::save_locked() {
  toml::table root;
  root.insert("cluster.id", cluster_id_);
  root.insert("producer.id.next", next_producer_id_);
  toml::array arr;
  for (auto& [name, m] : topics_) {
    toml::table t;
    t.insert("name", m.name);
    t.insert("id", m.topic_id);
    t.insert("partitions", int64_t{m.partitions});
    t.insert("replication.factor", int64_t{m.replication_factor});
    toml::table cfg;
    for (auto& [k, v] : m.configs) cfg.insert(k, v);
    t.insert("configs", std::move(cfg));
    arr.push_back(std::move(t));
  }
  root.insert("topics", std::move(arr));
  toml::array dyn;
  for (auto& [entity, configs] : broker_configs_) {
    toml::table e;
    e.insert("entity", entity);
    toml::table cfg;
    for (auto& [k, v] : configs) cfg.insert(k, v);
    e.insert("configs", std::move(cfg));
    dyn.push_back(std::move(e));
  }
  root.insert("broker_configs", std::move(dyn));
  toml::array scram;
  for (auto& [user, by_mechanism] : scram_)
    for (auto& [mechanism, c] : by_mechanism) {
      toml::table e;
      e.insert("user", user);
      e.insert("mechanism", std::string(security::scram_mechanism_name(mechanism)));
      e.insert("iterations", int64_t{c.iterations});
      e.insert("salt", security::base64_encode(c.salt));
      e.insert("stored_key", security::base64_encode(c.stored_key));
      e.insert("server_key", security::base64_encode(c.server_key));
      scram.push_back(std::move(e));
    }
  root.insert("scram_credentials", std::move(scram));
  save_acls(root, acls_);
  std::ostringstream out;
  out << "# Ferry broker metadata: topics, cluster id, dynamic broker configs, ACLs and SCRAM credentials\n"
         "# (salted keys, never passwords). Rewritten atomically; do not edit while running.\n";
  out << root << "\n";
  storage::atomic_write_file(file_, out.str(), 0600);
}

std::string FileMetadataStore::cluster_id() {
  std::lock_guard lk(mu_);
  if (cluster_id_.empty()) {
    cluster_id_ = random_kafka_uuid();
    save_locked();
  }
  return cluster_id_;
}

std::vector<TopicMetadata> FileMetadataStore::topics() {
  std::lock_guard lk(mu_);
  std::vector<TopicMetadata> out;
  for (auto& [n, m] : topics_) out.push_back(m);
  return out;
}

std::optional<TopicMetadata> FileMetadataStore::topic(const std::string& name) {
  std::lock_guard lk(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

void FileMetadataStore::put_topic(const TopicMetadata& t) {
  std::lock_guard lk(mu_);
  auto old = topics_.find(t.name);
  std::optional<TopicMetadata> prev;
  if (old != topics_.end()) prev = old->second;
  topics_[t.name] = t;
  try {
    save_locked();
  } catch (...) {
    if (prev)
      topics_[t.name] = *prev;
    else
      topics_.erase(t.name);
    throw;
  }
}

std::map<std::string, std::map<std::string, std::string>> FileMetadataStore::broker_configs() {
  std::lock_guard lk(mu_);
  return broker_configs_;
}

void FileMetadataStore::put_broker_configs(const std::string& entity, const std::map<std::string, std::string>& configs) {
  std::lock_guard lk(mu_);
  auto prev = broker_configs_;
  if (configs.empty())
    broker_configs_.erase(entity);
  else
    broker_configs_[entity] = configs;
  try {
    save_locked();
  } catch (...) {
    broker_configs_ = std::move(prev);
    throw;
  }
}

std::map<std::string, std::vector<security::ScramCredential>> FileMetadataStore::scram_credentials() {
  std::lock_guard lk(mu_);
  std::map<std::string, std::vector<security::ScramCredential>> out;
  for (auto& [user, by_mechanism] : scram_)
    for (auto& [mechanism, c] : by_mechanism) out[user].push_back(c);
  return out;
}

std::optional<security::ScramCredential> FileMetadataStore::scram_credential(const std::string& user,
                                                                             security::ScramMechanism mechanism) {
  std::lock_guard lk(mu_);
  auto u = scram_.find(user);
  if (u == scram_.end()) return std::nullopt;
  auto c = u->second.find(mechanism);
  if (c == u->second.end()) return std::nullopt;
  return c->second;
}

void FileMetadataStore::alter_scram_credentials(
    const std::vector<std::pair<std::string, security::ScramCredential>>& upsertions,
    const std::vector<std::pair<std::string, security::ScramMechanism>>& deletions) {
  std::lock_guard lk(mu_);
  auto prev = scram_;
  for (const auto& [user, mechanism] : deletions) {
    auto u = scram_.find(user);
    if (u == scram_.end()) continue;
    u->second.erase(mechanism);
    if (u->second.empty()) scram_.erase(u);
  }
  for (const auto& [user, c] : upsertions) scram_[user][c.mechanism] = c;
  try {
    save_locked();
  } catch (...) {
    scram_ = std::move(prev);
    throw;
  }
}

int64_t FileMetadataStore::reserve_producer_ids(int64_t count) {
  std::lock_guard lk(mu_);
  const int64_t first = next_producer_id_;
  next_producer_id_ += count;
  try {
    save_locked();
  } catch (...) {
    next_producer_id_ = first;
    throw;
  }
  return first;
}

void FileMetadataStore::delete_topic(const std::string& name) {
  std::lock_guard lk(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return;
  TopicMetadata prev = it->second;
  topics_.erase(it);
  try {
    save_locked();
  } catch (...) {
    topics_[name] = prev;
    throw;
  }
}

// ACLs

// One [[acls]] table per binding, codes as Kafka's wire codes (ResourceType, PatternType,
// AclOperation, AclPermissionType), which never change meaning.
void load_acls(const toml::table& root, const std::filesystem::path& file, std::set<security::AclBinding>& out) {
  auto* arr = root["acls"].as_array();
  if (!arr) return;
  for (auto& node : *arr) {
    auto* t = node.as_table();
    auto code = [&](const char* key) -> int8_t {
      auto v = t ? (*t)[key].value<int64_t>() : std::nullopt;
      if (!v || *v < INT8_MIN || *v > INT8_MAX)
        throw std::runtime_error(fmt::format("metadata file {}: an acls entry has no valid '{}'", file.string(), key));
      return static_cast<int8_t>(*v);
    };
    auto text = [&](const char* key) {
      auto v = t ? (*t)[key].value<std::string>() : std::nullopt;
      if (!v) throw std::runtime_error(fmt::format("metadata file {}: an acls entry has no '{}'", file.string(), key));
      return *v;
    };
    out.insert({code("resource_type"), text("resource_name"), code("pattern_type"), text("principal"), text("host"),
                code("operation"), code("permission")});
  }
}

void save_acls(toml::table& root, const std::set<security::AclBinding>& acls) {
  toml::array arr;
  for (const auto& b : acls) {
    toml::table t;
    t.insert("resource_type", int64_t{b.resource_type});
    t.insert("resource_name", b.resource_name);
    t.insert("pattern_type", int64_t{b.pattern_type});
    t.insert("principal", b.principal);
    t.insert("host", b.host);
    t.insert("operation", int64_t{b.operation});
    t.insert("permission", int64_t{b.permission});
    arr.push_back(std::move(t));
  }
  root.insert("acls", std::move(arr));
}

std::vector<security::AclBinding> FileMetadataStore::acls() {
  std::lock_guard lk(mu_);
  return {acls_.begin(), acls_.end()};
}

void FileMetadataStore::add_acls(const std::vector<security::AclBinding>& acls) {
  std::lock_guard lk(mu_);
  auto prev = acls_;
  acls_.insert(acls.begin(), acls.end());
  if (acls_ == prev) return;
  try {
    save_locked();
  } catch (...) {
    acls_ = std::move(prev);
    throw;
  }
}

void FileMetadataStore::delete_acls(const std::vector<security::AclBinding>& acls) {
  std::lock_guard lk(mu_);
  auto prev = acls_;
  for (const auto& b : acls) acls_.erase(b);
  if (acls_ == prev) return;
  try {
    save_locked();
  } catch (...) {
    acls_ = std::move(prev);
    throw;
  }
}

}  // namespace ferry::broker
