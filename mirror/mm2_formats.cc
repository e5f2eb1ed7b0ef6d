#include "mirror/mm2_formats.h"

#include <fmt/format.h>

#include <tuple>
#include <type_traits>

namespace ferry::mirror {
namespace {

// Each record kind is declared once here: its fields in wire order and whether a version INT16
// precedes them. encode() and decode() are derived from these declarations.
template <class T>
struct Layout;

template <>
struct Layout<HeartbeatKey> {
  static constexpr const char* kName = "heartbeat key";
  static constexpr bool kVersioned = false;
  static constexpr auto kFields =
      std::make_tuple(&HeartbeatKey::source_cluster_alias, &HeartbeatKey::target_cluster_alias);
};
template <>
struct Layout<HeartbeatValue> {
  static constexpr const char* kName = "heartbeat value";
  static constexpr bool kVersioned = true;
  static constexpr auto kFields = std::make_tuple(&HeartbeatValue::timestamp_ms);
};
template <>
struct Layout<CheckpointKey> {
  static constexpr const char* kName = "checkpoint key";
  static constexpr bool kVersioned = false;
  static constexpr auto kFields =
      std::make_tuple(&CheckpointKey::group, &CheckpointKey::topic, &CheckpointKey::partition);
};
template <>
struct Layout<CheckpointValue> {
  static constexpr const char* kName = "checkpoint value";
  static constexpr bool kVersioned = true;
  static constexpr auto kFields = std::make_tuple(&CheckpointValue::upstream_offset,
                                                  &CheckpointValue::downstream_offset, &CheckpointValue::metadata);
};
template <>
struct Layout<OffsetSyncKey> {
  static constexpr const char* kName = "offset-sync key";
  static constexpr bool kVersioned = false;
  static constexpr auto kFields = std::make_tuple(&OffsetSyncKey::topic, &OffsetSyncKey::partition);
};
template <>
struct Layout<OffsetSync> {
  static constexpr const char* kName = "offset-sync value";
  static constexpr bool kVersioned = false;
  static constexpr auto kFields = std::make_tuple(&OffsetSync::upstream_offset, &OffsetSync::downstream_offset);
};

// The only version MM2 has written so far (Heartbeat.VERSION, Checkpoint.VERSION).
constexpr int16_t kVersion = 0;

class Writer {
 public:
  template <class I>
  requires std::is_integral_v<I>
  void put(I v) {
    using U = std::make_unsigned_t<I>;
    U u = static_cast<U>(v);
    for (int shift = (sizeof(I) - 1) * 8; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((u >> shift) & 0xff));
  }
  void put(const std::string& s) {
    if (s.size() > INT16_MAX)
      throw std::invalid_argument(
          fmt::format("string of {} bytes exceeds the INT16 length limit of MM2's STRING type", s.size()));
    put(static_cast<int16_t>(s.size()));
    out_ += s;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view in, const char* what) : in_(in), what_(what) {}

  template <class I>
  requires std::is_integral_v<I>
  void get(I& v) {
    need(sizeof(I));
    std::make_unsigned_t<I> u = 0;
    for (size_t i = 0; i < sizeof(I); ++i) u = static_cast<decltype(u)>((u << 8) | static_cast<uint8_t>(in_[pos_ + i]));
    pos_ += sizeof(I);
    v = static_cast<I>(u);
  }
  void get(std::string& s) {
    int16_t len = 0;
    get(len);
    if (len < 0) fail(fmt::format("negative string length {} at byte {}", len, pos_ - 2));
    need(static_cast<size_t>(len));
    s.assign(in_.substr(pos_, static_cast<size_t>(len)));
    pos_ += static_cast<size_t>(len);
  }
  void expect_end() const {
    if (pos_ != in_.size()) fail(fmt::format("{} trailing byte(s) after {} bytes", in_.size() - pos_, pos_));
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw FormatError(fmt::format("malformed MM2 {} ({} bytes): {}", what_, in_.size(), why));
  }

 private:
  void need(size_t n) const {
    if (in_.size() - pos_ < n) fail(fmt::format("truncated: need {} byte(s) at byte {}", n, pos_));
  }
  std::string_view in_;
  const char* what_;
  size_t pos_ = 0;
};

template <class T>
std::string encode_record(const T& record) {
  Writer w;
  if constexpr (Layout<T>::kVersioned) w.put(kVersion);
  std::apply([&](auto... field) { (w.put(record.*field), ...); }, Layout<T>::kFields);
  return w.take();
}

template <class T>
T decode_record(std::string_view bytes) {
  Reader r(bytes, Layout<T>::kName);
  if constexpr (Layout<T>::kVersioned) {
    int16_t version = 0;
    r.get(version);
    if (version != kVersion) r.fail(fmt::format("unsupported version {} (only {} is defined)", version, kVersion));
  }
  T record{};
  std::apply([&](auto... field) { (r.get(record.*field), ...); }, Layout<T>::kFields);
  r.expect_end();
  return record;
}

}  // namespace

std::string checkpoints_topic(std::string_view source_alias, std::string_view separator) {
  return fmt::format("{}{}checkpoints{}internal", source_alias, separator, separator);
}

std::string offset_syncs_topic(std::string_view target_alias, std::string_view separator) {
  return fmt::format("mm2-offset-syncs{}{}{}internal", separator, target_alias, separator);
}

std::string encode(const HeartbeatKey& key) { return encode_record(key); }
std::string encode(const HeartbeatValue& value) { return encode_record(value); }
std::string encode(const CheckpointKey& key) { return encode_record(key); }
std::string encode(const CheckpointValue& value) { return encode_record(value); }
std::string encode(const OffsetSyncKey& key) { return encode_record(key); }
std::string encode(const OffsetSync& value) { return encode_record(value); }

HeartbeatKey decode_heartbeat_key(std::string_view bytes) { return decode_record<HeartbeatKey>(bytes); }
HeartbeatValue decode_heartbeat_value(std::string_view bytes) { return decode_record<HeartbeatValue>(bytes); }
CheckpointKey decode_checkpoint_key(std::string_view bytes) { return decode_record<CheckpointKey>(bytes); }
CheckpointValue decode_checkpoint_value(std::string_view bytes) { return decode_record<CheckpointValue>(bytes); }
OffsetSyncKey decode_offset_sync_key(std::string_view bytes) { return decode_record<OffsetSyncKey>(bytes); }
OffsetSync decode_offset_sync_value(std::string_view bytes) { return decode_record<OffsetSync>(bytes); }

}  // namespace ferry::mirror
