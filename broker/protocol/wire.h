// Primitive Kafka wire types: fixed-width big-endian integers, zig-zag and unsigned varints,
// strings and bytes (classic int16/int32 length or KIP-482 compact unsigned-varint length + 1).
// Source: kafka.apache.org/protocol "Protocol Primitive Types"; KIP-482 for compact forms.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::protocol {

using Bytes = std::vector<uint8_t>;

/// A byte range of an open file that an encoded message refers to instead of holding: a log
/// segment's record batches, which a plaintext connection sends with sendfile(2) so they never
/// pass through user space (Kafka's FileRecords.writeTo does the same with transferTo).
struct FileSlice {
  std::shared_ptr<const void> owner;  ///< keeps `fd` open for as long as the slice lives
  int fd = -1;
  int64_t offset = 0;  ///< bytes from the start of the file
  int64_t length = 0;  ///< bytes
  bool operator==(const FileSlice& o) const { return fd == o.fd && offset == o.offset && length == o.length; }
};

/// Appends a slice's bytes to `out` with pread(2). Throws std::system_error on an I/O error or
/// when the file ends before the slice does (it was cut after the slice was taken); `out` is
/// then unchanged.
void read_slice(const FileSlice& slice, std::vector<uint8_t>& out);

/// A FileSlice placed in an encoded buffer: its bytes belong just before `out[at]`.
struct Splice {
  size_t at = 0;
  FileSlice slice;
};

/// A 128-bit UUID as it travels on the wire (16 raw bytes, most significant first).
struct Uuid {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const Uuid&) const = default;
};

/// Thrown by Reader when input is truncated, lies about a length, or carries an invalid varint.
/// The network layer turns it into a closed connection (Kafka's own behaviour for an
/// undecodable request); it never escapes to other connections.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Bounds-checked cursor over an immutable byte span. Every length read from the wire is checked
/// against the bytes that remain *before* anything is allocated, so a lying length can never
/// cause an allocation larger than the frame it arrived in.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> buf) : p_(buf.data()), end_(buf.data() + buf.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }

  int8_t i8() { return static_cast<int8_t>(*need(1)); }
  bool boolean() { return i8() != 0; }
  int16_t i16() { return static_cast<int16_t>(be<uint16_t>()); }
  uint16_t u16() { return be<uint16_t>(); }
  int32_t i32() { return static_cast<int32_t>(be<uint32_t>()); }
  uint32_t u32() { return be<uint32_t>(); }
  int64_t i64() { return static_cast<int64_t>(be<uint64_t>()); }
  double f64() {
    uint64_t bits = be<uint64_t>();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  Uuid uuid() {
    Uuid u;
    std::memcpy(u.bytes.data(), need(16), 16);
    return u;
  }

  /// Unsigned LEB128 varint of at most 5 bytes (KIP-482 lengths and tags).
  uint32_t uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      uint8_t b = static_cast<uint8_t>(i8());
      if (shift == 28 && (b & 0xf0)) throw DecodeError("uvarint overflows 32 bits");
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw DecodeError("uvarint longer than 5 bytes");
  }
  /// Unsigned LEB128 varint of at most 10 bytes.
  uint64_t uvarlong() {
    uint64_t v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      uint8_t b = static_cast<uint8_t>(i8());
      if (shift == 63 && (b & 0xfe)) throw DecodeError("uvarlong overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw DecodeError("uvarlong longer than 10 bytes");
  }
  /// Zig-zag signed varint (record fields, KIP-98 record format).
  int32_t varint() {
    uint32_t u = uvarint();
    return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  int64_t varlong() {
    uint64_t u = uvarlong();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }

  /// Returns the next n bytes without copying; throws if fewer remain.
  std::span<const uint8_t> take(size_t n) { return {need(n), n}; }
  void skip(size_t n) { need(n); }

  /// Validates an array element count read from the wire: every element of any Kafka array
  /// occupies at least `min_element_bytes`, so a count that cannot fit in what remains is a lie.
  size_t checked_count(int64_t count, size_t min_element_bytes) const {
    if (count < 0) throw DecodeError("negative array length");
    // Divide rather than multiply: count * size can overflow for a lying 64-bit count.
    if (min_element_bytes > 0 && static_cast<uint64_t>(count) > remaining() / min_element_bytes)
      throw DecodeError("array length " + std::to_string(count) + " exceeds the remaining " +
                        std::to_string(remaining()) + " bytes");
    return static_cast<size_t>(count);
  }

 private:
  template <class U>
  U be() {
    const uint8_t* s = need(sizeof(U));
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | s[i]);
    return v;
  }
  const uint8_t* need(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n)
      throw DecodeError("truncated input: need " + std::to_string(n) + " bytes, have " +
                        std::to_string(end_ - p_));
    const uint8_t* s = p_;
    p_ += n;
    return s;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

/// Append-only encoder into a byte vector (big-endian, Kafka primitive types). Given a splice
/// list, file slices are recorded there instead of copied in (see slice()).
class Writer {
 public:
  explicit Writer(Bytes& out, std::vector<Splice>* splices = nullptr) : out_(out), splices_(splices) {}

  /// Bytes in the buffer (spliced file bytes are not counted).
  size_t size() const { return out_.size(); }
  Bytes& buffer() { return out_; }

  void i8(int8_t v) { out_.push_back(static_cast<uint8_t>(v)); }
  void boolean(bool v) { i8(v ? 1 : 0); }
  void i16(int16_t v) { be(static_cast<uint16_t>(v)); }
  void u16(uint16_t v) { be(v); }
  void i32(int32_t v) { be(static_cast<uint32_t>(v)); }
  void u32(uint32_t v) { be(v); }
  void i64(int64_t v) { be(static_cast<uint64_t>(v)); }
  void f64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof d);
    be(bits);
  }
  void uuid(const Uuid& u) { raw(u.bytes.data(), 16); }
  void uvarint(uint32_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
  }
  void uvarlong(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
  }
  void varint(int32_t v) {
    uvarint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
  }
  void varlong(int64_t v) {
    uvarlong((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void raw(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  void raw(std::span<const uint8_t> s) { raw(s.data(), s.size()); }
  void raw(std::string_view s) { raw(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  /// A file's bytes at this point of the output: recorded as a Splice when the writer has a
  /// splice list, else read in with read_slice() (same errors).
  void slice(const FileSlice& s) {
    if (splices_)
      splices_->push_back({out_.size(), s});
    else
      read_slice(s, out_);
  }

  /// Overwrites 4 bytes at `pos` (used to back-patch a length prefix).
  void patch_i32(size_t pos, int32_t v) {
    auto u = static_cast<uint32_t>(v);
    for (int i = 3; i >= 0; --i) {
      out_[pos + i] = static_cast<uint8_t>(u);
      u >>= 8;
    }
  }

 private:
  template <class U>
  void be(U v) {
    for (int i = sizeof(U) - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes& out_;
  std::vector<Splice>* splices_;
};

}  // namespace ferry::protocol
