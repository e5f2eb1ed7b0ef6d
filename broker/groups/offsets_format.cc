// The records' fields live in the visit() members of offsets_format.h and are encoded by the
// project's one schema codec (broker/protocol/schema.h). What a record has beyond a message body
// is here: the leading int16 version that picks the schema, the rule that nothing follows the last
// field, Kafka's length limits, and error text that names the record kind and version.
#include "broker/groups/offsets_format.h"

#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "broker/protocol/schema.h"

namespace ferry::groups {
namespace {

using protocol::DecodeError;

constexpr const char* kOffsetKeyKind = "OffsetCommitKey";
constexpr const char* kGroupKeyKind = "GroupMetadataKey";
constexpr const char* kOffsetValueKind = "OffsetCommitValue";
constexpr const char* kGroupValueKind = "GroupMetadataValue";
constexpr const char* kKeyKind = "__consumer_offsets key";

// Kafka's first flexible (KIP-482) version of both value records; keys are never flexible.
constexpr int16_t kFirstFlexibleValueVersion = 4;

std::string where(const char* kind, int16_t version) {
  return std::string(kind) + " v" + std::to_string(version);
}

// Kafka's generated serializers refuse a string over Short.MAX_VALUE bytes in either encoding and
// a bytes field or array whose length would not fit the classic int32. The protocol Encoder checks
// only classic strings (and with std::length_error), so the whole record is checked here first.
class LimitCheck {
 public:
  LimitCheck(const char* kind, int16_t version) : kind_(kind), version_(version) {}

  template <class T>
  void operator()(const T& field, int16_t since, int16_t until = protocol::kMaxVersion) {
    if (version_ >= since && version_ <= until) check(field);
  }

 private:
  static constexpr size_t kMaxString = std::numeric_limits<int16_t>::max();
  static constexpr size_t kMaxLength = std::numeric_limits<int32_t>::max() - 1;

  template <class T>
    requires std::is_arithmetic_v<T>
  void check(const T&) {}
  void check(const std::string& s) { limit(s.size(), kMaxString, "string length"); }
  void check(const std::optional<std::string>& s) {
    if (s) check(*s);
  }
  void check(const Bytes& b) { limit(b.size(), kMaxLength, "bytes length"); }
  template <protocol::Schema S>
  void check(const std::vector<S>& items) {
    limit(items.size(), kMaxLength, "array count");
    for (const S& item : items) const_cast<S&>(item).visit(*this);  // visit() only reads here
  }

  void limit(size_t n, size_t max, const char* what) const {
    if (n > max) {
      throw std::runtime_error(where(kind_, version_) + ": " + what + " " + std::to_string(n) +
                               " exceeds Kafka's limit of " + std::to_string(max));
    }
  }

