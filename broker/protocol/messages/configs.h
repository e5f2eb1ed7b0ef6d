// Resource configuration: DescribeConfigs (key 32, v1–2, flexible from 4), AlterConfigs (key 33,
// v0–1, flexible from 2), IncrementalAlterConfigs (key 44, v0–1, flexible from 1). Source: the
// Kafka message schemas of the same names; KIP-133 (describe/alter configs), KIP-226 (v1 config
// source and synonyms), KIP-339 (incremental alter configs).
//
// Byte codes, from the Java client (org.apache.kafka.common.config.ConfigResource.Type,
// common.requests.DescribeConfigsResponse.ConfigSource, clients.admin.AlterConfigOp.OpType):
//   resource_type    0 unknown, 2 topic, 4 broker, 8 broker logger (16, 32: newer resource kinds)
//   config_source    0 unknown, 1 dynamic topic, 2 dynamic broker, 3 dynamic default broker,
//                    4 static broker, 5 default, 6 dynamic broker logger; the JSON default -1 is
//                    only a placeholder for v0, which has no such field
//   config_operation 0 set, 1 delete, 2 append, 3 subtract
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

/// One result per requested resource, each listing the resource's configs.
struct DescribeConfigsResponse {
  struct DescribeConfigsSynonym {
    std::string name;
    std::optional<std::string> value;
    int8_t source = 0;
    template <class V>
    void visit(V& v) {
      v(name, 1);
      v(value, 1);
      v(source, 1);
    }
    bool operator==(const DescribeConfigsSynonym&) const = default;
  };
  struct DescribeConfigsResourceResult {
    std::string name;
    std::optional<std::string> value;  // null for sensitive configs
    bool read_only = false;
    bool is_default = false;  // v0 only; v1+ say the same with config_source
    int8_t config_source = -1;
    bool is_sensitive = false;
    std::vector<DescribeConfigsSynonym> synonyms;  // only when the request set include_synonyms
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(value, 0);
      v(read_only, 0);
      v(is_default, 0, 0);
      v(config_source, 1);
      v(is_sensitive, 0);
      v(synonyms, 1);
    }
    bool operator==(const DescribeConfigsResourceResult&) const = default;
  };
  struct DescribeConfigsResult {
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    int8_t resource_type = 0;
    std::string resource_name;
    std::vector<DescribeConfigsResourceResult> configs;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(error_message, 0);
      v(resource_type, 0);
      v(resource_name, 0);
      v(configs, 0);
    }
    bool operator==(const DescribeConfigsResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DescribeConfigsResult> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(results, 0);
  }
  bool operator==(const DescribeConfigsResponse&) const = default;
};

/// Describes the configs of topics or brokers. A null `configuration_keys` asks for every key
/// of the resource (it defaults to empty, Kafka's default for an array without a "default").
/// IncludeDocumentation (v3+) is beyond Ferry's range and not declared.
struct DescribeConfigsRequest {
  static constexpr int16_t api_key = 32, min_version = 1, max_version = 2, flexible_from = 4;
  static constexpr const char* name = "DescribeConfigs";
  using Response = DescribeConfigsResponse;
  struct DescribeConfigsResource {
    int8_t resource_type = 0;
    std::string resource_name;
    std::optional<std::vector<std::string>> configuration_keys = std::vector<std::string>{};
    template <class V>
    void visit(V& v) {
      v(resource_type, 0);
      v(resource_name, 0);
      v(configuration_keys, 0);
    }
    bool operator==(const DescribeConfigsResource&) const = default;
  };
  std::vector<DescribeConfigsResource> resources;
  bool include_synonyms = false;
  template <class V>
  void visit(V& v) {
    v(resources, 0);
    v(include_synonyms, 1);
  }
  bool operator==(const DescribeConfigsRequest&) const = default;
};

/// One result per resource; AlterConfigs and IncrementalAlterConfigs answer alike.
struct AlterConfigsResponse {
  struct AlterConfigsResourceResponse {
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    int8_t resource_type = 0;
    std::string resource_name;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(error_message, 0);
      v(resource_type, 0);
      v(resource_name, 0);
    }
    bool operator==(const AlterConfigsResourceResponse&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<AlterConfigsResourceResponse> responses;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(responses, 0);
  }
  bool operator==(const AlterConfigsResponse&) const = default;
};

/// Replaces the whole dynamic config set of each resource: keys not listed revert to their
/// defaults (the non-incremental semantics KIP-339 was written to avoid).
struct AlterConfigsRequest {
  static constexpr int16_t api_key = 33, min_version = 0, max_version = 1, flexible_from = 2;
  static constexpr const char* name = "AlterConfigs";
  using Response = AlterConfigsResponse;
  struct AlterableConfig {
    std::string name;
    std::optional<std::string> value;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(value, 0);
    }
    bool operator==(const AlterableConfig&) const = default;
  };
  struct AlterConfigsResource {
    int8_t resource_type = 0;
    std::string resource_name;
    std::vector<AlterableConfig> configs;
    template <class V>
    void visit(V& v) {
      v(resource_type, 0);
      v(resource_name, 0);
      v(configs, 0);
    }
    bool operator==(const AlterConfigsResource&) const = default;
  };
  std::vector<AlterConfigsResource> resources;
  bool validate_only = false;
  template <class V>
  void visit(V& v) {
    v(resources, 0);
    v(validate_only, 0);
  }
  bool operator==(const AlterConfigsRequest&) const = default;
};

/// The JSON declares the same fields as AlterConfigsResponse, so the type is shared.
using IncrementalAlterConfigsResponse = AlterConfigsResponse;

/// Applies per-key operations (set, delete, append, subtract) and leaves unlisted keys alone
/// (KIP-339). v1 is flexible.
struct IncrementalAlterConfigsRequest {
  static constexpr int16_t api_key = 44, min_version = 0, max_version = 1, flexible_from = 1;
  static constexpr const char* name = "IncrementalAlterConfigs";
  using Response = IncrementalAlterConfigsResponse;
  struct AlterableConfig {
    std::string name;
    int8_t config_operation = 0;
    std::optional<std::string> value;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(config_operation, 0);
      v(value, 0);
    }
    bool operator==(const AlterableConfig&) const = default;
  };
  struct AlterConfigsResource {
    int8_t resource_type = 0;
    std::string resource_name;
    std::vector<AlterableConfig> configs;
    template <class V>
    void visit(V& v) {
      v(resource_type, 0);
      v(resource_name, 0);
      v(configs, 0);
    }
    bool operator==(const AlterConfigsResource&) const = default;
  };
  std::vector<AlterConfigsResource> resources;
  bool validate_only = false;
  template <class V>
  void visit(V& v) {
    v(resources, 0);
    v(validate_only, 0);
  }
  bool operator==(const IncrementalAlterConfigsRequest&) const = default;
};

}  // namespace ferry::protocol
