// Storage-private byte helpers: big-endian fixed-width fields and Kafka's zig-zag varints as they
// appear inside record batch v2 (kafka.apache.org/documentation "Record Batch" / "Record").
// Storage keeps its own copy so it never depends on the protocol module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace ferry::storage::bytes {

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline uint64_t load_be64(const uint8_t* p) {
  return (uint64_t{load_be32(p)} << 32) | uint64_t{load_be32(p + 4)};
}

inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

inline void store_be32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

inline void store_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

/// Bounds-checked forward cursor over a record body. Every read returns nullopt instead of
/// running past `end`, so a lying length inside a record can never read outside the batch.
class Cursor {
 public:
  Cursor(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }

  std::optional<int8_t> i8() {
    if (p_ == end_) return std::nullopt;
    return static_cast<int8_t>(*p_++);
  }

  /// Zig-zag varint of at most `max_bytes` bytes (5 for int32 "varint", 10 for "varlong");
  /// a longer encoding is malformed, as in Kafka's ByteUtils.
  std::optional<int64_t> varlong(int max_bytes = 10) {
    uint64_t raw = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (p_ == end_) return std::nullopt;
      uint8_t b = *p_++;
      raw |= uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) return static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);
    }
    return std::nullopt;
  }

  std::optional<int32_t> varint() {
    auto v = varlong(5);
    if (!v || *v < INT32_MIN || *v > INT32_MAX) return std::nullopt;
    return static_cast<int32_t>(*v);
  }

  /// Skips `n` bytes; false when fewer remain.
  bool skip(size_t n) {
    if (n > remaining()) return false;
    p_ += n;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace ferry::storage::bytes
