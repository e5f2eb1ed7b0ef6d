// InitProducerId (key 22), versions 0–4, flexible from 2. Source: Kafka message schema
// InitProducerIdRequest.json / InitProducerIdResponse.json; KIP-98 (idempotent producer),
// KIP-360 (v3: an existing producer id and epoch ask for an epoch bump).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct InitProducerIdResponse {
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  int64_t producer_id = -1;
  int16_t producer_epoch = 0;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(producer_id, 0);
    v(producer_epoch, 0);
  }
  bool operator==(const InitProducerIdResponse&) const = default;
};

struct InitProducerIdRequest {
  static constexpr int16_t api_key = 22, min_version = 0, max_version = 4, flexible_from = 2;
  static constexpr const char* name = "InitProducerId";
  using Response = InitProducerIdResponse;
  std::optional<std::string> transactional_id;
  int32_t transaction_timeout_ms = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  template <class V>
  void visit(V& v) {
    v(transactional_id, 0);
    v(transaction_timeout_ms, 0);
    v(producer_id, 3);
    v(producer_epoch, 3);
  }
  bool operator==(const InitProducerIdRequest&) const = default;
};

}  // namespace ferry::protocol
