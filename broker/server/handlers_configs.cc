// Config handlers: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs (KIP-133, KIP-226,
// KIP-339). Topic configs and dynamic broker configs (KIP-226: the broker-wide defaults of topic
// configs, per broker or cluster-wide) are described with their source and synonyms, and altered at
// run time; every other broker config is read-only.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "broker/core/replica_manager.h"
#include "broker/server/handlers.h"
#include "broker/server/tls.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

// ConfigResource.Type wire codes.
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;

// DescribeConfigsResponse ConfigSource wire codes (KIP-226).
constexpr int8_t kTopicConfig = 1;
constexpr int8_t kDynamicBrokerConfig = 2;
constexpr int8_t kDynamicDefaultBrokerConfig = 3;
constexpr int8_t kStaticBrokerConfig = 4;
constexpr int8_t kDefaultConfig = 5;

// IncrementalAlterConfigs operations (KIP-339).
constexpr int8_t kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3;

using Entry = DescribeConfigsResponse::DescribeConfigsResourceResult;
using Synonym = DescribeConfigsResponse::DescribeConfigsSynonym;

// Kafka's PASSWORD type: described as sensitive, the value never leaves the broker.
void mask_sensitive(Entry& e) {
  e.is_sensitive = true;
  e.value = std::nullopt;
  for (auto& syn : e.synonyms) syn.value = std::nullopt;
}

bool wanted(const DescribeConfigsRequest::DescribeConfigsResource& r, const std::string& key) {
  if (!r.configuration_keys) return true;  // null: every key
  const auto& k = *r.configuration_keys;
  return std::find(k.begin(), k.end(), key) != k.end();
}

// Where a broker key's value comes from, most specific first: this broker's dynamic config, the
// cluster-wide dynamic default, the config file, the built-in default.
struct BrokerLayers {
  std::map<std::string, std::string> node, cluster;

  std::vector<Synonym> synonyms(const config::Values& file, const std::string& key) const {
    std::vector<Synonym> out;
    if (auto it = node.find(key); it != node.end()) out.push_back({key, it->second, kDynamicBrokerConfig});
    if (auto it = cluster.find(key); it != cluster.end()) out.push_back({key, it->second, kDynamicDefaultBrokerConfig});
    if (file.is_set(key)) out.push_back({key, config::to_kafka_string(file.get(key)), kStaticBrokerConfig});
    if (const auto* spec = broker_schema().find(key); spec && spec->has_default)
      out.push_back({key, config::to_kafka_string(spec->default_value), kDefaultConfig});
    return out;
  }
};

BrokerLayers broker_layers(const BrokerServices& s) {
  return {s.replicas.dynamic_broker_configs(std::to_string(s.config.node_id)), s.replicas.dynamic_broker_configs("")};
}

std::string broker_key_for(const std::string& topic_key) {
  for (const auto& tk : topic_keys())
    if (tk.topic_key == topic_key) return tk.broker_key;
  return "";
}

// Broker resources are named by node id; "" names the cluster-wide default.
bool is_this_broker(const BrokerServices& s, const std::string& name) {
  return name.empty() || name == std::to_string(s.config.node_id);
}

}  // namespace

