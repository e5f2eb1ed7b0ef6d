// Primitive wire types (kafka.apache.org/protocol "Protocol Primitive Types", KIP-482 compact
// forms): fixed-width integers, zig-zag and unsigned varints, strings, bytes, arrays and nulls.
#include <gtest/gtest.h>

#include "broker/protocol/errors.h"

#include <cstdint>
#include <limits>

#include "broker/protocol/schema.h"
#include "broker/protocol/tests/test_util.h"
#include "broker/protocol/wire.h"

namespace ferry::protocol {
namespace {

using testing::Bld;
using testing::hex;

Bytes write(auto&& fn) {
  Bytes out;
  Writer w(out);
  fn(w);
  return out;
}

TEST(Primitives, FixedWidthIsBigEndian) {
  Bytes b = write([](Writer& w) {
    w.i8(-2);
    w.i16(0x0102);
    w.i32(-2);
    w.i64(0x0102030405060708);
    w.u32(0xdeadbeef);
    w.boolean(true);
  });
  EXPECT_EQ(b, (Bytes{0xfe, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0xde,
                      0xad, 0xbe, 0xef, 0x01}));
  Reader r(b);
  EXPECT_EQ(r.i8(), -2);
  EXPECT_EQ(r.i16(), 0x0102);
  EXPECT_EQ(r.i32(), -2);
  EXPECT_EQ(r.i64(), 0x0102030405060708);
  EXPECT_EQ(r.u32(), 0xdeadbeefu);
  EXPECT_TRUE(r.boolean());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_THROW(r.i8(), DecodeError);
}

TEST(Primitives, TruncatedFixedWidthThrows) {
  Bytes three{1, 2, 3};
  EXPECT_THROW(Reader(three).i32(), DecodeError);
  EXPECT_THROW(Reader(three).i64(), DecodeError);
  EXPECT_THROW(Reader(three).uuid(), DecodeError);
  Reader r(three);
  EXPECT_THROW(r.take(4), DecodeError);
  EXPECT_EQ(r.remaining(), 3u) << "a failed read must not move the cursor";
}

struct VarintCase {
  int64_t value;
  Bytes wire;
};

// Zig-zag vectors: small magnitudes alternate sign, each 7-bit boundary adds a byte.
TEST(Primitives, ZigZagVarintVectors) {
  const VarintCase cases[] = {
      {0, {0x00}},
      {-1, {0x01}},
      {1, {0x02}},
      {-2, {0x03}},
      {63, {0x7e}},
      {-64, {0x7f}},
      {64, {0x80, 0x01}},
      {-65, {0x81, 0x01}},
      {8191, {0xfe, 0x7f}},
      {-8192, {0xff, 0x7f}},
      {8192, {0x80, 0x80, 0x01}},
      {std::numeric_limits<int32_t>::max(), {0xfe, 0xff, 0xff, 0xff, 0x0f}},
      {std::numeric_limits<int32_t>::min(), {0xff, 0xff, 0xff, 0xff, 0x0f}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    auto v32 = static_cast<int32_t>(c.value);
    EXPECT_EQ(write([&](Writer& w) { w.varint(v32); }), c.wire);
    EXPECT_EQ(write([&](Writer& w) { w.varlong(c.value); }), c.wire);
    Reader r(c.wire);
    EXPECT_EQ(r.varint(), v32);
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(Reader(c.wire).varlong(), c.value);
  }
}

TEST(Primitives, ZigZagVarlongExtremes) {
  Bytes max{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  Bytes min{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  EXPECT_EQ(write([](Writer& w) { w.varlong(std::numeric_limits<int64_t>::max()); }), max);
  EXPECT_EQ(write([](Writer& w) { w.varlong(std::numeric_limits<int64_t>::min()); }), min);
  EXPECT_EQ(Reader(max).varlong(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Reader(min).varlong(), std::numeric_limits<int64_t>::min());
}

TEST(Primitives, UnsignedVarintVectors) {
  const std::pair<uint32_t, Bytes> cases[] = {
      {0, {0x00}},
      {1, {0x01}},
      {127, {0x7f}},
      {128, {0x80, 0x01}},
      {300, {0xac, 0x02}},
      {16383, {0xff, 0x7f}},
      {16384, {0x80, 0x80, 0x01}},
      {(1u << 28) - 1, {0xff, 0xff, 0xff, 0x7f}},
      {1u << 28, {0x80, 0x80, 0x80, 0x80, 0x01}},
      {std::numeric_limits<uint32_t>::max(), {0xff, 0xff, 0xff, 0xff, 0x0f}},
  };
  for (const auto& [value, wire] : cases) {
    SCOPED_TRACE(value);
    EXPECT_EQ(write([&](Writer& w) { w.uvarint(value); }), wire);
    EXPECT_EQ(Reader(wire).uvarint(), value);
    EXPECT_EQ(Reader(wire).uvarlong(), value);
  }
}

TEST(Primitives, VarintRoundTripsAtEveryPowerOfTwoBoundary) {
  for (int k = 0; k < 64; ++k) {
    for (int64_t d : {-1, 0, 1}) {
      uint64_t u = (uint64_t{1} << k) + static_cast<uint64_t>(d);
      auto s = static_cast<int64_t>(u);
      auto neg = static_cast<int64_t>(0 - u);  // -s without overflow at INT64_MIN
      Bytes b = write([&](Writer& w) {
        w.uvarlong(u);
        w.varlong(s);
        w.varlong(neg);
        w.uvarint(static_cast<uint32_t>(u));
        w.varint(static_cast<int32_t>(u));
      });
      Reader r(b);
      EXPECT_EQ(r.uvarlong(), u);
      EXPECT_EQ(r.varlong(), s);
      EXPECT_EQ(r.varlong(), neg);
      EXPECT_EQ(r.uvarint(), static_cast<uint32_t>(u));
      EXPECT_EQ(r.varint(), static_cast<int32_t>(u));
      EXPECT_EQ(r.remaining(), 0u);
    }
  }
}

TEST(Primitives, VarintOverflowIsRejected) {
  // A fifth byte may carry only bits 28..31; more is a value beyond 32 bits.
  EXPECT_THROW(Reader(Bytes{0xff, 0xff, 0xff, 0xff, 0x1f}).uvarint(), DecodeError);
  EXPECT_THROW(Reader(Bytes{0xff, 0xff, 0xff, 0xff, 0x10}).varint(), DecodeError);
  // Six bytes, even of a small value, is longer than any 32-bit varint.
  EXPECT_THROW(Reader(Bytes{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}).uvarint(), DecodeError);
  EXPECT_THROW(Reader(Bytes{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}).varint(), DecodeError);
  // The tenth byte of a 64-bit varint may carry only bit 63.
  Bytes over64(9, 0xff);
  over64.push_back(0x02);
  EXPECT_THROW(Reader(over64).uvarlong(), DecodeError);
  Bytes eleven(10, 0x80);
  eleven.push_back(0x00);
  EXPECT_THROW(Reader(eleven).uvarlong(), DecodeError);
  EXPECT_THROW(Reader(eleven).varlong(), DecodeError);
  // A continuation bit on the last available byte is truncation.
  EXPECT_THROW(Reader(Bytes{0x80}).uvarint(), DecodeError);
  EXPECT_THROW(Reader(Bytes{0xff, 0xff}).varlong(), DecodeError);
  EXPECT_THROW(Reader(Bytes{}).uvarint(), DecodeError);
}

TEST(Primitives, CheckedCountRejectsLyingCounts) {
  Bytes eight(8, 0);
  Reader r(eight);
  EXPECT_EQ(r.checked_count(2, 4), 2u);
  EXPECT_EQ(r.checked_count(8, 1), 8u);
  EXPECT_EQ(r.checked_count(0, 4), 0u);
  EXPECT_THROW(r.checked_count(3, 4), DecodeError);
  EXPECT_THROW(r.checked_count(9, 1), DecodeError);
  EXPECT_THROW(r.checked_count(-1, 1), DecodeError);
  EXPECT_THROW(r.checked_count(std::numeric_limits<int32_t>::max(), 1), DecodeError);
  EXPECT_THROW(r.checked_count(std::numeric_limits<int64_t>::min(), 1), DecodeError);
  EXPECT_EQ(r.remaining(), 8u) << "checking a count must not consume input";
}

// Pins a codec bug: checked_count once multiplied count * min_element_bytes, so 2^61 elements of
// 8 bytes wrapped to 0 and was accepted.
TEST(Primitives, CheckedCountRejectsCountsWhoseByteSizeOverflows) {
  Bytes eight(8, 0);
  Reader r(eight);
  EXPECT_THROW(r.checked_count(int64_t{1} << 61, 8), DecodeError);
}

// A struct exercising every length-prefixed type, in both the classic and compact encodings.
struct Prims {
  std::string s;
  std::optional<std::string> ns;
  Bytes b;
  std::optional<Bytes> nb;
  std::vector<int32_t> a;
  std::optional<std::vector<int32_t>> na;
  std::vector<std::string> sa;
  template <class V>
  void visit(V& v) {
    v(s, 0);
    v(ns, 0);
    v(b, 0);
    v(nb, 0);
    v(a, 0);
    v(na, 0);
    v(sa, 0);
  }
  bool operator==(const Prims&) const = default;
};

Prims sample_with_nulls() {
  return Prims{"abc", std::nullopt, Bytes{9, 8}, std::nullopt, {7, -1}, std::nullopt, {"", "q"}};
}

Prims sample_all_set() {
  return Prims{"", std::string("n"), Bytes{}, Bytes{0xaa}, {}, std::vector<int32_t>{5}, {}};
}

TEST(Primitives, ClassicLengthPrefixesAndNulls) {
  Bytes want = Bld()
                   .i16(3).text("abc")          // STRING
                   .i16(-1)                     // NULLABLE_STRING null
                   .i32(2).raw({9, 8})          // BYTES
                   .i32(-1)                     // NULLABLE_BYTES null
                   .i32(2).i32(7).i32(-1)       // ARRAY of INT32
                   .i32(-1)                     // nullable ARRAY null
                   .i32(2).i16(0).i16(1).text("q")
                   .done();
  EXPECT_EQ(hex(testing::encode_body(sample_with_nulls(), 0, false)), hex(want));
  EXPECT_EQ(testing::decode_body<Prims>(want, 0, false), sample_with_nulls());

  Bytes set = Bld().i16(0).i16(1).text("n").i32(0).i32(1).u8(0xaa).i32(0).i32(1).i32(5).i32(0).done();
  EXPECT_EQ(hex(testing::encode_body(sample_all_set(), 0, false)), hex(set));
  EXPECT_EQ(testing::decode_body<Prims>(set, 0, false), sample_all_set());
}

TEST(Primitives, CompactLengthPrefixesAndNulls) {
  // Compact forms carry N+1 as an unsigned varint; 0 is null. Every struct ends with a
  // tagged-field section (here empty).
  Bytes want = Bld()
                   .uv(4).text("abc")
                   .uv(0)
                   .uv(3).raw({9, 8})
                   .uv(0)
                   .uv(3).i32(7).i32(-1)
                   .uv(0)
                   .uv(3).uv(1).uv(2).text("q")
                   .notags()
                   .done();
  EXPECT_EQ(hex(testing::encode_body(sample_with_nulls(), 0, true)), hex(want));
  EXPECT_EQ(testing::decode_body<Prims>(want, 0, true), sample_with_nulls());

  Bytes set = Bld().uv(1).uv(2).text("n").uv(1).uv(2).u8(0xaa).uv(1).uv(2).i32(5).uv(1).notags().done();
  EXPECT_EQ(hex(testing::encode_body(sample_all_set(), 0, true)), hex(set));
  EXPECT_EQ(testing::decode_body<Prims>(set, 0, true), sample_all_set());
}

TEST(Primitives, CompactLengthUsesMultiByteVarint) {
  Prims p;
  p.s = std::string(200, 'z');  // 201 = 0xc9 0x01
  Bytes enc = testing::encode_body(p, 0, true);
  ASSERT_GE(enc.size(), 2u);
  EXPECT_EQ(enc[0], 0xc9);
  EXPECT_EQ(enc[1], 0x01);
  EXPECT_EQ(testing::decode_body<Prims>(enc, 0, true), p);
}

struct OneString {
  std::string s;
  template <class V>
  void visit(V& v) { v(s, 0); }
};
struct OneBytes {
  Bytes b;
  template <class V>
  void visit(V& v) { v(b, 0); }
};
struct Int32Array {
  std::vector<int32_t> a;
  template <class V>
  void visit(V& v) { v(a, 0); }
};
struct Int64Array {
  std::vector<int64_t> a;
  template <class V>
  void visit(V& v) { v(a, 0); }
};
struct StringThenBytes {
  std::string s;
  Bytes b;
  template <class V>
  void visit(V& v) { v(s, 0); v(b, 0); }
};

TEST(Primitives, NonNullableFieldsRejectNull) {
  using S = OneString;
  using B = OneBytes;
  using A = Int32Array;
  EXPECT_THROW(testing::decode_body<S>(Bld().i16(-1).done(), 0, false), DecodeError);
  EXPECT_THROW(testing::decode_body<S>(Bld().uv(0).notags().done(), 0, true), DecodeError);
  EXPECT_THROW(testing::decode_body<B>(Bld().i32(-1).done(), 0, false), DecodeError);
  EXPECT_THROW(testing::decode_body<B>(Bld().uv(0).notags().done(), 0, true), DecodeError);
  EXPECT_THROW(testing::decode_body<A>(Bld().i32(-1).done(), 0, false), DecodeError);
  EXPECT_THROW(testing::decode_body<A>(Bld().uv(0).notags().done(), 0, true), DecodeError);
  EXPECT_THROW(testing::decode_body<S>(Bld().i16(-7).done(), 0, false), DecodeError);
}

TEST(Primitives, LyingLengthsAreRejectedBeforeAllocating) {
  using A = Int64Array;
  using S = StringThenBytes;
  // Two int64 elements announced, one present: rejected by the count check up front.
  EXPECT_THROW(testing::decode_body<A>(Bld().i32(2).i64(1).done(), 0, false), DecodeError);
  EXPECT_THROW(testing::decode_body<A>(Bld().i32(0x7fffffff).i64(1).done(), 0, false), DecodeError);
  EXPECT_THROW(testing::decode_body<A>(Bld().uv(0xffffffff).i64(1).done(), 0, true), DecodeError);
  EXPECT_THROW(testing::decode_body<S>(Bld().i16(0x7fff).text("ab").i32(0).done(), 0, false),
               DecodeError);
  EXPECT_THROW(testing::decode_body<S>(Bld().str("").i32(0x7fffffff).raw({1}).done(), 0, false),
               DecodeError);
  EXPECT_THROW(testing::decode_body<S>(Bld().uv(0xffffffff).text("ab").done(), 0, true),
               DecodeError);
}

// Pins a codec bug: a 40,000-byte classic STRING once went out with a wrapped negative (null)
// length. Kafka's serializer refuses strings longer than 32767 bytes, and so does ours.
TEST(Primitives, ClassicStringLongerThanInt16IsNotSilentlyCorrupted) {
  Prims p;
  p.s = std::string(40000, 'x');
  Bytes enc;
  try {
    enc = testing::encode_body(p, 0, false);
  } catch (const std::exception&) {
    SUCCEED() << "refused to encode: acceptable";
    return;
  }
  EXPECT_EQ(testing::decode_body<Prims>(enc, 0, false), p);
}

TEST(ErrorCodes, EveryCodeHasItsKafkaName) {
  EXPECT_STREQ(error_name(ErrorCode::NONE), "NONE");
  EXPECT_STREQ(error_name(ErrorCode::NOT_ENOUGH_REPLICAS), "NOT_ENOUGH_REPLICAS");
  EXPECT_STREQ(error_name(ErrorCode::FETCH_SESSION_ID_NOT_FOUND), "FETCH_SESSION_ID_NOT_FOUND");
  EXPECT_STREQ(error_name(ErrorCode::INELIGIBLE_REPLICA), "INELIGIBLE_REPLICA");
  EXPECT_STREQ(error_name(ErrorCode::FENCED_INSTANCE_ID), "FENCED_INSTANCE_ID");
  EXPECT_STREQ(error_name(ErrorCode::NO_REASSIGNMENT_IN_PROGRESS), "NO_REASSIGNMENT_IN_PROGRESS");
  EXPECT_STREQ(error_name(static_cast<ErrorCode>(9999)), "UNKNOWN_ERROR_CODE");
  int named = 0;
  for (int v = -1; v <= 120; ++v)
    named += std::string(error_name(static_cast<ErrorCode>(v))) != "UNKNOWN_ERROR_CODE";
  EXPECT_EQ(named, 105);  // every code errors.h declares
}

}  // namespace
}  // namespace ferry::protocol
