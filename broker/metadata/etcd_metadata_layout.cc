#include "broker/metadata/etcd_metadata_layout.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "broker/metadata/broker_registration.h"
#include "common/hash_chain.h"

namespace ferry::broker {
namespace {

using nlohmann::json;
using etcd_layout::kDefaultEntity;

/// A value that does not fit the key layout: the message says what is wrong.
struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `j.dump()`, or std::invalid_argument when a string in it is not UTF-8 (JSON can't carry it).
std::string dump(const json& j, const char* what) {
  try {
    return j.dump();
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("etcd metadata store: {} cannot be stored as JSON: {}", what, e.what()));
  }
}

json parse_object(const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded()) throw Malformed("the value is not JSON");
  if (!j.is_object()) throw Malformed("the value is not a JSON object");
  return j;
}

std::string need_string(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) throw Malformed(fmt::format("field \"{}\" is missing", field));
  if (!it->is_string()) throw Malformed(fmt::format("field \"{}\" is not a string", field));
  return it->get<std::string>();
}

int64_t need_int(const json& j, const char* field, int64_t min, int64_t max) {
  auto it = j.find(field);
  if (it == j.end()) throw Malformed(fmt::format("field \"{}\" is missing", field));
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}))
    throw Malformed(fmt::format("field \"{}\" is not an integer", field));
  const int64_t v = it->get<int64_t>();
  if (v < min || v > max) throw Malformed(fmt::format("field \"{}\" is {}, expected {}..{}", field, v, min, max));
  return v;
}

std::map<std::string, std::string> string_map(const json& j, const char* what) {
  if (!j.is_object()) throw Malformed(fmt::format("{} is not a JSON object", what));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) throw Malformed(fmt::format("{} \"{}\" is not a string", what, k));
    out[k] = v.get<std::string>();
  }
  return out;
}

