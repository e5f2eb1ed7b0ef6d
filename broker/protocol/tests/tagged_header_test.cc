// Tagged fields (KIP-482) and request/response headers (kafka.apache.org/protocol "Headers").
#include <gtest/gtest.h>

#include "broker/protocol/apis.h"
#include "broker/protocol/header.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::Bld;
using testing::hex;

TEST(TaggedFields, UnknownTagsAreSkipped) {
  // DescribeCluster v0 request, with two tags Ferry does not know, one of them a multi-byte tag
  // number (300) and one with a payload.
  Bytes in = Bld().u8(1).uv(2).uv(5).uv(3).raw({1, 2, 3}).uv(300).uv(0).done();
  size_t left = 1;
  auto req = testing::decode_body<DescribeClusterRequest>(in, 0, true, &left);
  EXPECT_TRUE(req.include_cluster_authorized_operations);
  EXPECT_EQ(left, 0u);
}

TEST(TaggedFields, UnknownTagsInNestedStructsAreSkipped) {
  Bytes in = Bld()
                 .i32(0).i16(0).uv(0).cstr("cid").i32(1)
                 .uv(2)
                 .i32(1).cstr("h").i32(9092).uv(0)
                 .uv(1).uv(7).uv(2).raw({0xff, 0xff})  // unknown tag inside the broker entry
                 .i32(-1)
                 .uv(1).uv(0).uv(1).u8(0)  // unknown tag 0 at the top level (none declared)
                 .done();
  size_t left = 1;
  auto r = testing::decode_body<DescribeClusterResponse>(in, 0, true, &left);
  EXPECT_EQ(left, 0u);
  ASSERT_EQ(r.brokers.size(), 1u);
  EXPECT_EQ(r.brokers[0].host, "h");
  EXPECT_EQ(r.brokers[0].port, 9092);
  EXPECT_EQ(r.cluster_authorized_operations, -1);
}

TEST(TaggedFields, KnownAndUnknownTagsMix) {
  // ApiVersions v3 response: unknown tag 9 between known tags 0 and 3.
  Bytes feature = Bld().uv(2).cstr("f").i16(0).i16(4).notags().done();
  Bytes in = Bld().i16(0).uv(1).i32(0).uv(3).uv(0).uv(feature.size()).done();
  in.insert(in.end(), feature.begin(), feature.end());
  Bytes rest = Bld().uv(9).uv(4).i32(12345).uv(3).uv(1).u8(1).done();
  in.insert(in.end(), rest.begin(), rest.end());
  size_t left = 1;
  auto r = testing::decode_body<ApiVersionsResponse>(in, 3, true, &left);
  EXPECT_EQ(left, 0u);
  ASSERT_EQ(r.supported_features.size(), 1u);
  EXPECT_EQ(r.supported_features[0].name, "f");
  EXPECT_EQ(r.supported_features[0].max_version, 4);
  EXPECT_TRUE(r.zk_migration_ready);
}

TEST(TaggedFields, MalformedTagSectionsAreRejected) {
  // Tag payload longer than the input.
  EXPECT_THROW(testing::decode_body<DescribeClusterRequest>(Bld().u8(1).uv(1).uv(5).uv(9).raw({1}).done(), 0, true),
               DecodeError);
  // More tags announced than bytes could hold.
  EXPECT_THROW(testing::decode_body<DescribeClusterRequest>(Bld().u8(1).uv(1000).uv(1).uv(0).done(), 0, true),
               DecodeError);
  // Missing tag section altogether.
  EXPECT_THROW(testing::decode_body<DescribeClusterRequest>(Bld().u8(1).done(), 0, true), DecodeError);
  // A known tag whose payload is too short for its type.
  EXPECT_THROW(testing::decode_body<ApiVersionsResponse>(
                   Bld().i16(0).uv(1).i32(0).uv(1).uv(0).uv(1).uv(5).done(), 3, true),
               DecodeError);
}

