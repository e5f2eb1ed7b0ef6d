// Declare-once message schemas. A Kafka message is a plain struct whose `visit` member lists its
// fields in wire order with the versions they exist in; encode, decode and round-trip tests are all
// derived from that one declaration, so adding a version is a one-line edit.
//
//   struct FooRequest {
//     static constexpr int16_t api_key = 99, min_version = 0, max_version = 2, flexible_from = 2;
//     static constexpr const char* name = "Foo";
//     using Response = FooResponse;
//     std::string topic;
//     int32_t timeout_ms = 0;
//     std::optional<std::string> rack;        // nullable string
//     template <class V> void visit(V& v) {
//       v(topic, 0);                  // present from v0
//       v(timeout_ms, 1);             // present from v1 (member default used below that)
//       v.tagged(rack, 0, 2);         // tag 0, from v2 (flexible versions only)
//     }
//     bool operator==(const FooRequest&) const = default;
//   };
//
// C++ type → wire type (classic / flexible, KIP-482):
//   bool, int8_t..int64_t, uint16_t, uint32_t, double, Uuid, enums (by underlying type)
//   std::string                → STRING / COMPACT_STRING
//   std::optional<std::string> → NULLABLE_STRING / COMPACT_NULLABLE_STRING
//   Bytes                      → BYTES / COMPACT_BYTES
//   std::optional<Bytes>       → NULLABLE_BYTES, RECORDS / compact forms
//   std::optional<Records>     → RECORDS whose bytes may be file slices (records.h) / compact form
//   std::vector<T>             → ARRAY / COMPACT_ARRAY
//   std::optional<std::vector<T>> → nullable arrays
//   a struct with visit()      → nested fields, plus a tagged-field section when flexible.
// Source: kafka.apache.org/protocol, KIP-482 (flexible versions, tagged fields).
#pragma once

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "broker/protocol/records.h"
#include "broker/protocol/wire.h"

namespace ferry::protocol {

inline constexpr int16_t kMaxVersion = 0x7fff;

namespace detail {
struct ProbeVisitor {
  template <class T>
  void operator()(T&, int16_t, int16_t = kMaxVersion) {}
  template <class T>
  void tagged(T&, uint32_t, int16_t = 0) {}
};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

/// A type declared with a `visit(V&)` member listing its fields.
template <class T>
concept Schema = requires(T& t, detail::ProbeVisitor& p) { t.visit(p); };

/// A request schema with the metadata the dispatcher and ApiVersions need.
template <class T>
concept RequestSchema = Schema<T> && requires {
  { T::api_key } -> std::convertible_to<int16_t>;
  { T::min_version } -> std::convertible_to<int16_t>;
  { T::max_version } -> std::convertible_to<int16_t>;
  { T::flexible_from } -> std::convertible_to<int16_t>;
  { T::name } -> std::convertible_to<const char*>;
  typename T::Response;
} && Schema<typename T::Response>;

/// Walks a schema and writes it. Used only through encode().
class Encoder {
 public:
  Encoder(Writer& w, int16_t version, bool flexible) : w_(w), version_(version), flexible_(flexible) {}

  template <class T>
  void operator()(const T& field, int16_t since, int16_t until = kMaxVersion) {
    if (version_ >= since && version_ <= until) put(field);
  }

  /// A tagged field (KIP-482): written only in flexible versions and only when it differs from the
  /// member's declared default (its value in a default-constructed instance of the enclosing struct,
  /// found at the same member offset), so a field defaulting to -1 that is set to 0 is written.
  template <class T>
  void tagged(const T& field, uint32_t tag, int16_t since = 0) {
    if (!flexible_ || version_ < since) return;
    if (self_ && defaults_) {
      const auto offset = reinterpret_cast<const char*>(&field) - static_cast<const char*>(self_);
      if (field == *reinterpret_cast<const T*>(static_cast<const char*>(defaults_) + offset)) return;
    } else if (field == T{}) {
      return;
    }
    Bytes tmp;
    Writer tw(tmp);
    Encoder sub(tw, version_, flexible_);
    sub.put(field);
    tags_.emplace_back(tag, std::move(tmp));
  }