/// A JSON list of distinct broker ids (0..INT32_MAX); `field` names it in errors.
std::vector<int32_t> broker_ids(const json& list, const char* field, bool may_be_empty) {
  if (!list.is_array() || (list.empty() && !may_be_empty))
    throw Malformed(fmt::format("field \"{}\" holds an entry that is not a {}list of broker ids", field,
                                may_be_empty ? "" : "non-empty "));
  std::vector<int32_t> ids;
  for (const auto& id : list) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw Malformed(fmt::format("field \"{}\" holds a broker id that is not an integer 0..2147483647", field));
    if (std::find(ids.begin(), ids.end(), id.get<int32_t>()) != ids.end())
      throw Malformed(fmt::format("field \"{}\" repeats broker {} in one replica list", field, id.get<int32_t>()));
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

TopicMetadata decode_topic(const std::string& name, const std::string& value) {
  const json j = parse_object(value);
  TopicMetadata t;
  t.name = name;
  t.topic_id = need_string(j, "topic_id");
  t.partitions = static_cast<int32_t>(need_int(j, "partitions", 1, INT32_MAX));
  t.replication_factor = static_cast<int16_t>(need_int(j, "replication_factor", 1, INT16_MAX));
  if (auto it = j.find("configs"); it != j.end()) t.configs = string_map(*it, "topic config");
  if (auto it = j.find("assignment"); it != j.end()) {
    if (!it->is_array() || it->size() != static_cast<size_t>(t.partitions))
      throw Malformed(fmt::format("field \"assignment\" is not an array of {} replica lists", t.partitions));
    for (const auto& replicas : *it) t.assignment.push_back(broker_ids(replicas, "assignment", false));
  }
  if (auto it = j.find("reassignments"); it != j.end()) {
    if (!it->is_object()) throw Malformed("field \"reassignments\" is not an object");
    for (const auto& [index, r] : it->items()) {
      const auto p = etcd_layout::parse_decimal(index);
      if (!p || *p >= static_cast<int64_t>(t.assignment.size()))
        throw Malformed(fmt::format("field \"reassignments\" names partition \"{}\", not one of the assignment's",
                                    index));
      if (!r.is_object() || !r.contains("adding") || !r.contains("removing"))
        throw Malformed("field \"reassignments\" holds an entry without \"adding\" and \"removing\"");
      PartitionReassignment pr{broker_ids(r["adding"], "reassignments", true),
                               broker_ids(r["removing"], "reassignments", true)};
      const auto& replicas = t.assignment[static_cast<size_t>(*p)];
      for (const auto* list : {&pr.adding, &pr.removing})
        for (int32_t id : *list)
          if (std::find(replicas.begin(), replicas.end(), id) == replicas.end())
            throw Malformed(fmt::format("field \"reassignments\" moves broker {}, not a replica of partition {}", id, *p));
      for (int32_t id : pr.adding)
        if (std::find(pr.removing.begin(), pr.removing.end(), id) != pr.removing.end())
          throw Malformed(fmt::format("field \"reassignments\" both adds and removes broker {}", id));
      if (pr.adding.empty() && pr.removing.empty())
        throw Malformed(fmt::format("field \"reassignments\" holds an empty move for partition {}", *p));
      t.reassignments[static_cast<int32_t>(*p)] = std::move(pr);
    }
  }
  return t;
}

security::ScramCredential decode_scram(security::ScramMechanism mechanism, const std::string& value) {
  const json j = parse_object(value);
  auto bytes = [&](const char* field) {
    auto b = security::base64_decode(need_string(j, field));
    if (!b) throw Malformed(fmt::format("field \"{}\" is not base64", field));
    return *b;
  };
  const auto iterations = static_cast<int32_t>(need_int(j, "iterations", 1, INT32_MAX));
  return security::ScramCredential{mechanism, iterations, bytes("salt"), bytes("stored_key"), bytes("server_key")};
}

json acl_json(const security::AclBinding& b) {
  return {{"resource_type", b.resource_type}, {"resource_name", b.resource_name}, {"pattern_type", b.pattern_type},
          {"principal", b.principal},         {"host", b.host},                   {"operation", b.operation},
          {"permission", b.permission}};
}

security::AclBinding decode_acl(std::string_view hash, const std::string& value) {
  const json j = parse_object(value);
  auto code = [&](const char* field) { return static_cast<int8_t>(need_int(j, field, INT8_MIN, INT8_MAX)); };
  security::AclBinding b{code("resource_type"), need_string(j, "resource_name"), code("pattern_type"),
                         need_string(j, "principal"),  need_string(j, "host"),          code("operation"),
                         code("permission")};
  if (etcd_layout::acl_hash(b) != hash) throw Malformed("the key is not the SHA-256 of the binding in the value");
  return b;
}

/// Where a key sits in the layout. `error` is set when the key itself is malformed.
struct KeyRef {
  enum class Type {
    kUnknown, kClusterId, kProducerIds, kTopic, kConfig, kScram, kAcl, kBroker, kPartition, kController
  } type = Type::kUnknown;
  std::string name;  // topic name, config entity ("" for the default), SCRAM user, ACL hash
  int32_t id = 0;    // broker id (kBroker), partition index (kPartition)
  security::ScramMechanism mechanism = security::ScramMechanism::Sha256;
  std::string error;
};

KeyRef classify(std::string_view rel) {
  KeyRef r;
  auto under = [&](std::string_view dir, KeyRef::Type type) {
    if (rel.substr(0, dir.size()) != dir) return false;
    r.type = type;
    r.name = std::string(rel.substr(dir.size()));
    return true;
  };
  // A non-negative int32 in decimal, as node ids and partition indexes are written.
  auto parse_id = [](std::string_view text) -> std::optional<int32_t> {
    auto v = etcd_layout::parse_decimal(text);
    if (!v || *v > INT32_MAX) return std::nullopt;
    return static_cast<int32_t>(*v);
  };
  if (rel == "cluster_id") {
    r.type = KeyRef::Type::kClusterId;
  } else if (rel == "controller") {
    r.type = KeyRef::Type::kController;
  } else if (under("brokers/ids/", KeyRef::Type::kBroker)) {
    if (auto id = parse_id(r.name)) r.id = *id;
    else r.error = "expected brokers/ids/<node id>";
  } else if (under("partitions/", KeyRef::Type::kPartition)) {
    const auto slash = r.name.rfind('/');
    std::optional<int32_t> index;
    if (slash != std::string::npos && slash > 0) index = parse_id(std::string_view(r.name).substr(slash + 1));
    if (index) {
      r.id = *index;
      r.name.resize(slash);
    } else {
      r.error = "expected partitions/<topic>/<partition index>";
    }
  } else if (rel == "producer_ids/next") {
    r.type = KeyRef::Type::kProducerIds;
  } else if (under("topics/", KeyRef::Type::kTopic)) {
    if (r.name.empty()) r.error = "the topic name is empty";
  } else if (under("configs/brokers/", KeyRef::Type::kConfig)) {
    if (r.name.empty()) r.error = "the entity is empty (the default entity is <default>)";
    if (r.name == kDefaultEntity) r.name.clear();
  } else if (under("scram/", KeyRef::Type::kScram)) {
    const auto slash = r.name.rfind('/');
    if (slash == std::string::npos || slash == 0) {
      r.error = "expected scram/<user>/<mechanism>";
    } else if (auto m = security::scram_mechanism_from_name(std::string_view(r.name).substr(slash + 1))) {
      r.mechanism = *m;
      r.name.resize(slash);
    } else {
      r.error = fmt::format("unknown SCRAM mechanism \"{}\" (expected SCRAM-SHA-256 or SCRAM-SHA-512)",
                            r.name.substr(slash + 1));
    }
  } else if (under("acls/", KeyRef::Type::kAcl)) {
    if (r.name.size() != 64 || r.name.find_first_not_of("0123456789abcdef") != std::string::npos)
      r.error = "expected acls/<64 lower-case hex digits of SHA-256>";
  }
  return r;
}

}  // namespace