struct Inner {
  int32_t a = 0;
  std::string b;
  template <class V>
  void visit(V& v) {
    v(a, 0);
    v(b, 0);
  }
  bool operator==(const Inner&) const = default;
};

// Tagged fields of several types, declared out of tag order, one only from v2.
struct Tagged {
  int32_t plain = 0;
  std::optional<std::string> note;
  int32_t count = 0;
  Inner inner;
  std::vector<int64_t> list;
  bool late = false;
  template <class V>
  void visit(V& v) {
    v(plain, 0);
    v.tagged(inner, 7);
    v.tagged(note, 0);
    v.tagged(count, 2);
    v.tagged(list, 130);
    v.tagged(late, 3, 2);
  }
  bool operator==(const Tagged&) const = default;
};

TEST(TaggedFields, StructWithTaggedFieldsRoundTrips) {
  Tagged t;
  t.plain = 1;
  t.note = "n";
  t.count = -5;
  t.inner = {9, "x"};
  t.list = {1, 2};
  t.late = true;
  Bytes enc = testing::encode_body(t, 2, true);
  // Written in ascending tag order whatever the declaration order; tag 130 takes two bytes.
  Bytes want = Bld()
                   .i32(1)
                   .uv(5)
                   .uv(0).uv(2).cstr("n")
                   .uv(2).uv(4).i32(-5)
                   .uv(3).uv(1).u8(1)
                   .uv(7).uv(7).i32(9).cstr("x").notags()
                   .uv(130).uv(17).uv(3).i64(1).i64(2)
                   .done();
  EXPECT_EQ(hex(enc), hex(want));
  EXPECT_EQ(testing::decode_body<Tagged>(enc, 2, true), t);

  // Before its `since` version the late tag is neither written nor read.
  Tagged early = t;
  early.late = false;
  EXPECT_EQ(testing::decode_body<Tagged>(testing::encode_body(t, 1, true), 1, true), early);
  Bytes late_at_v1 = Bld().i32(1).uv(1).uv(3).uv(1).u8(1).done();
  EXPECT_FALSE(testing::decode_body<Tagged>(late_at_v1, 1, true).late);

  // Non-flexible versions have no tag section at all.
  EXPECT_EQ(hex(testing::encode_body(t, 2, false)), hex(Bld().i32(1).done()));
  Tagged plain_only;
  plain_only.plain = 1;
  EXPECT_EQ(testing::decode_body<Tagged>(Bld().i32(1).done(), 2, false), plain_only);
}

TEST(TaggedFields, DefaultValuedTaggedFieldsAreOmitted) {
  Tagged t;
  t.plain = 3;
  EXPECT_EQ(hex(testing::encode_body(t, 2, true)), hex(Bld().i32(3).notags().done()));
  t.count = 1;
  EXPECT_EQ(hex(testing::encode_body(t, 2, true)),
            hex(Bld().i32(3).uv(1).uv(2).uv(4).i32(1).done()));
}

struct TaggedWithDefault {
  int64_t epoch = -1;
  template <class V>
  void visit(V& v) {
    v.tagged(epoch, 1);
  }
  bool operator==(const TaggedWithDefault&) const = default;
};

// Pins a codec bug: tagged() once compared with T{} instead of the member's declared default, so a
// tagged int64 defaulting to -1 (e.g. ApiVersions' FinalizedFeaturesEpoch) set to 0 was dropped.
TEST(TaggedFields, TaggedFieldWithNonZeroDefaultRoundTrips) {
  TaggedWithDefault zero;
  zero.epoch = 0;
  EXPECT_EQ(testing::decode_body<TaggedWithDefault>(testing::encode_body(zero, 0, true), 0, true),
            zero);
  EXPECT_EQ(hex(testing::encode_body(TaggedWithDefault{}, 0, true)), hex(Bld().notags().done()));
}

