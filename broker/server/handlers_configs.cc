// Config handlers: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs (KIP-133, KIP-226,
// KIP-339). Topic configs are described with their source and synonyms and can be altered at run
// time; broker configs are described (read-only until dynamic broker configs exist).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "broker/core/replica_manager.h"
#include "broker/server/handlers.h"

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
constexpr int8_t kStaticBrokerConfig = 4;
constexpr int8_t kDefaultConfig = 5;

// IncrementalAlterConfigs operations (KIP-339).
constexpr int8_t kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3;

using Entry = DescribeConfigsResponse::DescribeConfigsResourceResult;
using Synonym = DescribeConfigsResponse::DescribeConfigsSynonym;

bool wanted(const DescribeConfigsRequest::DescribeConfigsResource& r, const std::string& key) {
  if (!r.configuration_keys) return true;  // null: every key
  const auto& k = *r.configuration_keys;
  return std::find(k.begin(), k.end(), key) != k.end();
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
      for (const auto& spec : s_.replicas.topic_schema().keys()) {
        if (!wanted(r, spec.name)) continue;
        Entry e;
        e.name = spec.name;
        e.value = config::to_kafka_string(values.get(spec.name));
        const std::string broker_key = broker_key_for(spec.name);
        const bool override = t->configs.count(spec.name) != 0;
        const bool static_broker = !broker_key.empty() && broker_values.is_set(broker_key);
        e.config_source = override ? kTopicConfig : static_broker ? kStaticBrokerConfig : kDefaultConfig;
        e.is_default = !override && !static_broker;
        if (req.include_synonyms) {
          // Most specific first, as Kafka lists them.
          if (override) e.synonyms.push_back({spec.name, t->configs.at(spec.name), kTopicConfig});
          if (static_broker)
            e.synonyms.push_back({broker_key, config::to_kafka_string(broker_values.get(broker_key)), kStaticBrokerConfig});
          if (const auto* bspec = broker_schema().find(broker_key))
            e.synonyms.push_back({broker_key, config::to_kafka_string(bspec->default_value), kDefaultConfig});
        }
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
      for (const auto& spec : broker_schema().keys()) {
        if (!wanted(r, spec.name)) continue;
        Entry e;
        e.name = spec.name;
        const bool set = broker_values.is_set(spec.name);
        e.value = set || spec.has_default ? std::optional(config::to_kafka_string(broker_values.get(spec.name)))
                                          : std::nullopt;
        e.read_only = true;  // no dynamic broker configs yet: changing one needs a restart
        e.config_source = set ? kStaticBrokerConfig : kDefaultConfig;
        e.is_default = !set;
        if (req.include_synonyms) {
          if (set) e.synonyms.push_back({spec.name, e.value, kStaticBrokerConfig});
          e.synonyms.push_back({spec.name, config::to_kafka_string(spec.default_value), kDefaultConfig});
        }
        out.configs.push_back(std::move(e));
      }
    } else {
      out.error_code = ErrorCode::INVALID_REQUEST;
      out.error_message = fmt::format("resource type {} has no configs here (topics 2, brokers 4)", r.resource_type);
    }
  }
  co_return resp;
}

// Applies the already-computed new override map of one resource, or explains why not.
AdminResult Handlers::alter_resource(RequestContext& ctx, int8_t type, const std::string& name,
                                     const std::function<AdminResult(std::map<std::string, std::string>&)>& edit,
                                     bool validate_only) {
  if (type == kBrokerResource) {
    if (!allowed(ctx, Operation::AlterConfigs, ResourceType::Cluster, security::kClusterResourceName))
      return {ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "not authorized to alter broker configs"};
    return {ErrorCode::INVALID_CONFIG,
            "broker configs cannot be changed at run time by this version; set them in the config file"};
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
  const auto& schema = s_.replicas.topic_schema();
  for (auto& r : req.resources) {
    auto edit = [&](std::map<std::string, std::string>& overrides) -> AdminResult {
      std::set<std::string> seen;
      const auto current = s_.replicas.topic_config(r.resource_name);
      for (auto& c : r.configs) {
        if (!seen.insert(c.name).second)
          return {ErrorCode::INVALID_REQUEST, fmt::format("config '{}' appears twice", c.name)};
        const auto* spec = schema.find(c.name);
        if (!spec) return {ErrorCode::INVALID_CONFIG, fmt::format("unknown topic config '{}'", c.name)};
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
            auto list = std::get<std::vector<std::string>>(current.get(c.name));
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