  const char* kind_;
  int16_t version_;
};

template <protocol::Schema T>
Bytes encode_record(const char* kind, const T& record, int16_t version, bool flexible) {
  LimitCheck limits(kind, version);
  const_cast<T&>(record).visit(limits);  // visit() only reads through a LimitCheck
  Bytes out;
  protocol::Writer w(out);
  w.i16(version);
  protocol::encode(record, version, flexible, w);
  return out;
}

int16_t read_version(protocol::Reader& r, const char* kind) {
  try {
    return r.i16();
  } catch (const DecodeError& e) {
    throw std::runtime_error(std::string(kind) + ": " + e.what());
  }
}

// Kafka's records have nothing after the last field, so extra bytes mean the version lied.
template <protocol::Schema T>
T decode_record_body(const char* kind, protocol::Reader& r, int16_t version, bool flexible) {
  try {
    T record = protocol::decode<T>(r, version, flexible);
    if (r.remaining() != 0) throw DecodeError(std::to_string(r.remaining()) + " trailing bytes");
    return record;
  } catch (const DecodeError& e) {
    throw std::runtime_error(where(kind, version) + ": " + e.what());
  }
}

void check_version(const char* kind, int16_t version, int16_t max) {
  if (version < 0 || version > max) {
    throw std::runtime_error(std::string(kind) + ": unsupported version " +
                             std::to_string(version) + " (known 0-" + std::to_string(max) + ")");
  }
}

}  // namespace

UnknownKeyVersion::UnknownKeyVersion(int16_t version)
    : std::runtime_error(std::string(kKeyKind) + ": unknown key version " +
                         std::to_string(version) +
                         " (0/1 = OffsetCommitKey, 2 = GroupMetadataKey)"),
      version_(version) {}

Bytes encode_key(const OffsetKey& key, int16_t version) {
  check_version(kOffsetKeyKind, version, kOffsetKeyVersion);
  return encode_record(kOffsetKeyKind, key, version, false);
}

Bytes encode_key(const GroupMetadataKey& key) {
  return encode_record(kGroupKeyKind, key, kGroupMetadataKeyVersion, false);
}

Bytes encode_value(const OffsetValue& value) {
  return encode_value(
      value, value.expire_timestamp == -1 ? kOffsetValueVersion : kOffsetValueVersionWithExpire);
}

Bytes encode_value(const OffsetValue& value, int16_t version) {
  check_version(kOffsetValueKind, version, kMaxOffsetValueVersion);
  return encode_record(kOffsetValueKind, value, version, version >= kFirstFlexibleValueVersion);
}

Bytes encode_value(const GroupMetadataValue& value, int16_t version) {
  check_version(kGroupValueKind, version, kMaxGroupValueVersion);
  return encode_record(kGroupValueKind, value, version, version >= kFirstFlexibleValueVersion);
}

ConsumerOffsetsKey decode_key(std::span<const uint8_t> bytes) {
  protocol::Reader r(bytes);
  const int16_t version = read_version(r, kKeyKind);
  if (version == kOffsetKeyVersionV0 || version == kOffsetKeyVersion) {
    return decode_record_body<OffsetKey>(kOffsetKeyKind, r, version, false);
  }
  if (version == kGroupMetadataKeyVersion) {
    return decode_record_body<GroupMetadataKey>(kGroupKeyKind, r, version, false);
  }
  throw UnknownKeyVersion(version);
}

OffsetValue decode_offset_value(std::span<const uint8_t> bytes) {
  protocol::Reader r(bytes);
  const int16_t version = read_version(r, kOffsetValueKind);
  check_version(kOffsetValueKind, version, kMaxOffsetValueVersion);
  return decode_record_body<OffsetValue>(kOffsetValueKind, r, version,
                                         version >= kFirstFlexibleValueVersion);
}

GroupMetadataValue decode_group_value(std::span<const uint8_t> bytes) {
  protocol::Reader r(bytes);
  const int16_t version = read_version(r, kGroupValueKind);
  check_version(kGroupValueKind, version, kMaxGroupValueVersion);
  GroupMetadataValue v = decode_record_body<GroupMetadataValue>(
      kGroupValueKind, r, version, version >= kFirstFlexibleValueVersion);
  // Kafka's loader does the same: before v1 the session timeout bounded the rebalance too.
  if (version == 0) {
    for (auto& m : v.members) m.rebalance_timeout_ms = m.session_timeout_ms;
  }
  return v;
}

ConsumerOffsetsRecord decode_record(std::span<const uint8_t> key,
                                    std::optional<std::span<const uint8_t>> value) {
  ConsumerOffsetsKey k = decode_key(key);
  if (auto* ok = std::get_if<OffsetKey>(&k)) {
    OffsetRecord rec{std::move(*ok), std::nullopt};
    if (value) rec.value = decode_offset_value(*value);
    return rec;
  }
  GroupRecord rec{std::move(std::get<GroupMetadataKey>(k)), std::nullopt};
  if (value) rec.value = decode_group_value(*value);
  return rec;
}

GroupMetadataValue to_group_value(const GroupSnapshot& snapshot) {
  GroupMetadataValue v;
  v.protocol_type = snapshot.protocol_type;
  v.generation = snapshot.generation_id;
  if (!snapshot.protocol_name.empty()) v.protocol = snapshot.protocol_name;
  if (!snapshot.leader_id.empty()) v.leader = snapshot.leader_id;
  v.current_state_timestamp = snapshot.state_timestamp_ms;
  v.members = snapshot.members;
  return v;
}

GroupSnapshot to_snapshot(const GroupMetadataKey& key, const GroupMetadataValue& value,
                          int64_t load_time_ms) {
  GroupSnapshot s;
  s.group_id = key.group;
  s.protocol_type = value.protocol_type;
  s.generation_id = value.generation;
  s.protocol_name = value.protocol.value_or("");
  s.leader_id = value.leader.value_or("");
  s.state_timestamp_ms =
      value.current_state_timestamp == -1 ? load_time_ms : value.current_state_timestamp;
  s.members = value.members;
  return s;
}

}  // namespace ferry::groups