// g++ 12 reports asio's awaitable frame (unsized operator new, sized operator delete) as
// mismatched once it inlines them into this coroutine: a false positive, GCC PR 109224.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<DescribeConfigsResponse> Handlers::handle(DescribeConfigsRequest& req, RequestContext& ctx) {
  DescribeConfigsResponse resp;
  const auto& broker_values = s_.config.values;
  for (auto& r : req.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = r.resource_type;
    out.resource_name = r.resource_name;
    if (r.resource_type == kTopicResource) {
      if (!allowed(ctx, Operation::DescribeConfigs, ResourceType::Topic, r.resource_name)) {
        out.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      auto t = s_.replicas.topic(r.resource_name);
      if (!t) {
        out.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
        out.error_message = fmt::format("topic '{}' does not exist", r.resource_name);
        continue;
      }
      const auto values = s_.replicas.topic_config(r.resource_name);
      const auto layers = broker_layers(s_);
      for (const auto& spec : s_.replicas.topic_schema().keys()) {
        if (!wanted(r, spec.name)) continue;
        Entry e;
        e.name = spec.name;
        e.value = config::to_kafka_string(values.get(spec.name));
        std::vector<Synonym> synonyms;
        if (auto it = t->configs.find(spec.name); it != t->configs.end())
          synonyms.push_back({spec.name, it->second, kTopicConfig});
        const std::string broker_key = broker_key_for(spec.name);
        if (!broker_key.empty())
          for (auto& syn : layers.synonyms(broker_values, broker_key)) synonyms.push_back(std::move(syn));
        e.config_source = synonyms.empty() ? kDefaultConfig : synonyms.front().source;
        e.is_default = e.config_source == kDefaultConfig;
        if (req.include_synonyms) e.synonyms = std::move(synonyms);
        out.configs.push_back(std::move(e));
      }
    } else if (r.resource_type == kBrokerResource) {
      if (!allowed(ctx, Operation::DescribeConfigs, ResourceType::Cluster, security::kClusterResourceName)) {
        out.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
        continue;
      }
      if (!is_this_broker(s_, r.resource_name)) {
        out.error_code = ErrorCode::INVALID_REQUEST;
        out.error_message = fmt::format("this is broker {}, not '{}'", s_.config.node_id, r.resource_name);
        continue;
      }
      // The cluster-wide entity ("") shows only its own dynamic values, as Kafka does; a broker
      // shows every key with the value in effect.
      const bool cluster_default = r.resource_name.empty();
      const auto layers = broker_layers(s_);
      for (const auto& spec : broker_schema().keys()) {
        if (!wanted(r, spec.name)) continue;
        if (cluster_default && !layers.cluster.count(spec.name)) continue;
        auto synonyms = layers.synonyms(broker_values, spec.name);
        if (cluster_default) std::erase_if(synonyms, [](const Synonym& x) { return x.source == kDynamicBrokerConfig; });
        Entry e;
        e.name = spec.name;
        e.value = synonyms.empty() ? std::nullopt : synonyms.front().value;
        e.read_only = !is_dynamic_broker_key(spec.name);
        e.config_source = synonyms.empty() ? kDefaultConfig : synonyms.front().source;
        e.is_default = e.config_source == kDefaultConfig;
        if (req.include_synonyms) e.synonyms = std::move(synonyms);
        if (spec.name == "ssl.key.password") mask_sensitive(e);
        out.configs.push_back(std::move(e));
      }
    } else {
      out.error_code = ErrorCode::INVALID_REQUEST;
      out.error_message = fmt::format("resource type {} has no configs here (topics 2, brokers 4)", r.resource_type);
    }
  }
  co_return resp;
}
#pragma GCC diagnostic pop

// Applies the already-computed new override map of one resource, or explains why not.
AdminResult Handlers::alter_resource(RequestContext& ctx, int8_t type, const std::string& name,
                                     const std::function<AdminResult(std::map<std::string, std::string>&)>& edit,
                                     bool validate_only) {
  if (type == kBrokerResource) {
    if (!allowed(ctx, Operation::AlterConfigs, ResourceType::Cluster, security::kClusterResourceName))
      return {ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "not authorized to alter broker configs"};
    if (!is_this_broker(s_, name))
      return {ErrorCode::INVALID_REQUEST, fmt::format("this is broker {}, not '{}'", s_.config.node_id, name)};
    auto dynamic = s_.replicas.dynamic_broker_configs(name);
    const bool had_ssl = std::any_of(dynamic.begin(), dynamic.end(), [](auto& kv) { return is_dynamic_ssl_key(kv.first); });
    if (auto r = edit(dynamic); !r.ok()) return r;
    const bool has_ssl = std::any_of(dynamic.begin(), dynamic.end(), [](auto& kv) { return is_dynamic_ssl_key(kv.first); });
    if (has_ssl || had_ssl) {
      // KIP-226: keystores and truststores are per broker, and a new one is loaded (and so
      // checked) before it is stored; a file that cannot serve TLS is refused, the old one stays.
      if (name.empty() && has_ssl)
        return {ErrorCode::INVALID_REQUEST,
                "ssl.keystore/truststore configs are per broker (KIP-226): name this broker's id, not the cluster "
                "default"};
      if (s_.tls == nullptr && has_ssl)
        return {ErrorCode::INVALID_CONFIG, "this broker has no SSL or SASL_SSL listener to load certificates for"};
      if (s_.tls != nullptr) {
        try {
          auto values = with_dynamic_ssl(s_.config.values, dynamic);
          for (const auto& l : s_.config.listeners)
            if (l.tls()) make_tls_context(values, l);
        } catch (const config::ConfigError& e) {
          return {ErrorCode::INVALID_CONFIG, e.what()};
        }
      }
    }
    auto result = s_.replicas.alter_broker_configs(name, dynamic, validate_only);
    if (result.ok() && !validate_only && s_.tls != nullptr && (has_ssl || had_ssl)) {
      try {
        s_.tls->reload(with_dynamic_ssl(s_.config.values, dynamic));
      } catch (const config::ConfigError& e) {
        return {ErrorCode::INVALID_CONFIG, e.what()};  // the files changed between the check and the load
      }
    }
    return result;
  }
  if (type != kTopicResource)
    return {ErrorCode::INVALID_REQUEST, fmt::format("resource type {} has no configs here (topics 2, brokers 4)", type)};
  if (!allowed(ctx, Operation::AlterConfigs, ResourceType::Topic, name))
    return {ErrorCode::TOPIC_AUTHORIZATION_FAILED, "not authorized to alter this topic's configs"};
  auto t = s_.replicas.topic(name);
  if (!t) return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("topic '{}' does not exist", name)};
  std::map<std::string, std::string> overrides = t->configs;
  if (auto r = edit(overrides); !r.ok()) return r;
  return s_.replicas.alter_topic_configs(name, overrides, validate_only);
}

