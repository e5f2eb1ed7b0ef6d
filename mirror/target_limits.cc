#include "mirror/target_limits.h"

#include <algorithm>
#include <charconv>

namespace ferry::mirror {
namespace {

// Bytes of a zigzag varint (Kafka protocol guide, "Record": varints as in protobuf, signed zigzag).
int64_t varint_bytes(int64_t v) {
  auto z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  int64_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

int64_t bytes_field(std::optional<size_t> len) {
  return len ? varint_bytes(static_cast<int64_t>(*len)) + static_cast<int64_t>(*len) : varint_bytes(-1);
}

std::optional<int64_t> positive(const std::map<std::string, std::string>& configs, const char* key) {
  auto it = configs.find(key);
  if (it == configs.end()) return std::nullopt;
  int64_t v = 0;
  const auto& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

int64_t single_record_batch_bytes(std::optional<size_t> key, std::optional<size_t> value,
                                  const std::vector<HeaderSize>& headers) {
  int64_t body = 1 /*attributes*/ + varint_bytes(0) /*timestampDelta*/ + varint_bytes(0) /*offsetDelta*/ +
                 bytes_field(key) + bytes_field(value) + varint_bytes(static_cast<int64_t>(headers.size()));
  for (const auto& h : headers) body += bytes_field(h.name) + bytes_field(h.value);
  return kRecordBatchOverhead + varint_bytes(body) + body;
}

TargetLimits target_limits_from_configs(const std::map<std::string, std::string>& configs) {
  TargetLimits l;
  if (auto v = positive(configs, "segment.bytes")) l.segment_bytes = *v;
  if (auto v = positive(configs, "max.message.bytes")) l.max_message_bytes = *v;
  return l;
}

std::optional<int64_t> producer_batch_size(const TargetLimits& limits) {
  constexpr int64_t kEstimateSlack = 64;
  if (limits.batch_limit() >= kLibrdkafkaDefaultBatchSize + kRecordBatchOverhead + kEstimateSlack) return std::nullopt;
  return std::max<int64_t>(1, limits.batch_limit() - kRecordBatchOverhead - kEstimateSlack);
}

int64_t producer_message_max_bytes(const TargetLimits& limits) {
  constexpr int64_t kLibrdkafkaMax = 1'000'000'000;  // message.max.bytes range: 1000 .. 1000000000
  const int64_t want = limits.batch_limit() == INT64_MAX ? kLibrdkafkaDefaultMessageMaxBytes : limits.batch_limit() + 4096;
  return std::clamp(want, kLibrdkafkaDefaultMessageMaxBytes, kLibrdkafkaMax);
}

}  // namespace ferry::mirror