  /// Writes the tagged-field section that ends every flexible struct.
  void finish() {
    if (!flexible_) return;
    std::sort(tags_.begin(), tags_.end(), [](auto& a, auto& b) { return a.first < b.first; });
    w_.uvarint(static_cast<uint32_t>(tags_.size()));
    for (auto& [tag, data] : tags_) {
      w_.uvarint(tag);
      w_.uvarint(static_cast<uint32_t>(data.size()));
      w_.raw(data);
    }
  }

  template <class T>
  void put(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      w_.boolean(v);
    } else if constexpr (std::is_enum_v<T>) {
      put(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, int8_t>) {
      w_.i8(v);
    } else if constexpr (std::is_same_v<T, int16_t>) {
      w_.i16(v);
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      w_.u16(v);
    } else if constexpr (std::is_same_v<T, int32_t>) {
      w_.i32(v);
    } else if constexpr (std::is_same_v<T, uint32_t>) {
      w_.u32(v);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      w_.i64(v);
    } else if constexpr (std::is_same_v<T, double>) {
      w_.f64(v);
    } else if constexpr (std::is_same_v<T, Uuid>) {
      w_.uuid(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      length(static_cast<int64_t>(v.size()), false);
      w_.raw(v);
    } else if constexpr (std::is_same_v<T, Bytes>) {
      length(static_cast<int64_t>(v.size()), true);
      w_.raw(v);
    } else if constexpr (std::is_same_v<T, Records>) {
      length(static_cast<int64_t>(v.size()), true);
      w_.raw(v.bytes);
      for (const auto& s : v.slices) w_.slice(s);
    } else if constexpr (detail::is_optional<T>::value) {
      if (v) {
        put(*v);
      } else {
        using Inner = typename T::value_type;
        length(-1, !std::is_same_v<Inner, std::string>);
      }
    } else if constexpr (detail::is_vector<T>::value) {
      length(static_cast<int64_t>(v.size()), true);
      for (const auto& e : v) put(e);
    } else {
      static_assert(Schema<T>, "field type has no wire mapping");
      const T defaults{};
      Encoder sub(w_, version_, flexible_);
      sub.self_ = &v;
      sub.defaults_ = &defaults;
      const_cast<T&>(v).visit(sub);  // visit() only reads through an Encoder
      sub.finish();
    }
  }

 private:
  // Length prefix: compact (uvarint N+1, 0 = null) when flexible; else int16 for strings and
  // int32 for bytes and arrays (-1 = null).
  void length(int64_t n, bool wide) {
    // A classic STRING has an int16 length: refuse rather than wrap to a negative (= null) length.
    if (!flexible_ && !wide && n > 0x7fff)
      throw std::length_error("string of " + std::to_string(n) + " bytes exceeds the 32767-byte STRING limit");
    if (flexible_) {
      w_.uvarint(static_cast<uint32_t>(n + 1));
    } else if (wide) {
      w_.i32(static_cast<int32_t>(n));
    } else {
      w_.i16(static_cast<int16_t>(n));
    }
  }

  Writer& w_;
  int16_t version_;
  bool flexible_;
  const void* self_ = nullptr;      // the struct being encoded
  const void* defaults_ = nullptr;  // a default-constructed instance of the same type
  std::vector<std::pair<uint32_t, Bytes>> tags_;
};

/// Walks a schema and reads it. Throws DecodeError on any malformed input.
class Decoder {
 public:
  Decoder(Reader& r, int16_t version, bool flexible) : r_(r), version_(version), flexible_(flexible) {}

  template <class T>
  void operator()(T& field, int16_t since, int16_t until = kMaxVersion) {
    if (version_ >= since && version_ <= until) get(field);
  }

  template <class T>
  void tagged(T& field, uint32_t tag, int16_t since = 0) {
    if (!flexible_ || version_ < since) return;
    tags_.emplace_back(tag, [this, &field](Reader& sub) {
      Decoder d(sub, version_, flexible_);
      d.get(field);
    });
  }

  /// Reads the tagged-field section; unknown tags are skipped as KIP-482 requires.
  void finish() {
    if (!flexible_) return;
    uint32_t n = r_.uvarint();
    r_.checked_count(n, 2);
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t tag = r_.uvarint();
      uint32_t size = r_.uvarint();
      Reader sub(r_.take(size));
      for (auto& [t, fn] : tags_)
        if (t == tag) fn(sub);
    }
  }