asio::awaitable<AlterConfigsResponse> Handlers::handle(AlterConfigsRequest& req, RequestContext& ctx) {
  AlterConfigsResponse resp;
  for (auto& r : req.resources) {
    // Legacy AlterConfigs replaces every override of the resource with the given set.
    auto result = alter_resource(
        ctx, r.resource_type, r.resource_name,
        [&](std::map<std::string, std::string>& overrides) -> AdminResult {
          overrides.clear();
          for (auto& c : r.configs) {
            if (!c.value) return {ErrorCode::INVALID_REQUEST, fmt::format("config '{}' has a null value", c.name)};
            if (!overrides.emplace(c.name, *c.value).second)
              return {ErrorCode::INVALID_REQUEST, fmt::format("config '{}' appears twice", c.name)};
          }
          return {};
        },
        req.validate_only);
    resp.responses.push_back({result.code, result.ok() ? std::nullopt : std::optional(result.message),
                              r.resource_type, r.resource_name});
  }
  co_return resp;
}

asio::awaitable<IncrementalAlterConfigsResponse> Handlers::handle(IncrementalAlterConfigsRequest& req,
                                                                  RequestContext& ctx) {
  IncrementalAlterConfigsResponse resp;
  for (auto& r : req.resources) {
    const bool broker = r.resource_type == kBrokerResource;
    const config::Schema& schema = broker ? broker_schema() : s_.replicas.topic_schema();
    // The value APPEND and SUBTRACT start from: the one in effect for this resource.
    auto current_list = [&](const std::string& key, const std::map<std::string, std::string>& overrides) {
      if (auto it = overrides.find(key); it != overrides.end())
        return std::get<std::vector<std::string>>(schema.parse_text(key, it->second));
      if (broker) return s_.config.values.get_list(key);
      return std::get<std::vector<std::string>>(s_.replicas.topic_config(r.resource_name).get(key));
    };
    auto edit = [&](std::map<std::string, std::string>& overrides) -> AdminResult {
      std::set<std::string> seen;
      for (auto& c : r.configs) {
        if (!seen.insert(c.name).second)
          return {ErrorCode::INVALID_REQUEST, fmt::format("config '{}' appears twice", c.name)};
        const auto* spec = schema.find(c.name);
        if (!spec)
          return {ErrorCode::INVALID_CONFIG, fmt::format("unknown {} config '{}'", broker ? "broker" : "topic", c.name)};
        switch (c.config_operation) {
          case kSet:
            if (!c.value) return {ErrorCode::INVALID_REQUEST, fmt::format("SET of '{}' has a null value", c.name)};
            overrides[c.name] = *c.value;
            break;
          case kDelete:
            overrides.erase(c.name);
            break;
          case kAppend:
          case kSubtract: {
            if (spec->type != config::Type::List)
              return {ErrorCode::INVALID_CONFIG,
                      fmt::format("APPEND and SUBTRACT apply to list configs; '{}' is not one", c.name)};
            auto list = current_list(c.name, overrides);
            auto items = std::get<std::vector<std::string>>(schema.parse_text(c.name, c.value.value_or("")));
            for (auto& item : items) {
              auto it = std::find(list.begin(), list.end(), item);
              if (c.config_operation == kAppend && it == list.end()) list.push_back(item);
              if (c.config_operation == kSubtract && it != list.end()) list.erase(it);
            }
            overrides[c.name] = config::to_kafka_string(list);
            break;
          }
          default:
            return {ErrorCode::INVALID_REQUEST, fmt::format("unknown config operation {}", c.config_operation)};
        }
      }
      return {};
    };
    AdminResult result;
    try {
      result = alter_resource(ctx, r.resource_type, r.resource_name, edit, req.validate_only);
    } catch (const config::ConfigError& e) {
      result = {ErrorCode::INVALID_CONFIG, e.what()};
    }
    resp.responses.push_back({result.code, result.ok() ? std::nullopt : std::optional(result.message),
                              r.resource_type, r.resource_name});
  }
  co_return resp;
}

}  // namespace ferry::broker
