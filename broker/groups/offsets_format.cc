// Each schema is declared once as a function template over an "IO" that is either a Writer or a
// Reader, so the field order and the version ranges of a record live in one place and encode and
// decode cannot drift apart.
#include "broker/groups/offsets_format.h"

#include <limits>
#include <string_view>
#include <utility>

namespace ferry::groups {
namespace {

constexpr const char* kOffsetKeyKind = "OffsetCommitKey";
constexpr const char* kGroupKeyKind = "GroupMetadataKey";
constexpr const char* kOffsetValueKind = "OffsetCommitValue";
constexpr const char* kGroupValueKind = "GroupMetadataValue";
constexpr const char* kKeyKind = "__consumer_offsets key";

// Kafka's first flexible (KIP-482) version of both value records.
constexpr int16_t kFirstFlexibleValueVersion = 4;

// The fewest bytes one MemberMetadata can take in any version (v4: six one-byte compact lengths,
// two int32s, an empty tag buffer), to bound the member count by the bytes left before reserving.
constexpr size_t kMinMemberBytes = 15;

std::string where(const char* kind, int16_t version, const char* field) {
  std::string s = std::string(kind) + " v" + std::to_string(version);
  if (field != nullptr) s += std::string(": field '") + field + "'";
  return s;
}

class Writer {
 public:
  Writer(const char* kind, int16_t version, bool flexible)
      : kind_(kind), version_(version), flexible_(flexible) {
    i16(nullptr, version);
  }

  void i16(const char*, int16_t v) { be(static_cast<uint16_t>(v), 2); }
  void i32(const char*, int32_t v) { be(static_cast<uint32_t>(v), 4); }
  void i64(const char*, int64_t v) { be(static_cast<uint64_t>(v), 8); }

  void str(const char* field, const std::string& s) {
    string_len(field, s.size());
    raw(s);
  }

  void nstr(const char* field, const std::optional<std::string>& s) {
    if (!s) {
      null_len();
      return;
    }
    str(field, *s);
  }

  void bytes(const char* field, const Bytes& b) {
    if (b.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() - 1)) {
      fail(field, "too long (" + std::to_string(b.size()) + " bytes)");
    }
    if (flexible_) {
      uvarint(static_cast<uint32_t>(b.size() + 1));
    } else {
      i32(field, static_cast<int32_t>(b.size()));
    }
    out_.insert(out_.end(), b.begin(), b.end());
  }

  template <typename Vec, typename Fn>
  void array(const char* field, const Vec& items, size_t /*min_item_bytes*/, Fn each) {
    if (items.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() - 1)) {
      fail(field, "too many items");
    }
    if (flexible_) {
      uvarint(static_cast<uint32_t>(items.size() + 1));
    } else {
      i32(field, static_cast<int32_t>(items.size()));
    }
    for (const auto& item : items) each(item);
  }

  // Ferry defines no tagged fields, so a flexible struct ends with an empty tag buffer.
  void tags() { uvarint(0); }

  Bytes take() { return std::move(out_); }