  template <class T>
  void get(T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      v = r_.boolean();
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> u{};
      get(u);
      v = static_cast<T>(u);
    } else if constexpr (std::is_same_v<T, int8_t>) {
      v = r_.i8();
    } else if constexpr (std::is_same_v<T, int16_t>) {
      v = r_.i16();
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      v = r_.u16();
    } else if constexpr (std::is_same_v<T, int32_t>) {
      v = r_.i32();
    } else if constexpr (std::is_same_v<T, uint32_t>) {
      v = r_.u32();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      v = r_.i64();
    } else if constexpr (std::is_same_v<T, double>) {
      v = r_.f64();
    } else if constexpr (std::is_same_v<T, Uuid>) {
      v = r_.uuid();
    } else if constexpr (std::is_same_v<T, std::string>) {
      int64_t n = length(false);
      if (n < 0) throw DecodeError("non-nullable string is null");
      auto s = r_.take(static_cast<size_t>(n));
      // Constructed, not assigned: assign() into a small string grows its capacity to twice the
      // small-string buffer (30 bytes for a 16-byte id), more than the bytes the input held.
      v = std::string(reinterpret_cast<const char*>(s.data()), s.size());
    } else if constexpr (std::is_same_v<T, Bytes>) {
      int64_t n = length(true);
      if (n < 0) throw DecodeError("non-nullable bytes are null");
      auto s = r_.take(static_cast<size_t>(n));
      v.assign(s.begin(), s.end());
    } else if constexpr (std::is_same_v<T, Records>) {
      Bytes b;
      get(b);
      v = Records(std::move(b));
    } else if constexpr (detail::is_optional<T>::value) {
      using Inner = typename T::value_type;
      // Peek the length to see whether the value is null, then decode the inner value normally.
      Reader probe = r_;
      int64_t n = Decoder(probe, version_, flexible_).length(!std::is_same_v<Inner, std::string>);
      if (n < 0) {
        r_ = probe;
        v.reset();
      } else {
        Inner inner{};
        get(inner);
        v = std::move(inner);
      }
    } else if constexpr (detail::is_vector<T>::value) {
      using E = typename T::value_type;
      int64_t n = length(true);
      if (n < 0) throw DecodeError("non-nullable array is null");
      constexpr size_t min_size = std::is_arithmetic_v<E> ? sizeof(E) : 1;
      size_t count = r_.checked_count(n, min_size);
      v.clear();
      // A struct element may take one wire byte but hundreds in memory: reserve only what a
      // lying count cannot turn into a large allocation, and let push_back grow past it.
      v.reserve(std::is_arithmetic_v<E> ? count : std::min<size_t>(count, 1024));
      for (size_t i = 0; i < count; ++i) {
        E e{};
        get(e);
        v.push_back(std::move(e));
      }
    } else {
      static_assert(Schema<T>, "field type has no wire mapping");
      Decoder sub(r_, version_, flexible_);
      v.visit(sub);
      sub.finish();
    }
  }

 private:
  int64_t length(bool wide) {
    if (flexible_) return static_cast<int64_t>(r_.uvarint()) - 1;
    return wide ? r_.i32() : r_.i16();
  }

  Reader& r_;
  int16_t version_;
  bool flexible_;
  std::vector<std::pair<uint32_t, std::function<void(Reader&)>>> tags_;
};

/// True when `version` of request type R uses flexible encoding (KIP-482).
template <RequestSchema R>
constexpr bool is_flexible(int16_t version) {
  return version >= R::flexible_from;
}

/// Encodes a message body (no header) at `version`.
template <Schema M>
void encode(const M& msg, int16_t version, bool flexible, Writer& w) {
  Encoder e(w, version, flexible);
  e.put(msg);
}

/// Decodes a message body (no header) at `version`. Throws DecodeError.
template <Schema M>
M decode(Reader& r, int16_t version, bool flexible) {
  M msg{};
  Decoder d(r, version, flexible);
  d.get(msg);
  return msg;
}

}  // namespace ferry::protocol