TEST(Headers, RequestHeaderV1) {
  RequestHeader h{3, 1, 0x01020304, std::string("abc")};
  Bytes want = Bld().i16(3).i16(1).i32(0x01020304).str("abc").done();
  Bytes out;
  Writer w(out);
  write_request_header(w, h, false);
  EXPECT_EQ(hex(out), hex(want));

  Reader r(want);
  RequestHeader got = peek_request_header(r);
  EXPECT_EQ(got.api_key, 3);
  EXPECT_EQ(got.api_version, 1);
  EXPECT_EQ(got.correlation_id, 0x01020304);
  read_request_header_tail(r, got, false);
  EXPECT_EQ(got.client_id, "abc");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Headers, RequestHeaderNullAndEmptyClientId) {
  Bytes null_id = Bld().i16(18).i16(0).i32(7).i16(-1).done();
  Bytes out;
  Writer w(out);
  write_request_header(w, RequestHeader{18, 0, 7, std::nullopt}, false);
  EXPECT_EQ(hex(out), hex(null_id));
  Reader r(null_id);
  RequestHeader h = peek_request_header(r);
  read_request_header_tail(r, h, false);
  EXPECT_FALSE(h.client_id.has_value());

  Bytes empty_id = Bld().i16(18).i16(0).i32(7).i16(0).done();
  Reader e(empty_id);
  h = peek_request_header(e);
  read_request_header_tail(e, h, false);
  ASSERT_TRUE(h.client_id.has_value());
  EXPECT_EQ(*h.client_id, "");
}

TEST(Headers, RequestHeaderV2KeepsClassicClientIdAndAddsTags) {
  // Header v2: client_id is still an int16-length STRING (KIP-482 left it alone so that brokers
  // can read it before knowing the version), followed by a tag section.
  Bytes want = Bld().i16(18).i16(3).i32(1).str("rdkafka").notags().done();
  Bytes out;
  Writer w(out);
  write_request_header(w, RequestHeader{18, 3, 1, std::string("rdkafka")}, true);
  EXPECT_EQ(hex(out), hex(want));

  Bytes with_tags = Bld().i16(18).i16(3).i32(1).i16(-1).uv(1).uv(4).uv(2).raw({9, 9}).i32(77).done();
  Reader r(with_tags);
  RequestHeader h = peek_request_header(r);
  read_request_header_tail(r, h, true);
  EXPECT_FALSE(h.client_id.has_value());
  EXPECT_EQ(r.remaining(), 4u) << "unknown header tags must be skipped, leaving the body";
  EXPECT_EQ(r.i32(), 77);
}

TEST(Headers, MalformedRequestHeadersThrow) {
  Bytes seven = Bld().i16(0).i16(0).raw({0, 0, 0}).done();
  Reader r7(seven);
  EXPECT_THROW(peek_request_header(r7), DecodeError);

  Bytes bad_len = Bld().i16(0).i16(0).i32(0).i16(-2).done();
  Reader rb(bad_len);
  RequestHeader h = peek_request_header(rb);
  EXPECT_THROW(read_request_header_tail(rb, h, false), DecodeError);

  Bytes long_id = Bld().i16(0).i16(0).i32(0).i16(10).text("abc").done();
  Reader rl(long_id);
  h = peek_request_header(rl);
  EXPECT_THROW(read_request_header_tail(rl, h, false), DecodeError);

  Bytes no_tags = Bld().i16(0).i16(9).i32(0).i16(-1).done();
  Reader rn(no_tags);
  h = peek_request_header(rn);
  EXPECT_THROW(read_request_header_tail(rn, h, true), DecodeError);
}

TEST(Headers, ResponseHeaderV0AndV1) {
  Bytes v0, v1;
  Writer w0(v0), w1(v1);
  write_response_header(w0, -2, false);
  write_response_header(w1, 0x11223344, true);
  EXPECT_EQ(hex(v0), hex(Bld().i32(-2).done()));
  EXPECT_EQ(hex(v1), hex(Bld().i32(0x11223344).notags().done()));
}

}  // namespace
}  // namespace ferry::protocol
