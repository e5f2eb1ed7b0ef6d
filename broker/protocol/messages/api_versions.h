// ApiVersions (key 18), versions 0–3, flexible from 3. Source: Kafka message schema
// ApiVersionsRequest.json / ApiVersionsResponse.json; KIP-35, KIP-511 (client software name).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct ApiVersionsResponse {
  struct ApiVersion {
    int16_t api_key = 0;
    int16_t min_version = 0;
    int16_t max_version = 0;
    template <class V>
    void visit(V& v) {
      v(api_key, 0);
      v(min_version, 0);
      v(max_version, 0);
    }
    bool operator==(const ApiVersion&) const = default;
  };
  /// A feature the broker supports, with its version range (KIP-584). Ferry advertises none.
  struct SupportedFeatureKey {
    std::string name;
    int16_t min_version = 0;
    int16_t max_version = 0;
    template <class V>
    void visit(V& v) {
      v(name, 3);
      v(min_version, 3);
      v(max_version, 3);
    }
    bool operator==(const SupportedFeatureKey&) const = default;
  };
  /// A cluster-wide finalized feature level (KIP-584). Note the wire order: max before min.
  struct FinalizedFeatureKey {
    std::string name;
    int16_t max_version_level = 0;
    int16_t min_version_level = 0;
    template <class V>
    void visit(V& v) {
      v(name, 3);
      v(max_version_level, 3);
      v(min_version_level, 3);
    }
    bool operator==(const FinalizedFeatureKey&) const = default;
  };
  ErrorCode error_code = ErrorCode::NONE;
  std::vector<ApiVersion> api_keys;
  int32_t throttle_time_ms = 0;
  std::vector<SupportedFeatureKey> supported_features;  // tag 0, v3+
  int64_t finalized_features_epoch = -1;                // tag 1, v3+ (-1: no finalized features)
  std::vector<FinalizedFeatureKey> finalized_features;  // tag 2, v3+
  bool zk_migration_ready = false;                      // tag 3, v3+ (KRaft controllers only)
  template <class V>
  void visit(V& v) {
    v(error_code, 0);
    v(api_keys, 0);
    v(throttle_time_ms, 1);
    v.tagged(supported_features, 0, 3);
    v.tagged(finalized_features_epoch, 1, 3);
    v.tagged(finalized_features, 2, 3);
    v.tagged(zk_migration_ready, 3, 3);
  }
  bool operator==(const ApiVersionsResponse&) const = default;
};

struct ApiVersionsRequest {
  static constexpr int16_t api_key = 18, min_version = 0, max_version = 3, flexible_from = 3;
  static constexpr const char* name = "ApiVersions";
  using Response = ApiVersionsResponse;
  std::string client_software_name;
  std::string client_software_version;
  template <class V>
  void visit(V& v) {
    v(client_software_name, 3);
    v(client_software_version, 3);
  }
  bool operator==(const ApiVersionsRequest&) const = default;
};

}  // namespace ferry::protocol