 private:
  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw std::runtime_error(where(kind_, version_, field) + ": " + what);
  }

  void be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }

  void uvarint(uint32_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
  }

  // Kafka caps every string, classic or compact, at Short.MAX_VALUE bytes.
  void string_len(const char* field, size_t n) {
    if (n > static_cast<size_t>(std::numeric_limits<int16_t>::max())) {
      fail(field, "string too long (" + std::to_string(n) + " bytes, at most 32767)");
    }
    if (flexible_) {
      uvarint(static_cast<uint32_t>(n + 1));
    } else {
      i16(nullptr, static_cast<int16_t>(n));
    }
  }

  void null_len() {
    if (flexible_) {
      uvarint(0);
    } else {
      i16(nullptr, -1);
    }
  }

  void raw(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }

  const char* kind_;
  int16_t version_;
  bool flexible_;
  Bytes out_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> in, const char* kind) : in_(in), kind_(kind) {}

  // Reads the record's leading version, before the schema (and so the flexibility) is known.
  int16_t version() {
    int16_t v = 0;
    i16("version", v);
    version_ = v;
    return v;
  }

  void set_schema(const char* kind, bool flexible) {
    kind_ = kind;
    flexible_ = flexible;
  }

  void i16(const char* field, int16_t& v) { v = static_cast<int16_t>(be(field, 2)); }
  void i32(const char* field, int32_t& v) { v = static_cast<int32_t>(be(field, 4)); }
  void i64(const char* field, int64_t& v) { v = static_cast<int64_t>(be(field, 8)); }

  void str(const char* field, std::string& s) {
    std::optional<size_t> n = string_len(field);
    if (!n) fail(field, "null in a non-nullable string");
    s = take_string(field, *n);
  }

  void nstr(const char* field, std::optional<std::string>& s) {
    std::optional<size_t> n = string_len(field);
    if (!n) {
      s.reset();
      return;
    }
    s = take_string(field, *n);
  }

  void bytes(const char* field, Bytes& b) {
    size_t n = 0;
    if (flexible_) {
      uint32_t raw = uvarint(field);
      if (raw == 0) fail(field, "null in non-nullable bytes");
      n = raw - 1;
    } else {
      int32_t len = 0;
      i32(field, len);
      if (len < 0) fail(field, "null or negative length " + std::to_string(len));
      n = static_cast<size_t>(len);
    }
    need(field, n);
    b.assign(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
             in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
  }

  template <typename Vec, typename Fn>
  void array(const char* field, Vec& items, size_t min_item_bytes, Fn each) {
    size_t n = 0;
    if (flexible_) {
      uint32_t raw = uvarint(field);
      if (raw == 0) fail(field, "null in a non-nullable array");
      n = raw - 1;
    } else {
      int32_t len = 0;
      i32(field, len);
      if (len < 0) fail(field, "null or negative array length " + std::to_string(len));
      n = static_cast<size_t>(len);
    }
    if (n > left() / min_item_bytes) {
      fail(field, "array of " + std::to_string(n) + " items cannot fit in the " +
                      std::to_string(left()) + " bytes left");
    }
    items.clear();
    items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      items.emplace_back();
      each(items.back());
    }
  }

  // Skips the tag buffer: no tagged field is defined for these records, and KIP-482 says unknown
  // tags are ignored.
  void tags() {
    uint32_t count = uvarint("tagged fields");
    for (uint32_t i = 0; i < count; ++i) {
      uvarint("tag");
      uint32_t size = uvarint("tagged field size");
      need("tagged field", size);
      pos_ += size;
    }
  }

  // Kafka's records have nothing after the last field; extra bytes mean the version lied.
  void finish() {
    if (left() != 0) fail(nullptr, std::to_string(left()) + " trailing bytes");
  }

 private:
  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw std::runtime_error(where(kind_, version_, field) + ": " + what);
  }

  size_t left() const { return in_.size() - pos_; }

  void need(const char* field, size_t n) const {
    if (n > left()) {
      fail(field,
           "truncated (need " + std::to_string(n) + " bytes, " + std::to_string(left()) + " left)");
    }
  }

  uint64_t be(const char* field, int n) {
    need(field, static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | in_[pos_ + static_cast<size_t>(i)];
    pos_ += static_cast<size_t>(n);
    return v;
  }

  // KIP-482 unsigned varint of at most 32 bits (5 bytes).
  uint32_t uvarint(const char* field) {
    uint32_t v = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      need(field, 1);
      uint8_t b = in_[pos_++];
      if (shift == 28 && (b & 0xF0) != 0) fail(field, "varint overflows 32 bits");
      v |= static_cast<uint32_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail(field, "varint longer than 5 bytes");
  }

  // nullopt for null; the length otherwise.
  std::optional<size_t> string_len(const char* field) {
    if (flexible_) {
      uint32_t raw = uvarint(field);
      if (raw == 0) return std::nullopt;
      return static_cast<size_t>(raw - 1);
    }
    int16_t len = 0;
    i16(field, len);
    if (len == -1) return std::nullopt;
    if (len < 0) fail(field, "negative string length " + std::to_string(len));
    return static_cast<size_t>(len);
  }

  std::string take_string(const char* field, size_t n) {
    need(field, n);
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  const char* kind_;
  int16_t version_ = -1;
  bool flexible_ = false;
};

// The schemas, field for field as in Apache Kafka's group-coordinator message JSON definitions.
// K/V/M are const for the Writer and mutable for the Reader.

template <typename IO, typename K>
void offset_key_fields(IO& io, K& k) {
  io.str("group", k.group);
  io.str("topic", k.topic);
  io.i32("partition", k.partition);
}

template <typename IO, typename K>
void group_key_fields(IO& io, K& k) {
  io.str("group", k.group);
}

template <typename IO, typename V>
void offset_value_fields(IO& io, V& v, int16_t version) {
  io.i64("offset", v.offset);
  if (version >= 3) io.i32("leaderEpoch", v.leader_epoch);
  io.str("metadata", v.metadata);
  io.i64("commitTimestamp", v.commit_timestamp);
  if (version == 1) io.i64("expireTimestamp", v.expire_timestamp);
  if (version >= kFirstFlexibleValueVersion) io.tags();
}

template <typename IO, typename M>
void member_fields(IO& io, M& m, int16_t version) {
  io.str("memberId", m.member_id);
  if (version >= 3) io.nstr("groupInstanceId", m.group_instance_id);
  io.str("clientId", m.client_id);
  io.str("clientHost", m.client_host);
  if (version >= 1) io.i32("rebalanceTimeout", m.rebalance_timeout_ms);
  io.i32("sessionTimeout", m.session_timeout_ms);
  io.bytes("subscription", m.subscription);
  io.bytes("assignment", m.assignment);
  if (version >= kFirstFlexibleValueVersion) io.tags();
}

template <typename IO, typename V>
void group_value_fields(IO& io, V& v, int16_t version) {
  io.str("protocolType", v.protocol_type);
  io.i32("generation", v.generation);
  io.nstr("protocol", v.protocol);
  io.nstr("leader", v.leader);
  if (version >= 2) io.i64("currentStateTimestamp", v.current_state_timestamp);
  io.array("members", v.members, kMinMemberBytes, [&](auto& m) { member_fields(io, m, version); });
  if (version >= kFirstFlexibleValueVersion) io.tags();
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
  if (version != kOffsetKeyVersionV0 && version != kOffsetKeyVersion) {
    throw std::runtime_error(std::string(kOffsetKeyKind) + ": unsupported version " +
                             std::to_string(version) + " (known 0-1)");
  }
  Writer w(kOffsetKeyKind, version, false);
  offset_key_fields(w, key);
  return w.take();
}

Bytes encode_key(const GroupMetadataKey& key) {
  Writer w(kGroupKeyKind, kGroupMetadataKeyVersion, false);
  group_key_fields(w, key);
  return w.take();
}

Bytes encode_value(const OffsetValue& value) {
  return encode_value(
      value, value.expire_timestamp == -1 ? kOffsetValueVersion : kOffsetValueVersionWithExpire);
}

Bytes encode_value(const OffsetValue& value, int16_t version) {
  check_version(kOffsetValueKind, version, kMaxOffsetValueVersion);
  Writer w(kOffsetValueKind, version, version >= kFirstFlexibleValueVersion);
  offset_value_fields(w, value, version);
  return w.take();
}

Bytes encode_value(const GroupMetadataValue& value, int16_t version) {
  check_version(kGroupValueKind, version, kMaxGroupValueVersion);
  Writer w(kGroupValueKind, version, version >= kFirstFlexibleValueVersion);
  group_value_fields(w, value, version);
  return w.take();
}

ConsumerOffsetsKey decode_key(std::span<const uint8_t> bytes) {
  Reader r(bytes, kKeyKind);
  const int16_t version = r.version();
  if (version == kOffsetKeyVersionV0 || version == kOffsetKeyVersion) {
    r.set_schema(kOffsetKeyKind, false);
    OffsetKey k;
    offset_key_fields(r, k);
    r.finish();
    return k;
  }
  if (version == kGroupMetadataKeyVersion) {
    r.set_schema(kGroupKeyKind, false);
    GroupMetadataKey k;
    group_key_fields(r, k);
    r.finish();
    return k;
  }
  throw UnknownKeyVersion(version);
}

OffsetValue decode_offset_value(std::span<const uint8_t> bytes) {
  Reader r(bytes, kOffsetValueKind);
  const int16_t version = r.version();
  check_version(kOffsetValueKind, version, kMaxOffsetValueVersion);
  r.set_schema(kOffsetValueKind, version >= kFirstFlexibleValueVersion);
  OffsetValue v;
  offset_value_fields(r, v, version);
  r.finish();
  return v;
}

GroupMetadataValue decode_group_value(std::span<const uint8_t> bytes) {
  Reader r(bytes, kGroupValueKind);
  const int16_t version = r.version();
  check_version(kGroupValueKind, version, kMaxGroupValueVersion);
  r.set_schema(kGroupValueKind, version >= kFirstFlexibleValueVersion);
  GroupMetadataValue v;
  group_value_fields(r, v, version);
  r.finish();
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
  v.members.reserve(snapshot.members.size());
  for (const MemberSnapshot& m : snapshot.members) {
    v.members.push_back({m.member_id, m.group_instance_id, m.client_id, m.client_host,
                         m.rebalance_timeout_ms, m.session_timeout_ms, m.subscription,
                         m.assignment});
  }
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
  s.members.reserve(value.members.size());
  for (const MemberMetadata& m : value.members) {
    s.members.push_back({m.member_id, m.group_instance_id, m.client_id, m.client_host,
                         m.rebalance_timeout_ms, m.session_timeout_ms, m.subscription,
                         m.assignment});
  }
  return s;
}

}  // namespace ferry::groups