namespace etcd_layout {

std::string encode_topic(const TopicMetadata& t) {
  json j = {{"topic_id", t.topic_id},
            {"partitions", t.partitions},
            {"replication_factor", t.replication_factor},
            {"configs", t.configs}};
  if (!t.assignment.empty()) j["assignment"] = t.assignment;
  if (!t.reassignments.empty()) {
    json r = json::object();
    for (const auto& [p, move] : t.reassignments)
      r[std::to_string(p)] = {{"adding", move.adding}, {"removing", move.removing}};
    j["reassignments"] = std::move(r);
  }
  return dump(j, "the topic");
}
std::string encode_broker_configs(const std::map<std::string, std::string>& configs) {
  return dump(json(configs), "the broker configs");
}
std::string encode_scram(const security::ScramCredential& c) {
  return json{{"iterations", c.iterations},
              {"salt", security::base64_encode(c.salt)},
              {"stored_key", security::base64_encode(c.stored_key)},
              {"server_key", security::base64_encode(c.server_key)}}
      .dump();
}
std::string encode_acl(const security::AclBinding& b) { return dump(acl_json(b), "the ACL binding"); }
std::string acl_hash(const security::AclBinding& b) {
  const json canonical = json::array(
      {b.resource_type, b.resource_name, b.pattern_type, b.principal, b.host, b.operation, b.permission});
  return hash_chain::sha256_hex(dump(canonical, "the ACL binding"));
}

std::optional<int64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace etcd_layout

std::optional<EtcdMetadataChange> EtcdMetadataCopy::apply(const std::string& dir, const etcd::KeyValue& kv, bool put) {
  if (kv.key.compare(0, dir.size(), dir) != 0) return std::nullopt;
  const KeyRef ref = classify(std::string_view(kv.key).substr(dir.size()));
  std::optional<EtcdMetadataChange> change;
  if (ref.error.empty()) {
    switch (ref.type) {
      case KeyRef::Type::kUnknown: return std::nullopt;
      case KeyRef::Type::kClusterId: cluster_id.clear(); break;
      case KeyRef::Type::kProducerIds: break;
      case KeyRef::Type::kTopic: topics.erase(ref.name), change = EtcdMetadataChange::kTopics; break;
      case KeyRef::Type::kConfig: configs.erase(ref.name), change = EtcdMetadataChange::kBrokerConfigs; break;
      case KeyRef::Type::kScram:
        if (auto u = scram.find(ref.name); u != scram.end()) {
          u->second.erase(ref.mechanism);
          if (u->second.empty()) scram.erase(u);
        }
        change = EtcdMetadataChange::kScram;
        break;
      case KeyRef::Type::kAcl: acls.erase(ref.name), change = EtcdMetadataChange::kAcls; break;
      case KeyRef::Type::kBroker: brokers.erase(ref.id), change = EtcdMetadataChange::kBrokers; break;
      case KeyRef::Type::kPartition:
        partitions.erase({ref.name, ref.id}), change = EtcdMetadataChange::kPartitions;
        break;
      case KeyRef::Type::kController:
        controller_id = -1, controller_epoch = 0, change = EtcdMetadataChange::kController;
        break;
    }
  }
  malformed.erase(kv.key);
  create_revisions.erase(kv.key);
  if (!put) return change;
  create_revisions[kv.key] = kv.create_revision;
  try {
    if (!ref.error.empty()) throw Malformed(ref.error);
    switch (ref.type) {
      case KeyRef::Type::kUnknown: break;
      case KeyRef::Type::kClusterId:
        if (!parse_kafka_uuid(kv.value)) throw Malformed("the value is not a Kafka UUID (22 chars of base64url)");
        cluster_id = kv.value;
        break;
      case KeyRef::Type::kProducerIds:
        if (!etcd_layout::parse_decimal(kv.value)) throw Malformed("the value is not a non-negative decimal int64");
        break;
      case KeyRef::Type::kTopic: {
        auto t = decode_topic(ref.name, kv.value);
        t.mod_revision = kv.mod_revision;
        topics[ref.name] = std::move(t);
        break;
      }
      case KeyRef::Type::kConfig:
        if (auto m = string_map(parse_object(kv.value), "config"); !m.empty()) configs[ref.name] = std::move(m);
        break;
      case KeyRef::Type::kScram: scram[ref.name][ref.mechanism] = decode_scram(ref.mechanism, kv.value); break;
      case KeyRef::Type::kAcl: acls[ref.name] = decode_acl(ref.name, kv.value); break;
      case KeyRef::Type::kBroker: {
        std::string why;
        auto info = parse_broker_info(kv.value, &why);
        if (!info) throw Malformed(why);
        if (info->node_id != ref.id)
          throw Malformed(fmt::format("the registration is of node {}, not of the key's {}", info->node_id, ref.id));
        brokers[ref.id] = std::move(*info);
        break;
      }
      case KeyRef::Type::kPartition: {
        std::string why;
        auto state = replication::parse_partition_state(kv.value, &why);
        if (!state) throw Malformed(why);
        state->partition_epoch = kv.version;
        state->mod_revision = kv.mod_revision;
        partitions[{ref.name, ref.id}] = std::move(*state);
        break;
      }
      case KeyRef::Type::kController: {
        auto id = etcd_layout::parse_decimal(kv.value);
        if (!id || *id > INT32_MAX) throw Malformed("the value is not a broker id (decimal int32)");
        controller_id = static_cast<int32_t>(*id);
        controller_epoch = kv.create_revision;
        break;
      }
    }
  } catch (const Malformed& e) {
    malformed[kv.key] = e.what();
    spdlog::error("etcd metadata store: key {} (revision {}) is malformed: {}; treating it as absent", kv.key,
                  kv.mod_revision, e.what());
  }
  return change;
}

}  // namespace ferry::broker
