// Helpers shared by the protocol tests: a visitor that fills every field present at a version
// with non-default values, a visitor that checks decoded sizes against the input, the iteration
// over every declared API, encode/decode wrappers, the golden-bytes check, and a byte builder
// that assembles expected wire bytes without using the codec.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "broker/protocol/apis.h"
#include "broker/protocol/schema.h"
#include "broker/protocol/wire.h"

namespace ferry::protocol::testing {

/// How a Filler shapes its values: small shapes keep fuzz inputs short.
struct FillShape {
  size_t max_string = 12;      // bytes in a string / bytes field
  size_t long_string = 300;    // occasionally used, to get multi-byte length prefixes
  size_t max_elements = 3;     // elements per array
  bool allow_long = true;      // whether long strings may appear at all
  bool every_field = false;    // fill fields of all versions, not only those present at `version`
};

/// Fills every field that exists at `version` (and every tagged field when flexible) with a
/// value different from the one it holds, recursing into nested structs and arrays. Fields
/// absent at the version keep their member default, which is what decode produces for them.
class Filler {
 public:
  Filler(std::mt19937_64& rng, int16_t version, bool flexible, FillShape shape = {})
      : rng_(rng), version_(version), flexible_(flexible), shape_(shape) {}

  template <class T>
  void operator()(T& field, int16_t since, int16_t until = kMaxVersion) {
    if (shape_.every_field || (version_ >= since && version_ <= until)) fill(field);
  }
  template <class T>
  void tagged(T& field, uint32_t, int16_t since = 0) {
    if (shape_.every_field || (flexible_ && version_ >= since)) fill(field);
  }

  template <class T>
  void fill(T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      v = !v;
    } else if constexpr (std::is_enum_v<T>) {
      auto u = static_cast<std::underlying_type_t<T>>(v);
      fill(u);
      v = static_cast<T>(u);
    } else if constexpr (std::is_integral_v<T>) {
      T old = v;
      do {
        switch (rng_() % 4) {
          case 0: v = std::numeric_limits<T>::min(); break;
          case 1: v = std::numeric_limits<T>::max(); break;
          default: v = static_cast<T>(rng_()); break;
        }
      } while (v == old);
    } else if constexpr (std::is_same_v<T, double>) {
      v = v + 1.5;
    } else if constexpr (std::is_same_v<T, Uuid>) {
      for (auto& b : v.bytes) b = static_cast<uint8_t>(rng_());
      v.bytes[0] |= 1;  // never the all-zero default
    } else if constexpr (std::is_same_v<T, std::string>) {
      std::string s(length(), 'x');
      for (auto& c : s) c = static_cast<char>('a' + rng_() % 26);
      v = s == v ? s + "!" : s;
    } else if constexpr (std::is_same_v<T, Bytes>) {
      Bytes b(length());
      for (auto& c : b) c = static_cast<uint8_t>(rng_());
      if (b == v) b.push_back(0);
      v = std::move(b);
    } else if constexpr (std::is_same_v<T, Records>) {
      fill(v.bytes);  // a decoder fills bytes only; file slices are a sender's matter (records_test)
    } else if constexpr (detail::is_optional<T>::value) {
      if (!v) v.emplace();
      fill(*v);
    } else if constexpr (detail::is_vector<T>::value) {
      size_t n = 1 + rng_() % shape_.max_elements;
      v.assign(n, typename T::value_type{});
      for (auto& e : v) fill(e);
    } else {
      static_assert(Schema<T>);
      v.visit(*this);
    }
  }

 private:
  size_t length() {
    if (shape_.allow_long && rng_() % 16 == 0) return 128 + rng_() % shape_.long_string;
    return 1 + rng_() % shape_.max_string;
  }
  std::mt19937_64& rng_;
  int16_t version_;
  bool flexible_;
  FillShape shape_;
};

/// Resets every field that does not exist at `version` (or is tagged, when not flexible) to its
/// member default, recursing into nested structs: the value a decoder must produce from bytes
/// encoded at that version. Defaults are taken from a default-constructed instance visited in
/// the same order, so they come from the declaration rather than from T{}.
template <Schema T>
void project(T& msg, int16_t version, bool flexible);

namespace detail_test {
struct Collect {
  std::vector<void*>& out;
  template <class T>
  void operator()(T& f, int16_t, int16_t = kMaxVersion) { out.push_back(&f); }
  template <class T>
  void tagged(T& f, uint32_t, int16_t = 0) { out.push_back(&f); }
};
struct Reset {
  const std::vector<void*>& defaults;
  int16_t version;
  bool flexible;
  size_t next = 0;
  template <class T>
  void operator()(T& f, int16_t since, int16_t until = kMaxVersion) {
    apply(f, version >= since && version <= until);
  }
  template <class T>
  void tagged(T& f, uint32_t, int16_t since = 0) { apply(f, flexible && version >= since); }
  template <class T>
  void apply(T& f, bool present) {
    const T& def = *static_cast<const T*>(defaults.at(next++));
    if (!present) {
      f = def;
    } else {
      descend(f);
    }
  }
  template <class T>
  void descend(T& f) {
    if constexpr (ferry::protocol::detail::is_optional<T>::value) {
      if (f) descend(*f);
    } else if constexpr (ferry::protocol::detail::is_vector<T>::value) {
      for (auto& e : f) descend(e);
    } else if constexpr (Schema<T> && !std::is_same_v<T, std::string> && !std::is_same_v<T, Bytes>) {
      project(f, version, flexible);
    }
  }
};
}  // namespace detail_test

template <Schema T>
void project(T& msg, int16_t version, bool flexible) {
  T def{};
  std::vector<void*> defaults;
  detail_test::Collect c{defaults};
  def.visit(c);
  detail_test::Reset r{defaults, version, flexible};
  msg.visit(r);
}

/// Walks a decoded message and records the largest string, bytes or array it holds (length and
/// capacity, in elements). Used to prove that no wire length made the decoder allocate beyond
/// what the input could carry.
class SizeProbe {
 public:
  template <class T>
  void operator()(T& field, int16_t, int16_t = kMaxVersion) {
    walk(field);
  }
  template <class T>
  void tagged(T& field, uint32_t, int16_t = 0) {
    walk(field);
  }
  size_t largest() const { return largest_; }

  template <class T>
  void walk(T& v) {
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, Bytes>) {
      note(v.size());
      note(v.capacity() > 15 ? v.capacity() : 0);  // ignore small-string storage
    } else if constexpr (std::is_same_v<T, Records>) {
      walk(v.bytes);
    } else if constexpr (detail::is_optional<T>::value) {
      if (v) walk(*v);
    } else if constexpr (detail::is_vector<T>::value) {
      note(v.size());
      note(v.capacity());
      for (auto& e : v) walk(e);
    } else if constexpr (Schema<T>) {
      v.visit(*this);
    }
  }

 private:
  void note(size_t n) { largest_ = std::max(largest_, n); }
  size_t largest_ = 0;
};

/// Calls f.template operator()<R>() for every request type the broker serves, so codec tests
/// cover an API from the moment it joins SupportedApis.
template <class F>
void for_each_api(F&& f) {
  SupportedApis::for_each(f);
}

/// Encodes a message body at `version`.
template <Schema M>
Bytes encode_body(const M& m, int16_t version, bool flexible) {
  Bytes out;
  Writer w(out);
  encode(m, version, flexible, w);
  return out;
}

/// Decodes a message body and requires that every input byte was consumed.
template <Schema M>
M decode_body(std::span<const uint8_t> in, int16_t version, bool flexible, size_t* left = nullptr) {
  Reader r(in);
  M m = decode<M>(r, version, flexible);
  if (left) *left = r.remaining();
  return m;
}

/// A short hex rendering for failure messages.
inline std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i) s += ' ';
    s += d[b[i] >> 4];
    s += d[b[i] & 15];
  }
  return s;
}

/// Golden check: encoding `m` gives exactly `want`, and decoding `want` gives back `m` using
/// every byte.
template <Schema M>
void expect_golden(const M& m, int16_t version, bool flexible, const Bytes& want) {
  EXPECT_EQ(hex(encode_body(m, version, flexible)), hex(want));
  size_t left = 1;
  M got = decode_body<M>(want, version, flexible, &left);
  EXPECT_EQ(left, 0u);
  EXPECT_TRUE(got == m) << "decoding the golden bytes gave a different value";
}

/// Independent big-endian / varint byte builder for golden vectors. It deliberately shares no
/// code with wire.h so that a symmetric encoder/decoder mistake cannot hide in both.
class Bld {
 public:
  Bld& u8(uint8_t v) { b_.push_back(v); return *this; }
  Bld& raw(std::initializer_list<uint8_t> l) { b_.insert(b_.end(), l); return *this; }
  Bld& i16(int16_t v) { return be(static_cast<uint16_t>(v), 2); }
  Bld& i32(int32_t v) { return be(static_cast<uint32_t>(v), 4); }
  Bld& i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
  /// Unsigned LEB128, as in KIP-482.
  Bld& uv(uint64_t v) {
    do {
      uint8_t byte = v & 0x7f;
      v >>= 7;
      b_.push_back(v ? (byte | 0x80) : byte);
    } while (v);
    return *this;
  }
  Bld& text(std::string_view s) { b_.insert(b_.end(), s.begin(), s.end()); return *this; }
  /// Classic STRING: int16 length then bytes.
  Bld& str(std::string_view s) { return i16(static_cast<int16_t>(s.size())).text(s); }
  /// COMPACT_STRING: uvarint length+1 then bytes.
  Bld& cstr(std::string_view s) { return uv(s.size() + 1).text(s); }
  /// Classic BYTES: int32 length then bytes.
  Bld& bytes(const Bytes& v) { i32(static_cast<int32_t>(v.size())); b_.insert(b_.end(), v.begin(), v.end()); return *this; }
  Bld& cbytes(const Bytes& v) { uv(v.size() + 1); b_.insert(b_.end(), v.begin(), v.end()); return *this; }
  /// Empty tagged-field section.
  Bld& notags() { return u8(0); }
  Bytes done() const { return b_; }

 private:
  Bld& be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes b_;
};

}  // namespace ferry::protocol::testing
