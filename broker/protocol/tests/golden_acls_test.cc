// Golden bytes for DescribeAcls (29), CreateAcls (30) and DeleteAcls (31), assembled by hand from
// the field layouts in Kafka's message JSON (DescribeAclsRequest.json and the others) with the
// independent byte builder: v0 has no pattern type, v1 adds it, v2 turns flexible (compact
// strings and arrays, tagged-field sections).
#include <gtest/gtest.h>

#include "broker/protocol/apis.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::Bld;
using testing::expect_golden;
using testing::hex;

DescribeAclsRequest describe_filter() {
  DescribeAclsRequest r;
  r.resource_type_filter = 2;  // TOPIC
  r.resource_name_filter = "orders";
  r.pattern_type_filter = 2;  // MATCH
  r.principal_filter = std::nullopt;
  r.host_filter = "*";
  r.operation = 1;        // ANY
  r.permission_type = 3;  // ALLOW
  return r;
}

TEST(GoldenAcls, DescribeAclsRequestV0V1V2) {
  // ResourceTypeFilter, ResourceNameFilter (nullable), PatternTypeFilter (v1+), PrincipalFilter
  // (nullable), HostFilter (nullable), Operation, PermissionType.
  auto r = describe_filter();
  expect_golden(r, 1, false, Bld().u8(2).str("orders").u8(2).i16(-1).str("*").u8(1).u8(3).done());
  expect_golden(r, 2, true, Bld().u8(2).cstr("orders").u8(2).uv(0).cstr("*").u8(1).u8(3).notags().done());
  // v0 has no pattern type: it is not written, and decodes as LITERAL (3).
  r.pattern_type_filter = 3;
  expect_golden(r, 0, false, Bld().u8(2).str("orders").i16(-1).str("*").u8(1).u8(3).done());
}

TEST(GoldenAcls, DescribeAclsResponseV1AndV2) {
  DescribeAclsResponse r;
  r.resources = {{2, "fin-", 4, {{"User:alice", "*", 3, 3}}}};
  // ThrottleTimeMs, ErrorCode, ErrorMessage (nullable), Resources[ResourceType, ResourceName,
  // PatternType (v1+), Acls[Principal, Host, Operation, PermissionType]].
  expect_golden(r, 1, false,
                Bld().i32(0).i16(0).i16(-1).i32(1).u8(2).str("fin-").u8(4).i32(1).str("User:alice").str("*").u8(3).u8(3).done());
  expect_golden(r, 2, true,
                Bld().i32(0).i16(0).uv(0).uv(2).u8(2).cstr("fin-").u8(4).uv(2).cstr("User:alice").cstr("*").u8(3).u8(3)
                    .notags().notags().notags().done());
}

TEST(GoldenAcls, CreateAclsRequestV0AndV1) {
  CreateAclsRequest r;
  r.creations = {{4, "kafka-cluster", 3, "User:ops", "10.0.0.1", 7, 3}};
  // Creations[ResourceType, ResourceName, ResourcePatternType (v1+), Principal, Host, Operation,
  // PermissionType].
  expect_golden(r, 1, false,
                Bld().i32(1).u8(4).str("kafka-cluster").u8(3).str("User:ops").str("10.0.0.1").u8(7).u8(3).done());
  expect_golden(r, 0, false,
                Bld().i32(1).u8(4).str("kafka-cluster").str("User:ops").str("10.0.0.1").u8(7).u8(3).done());
}

TEST(GoldenAcls, CreateAclsResponseV2IsFlexible) {
  CreateAclsResponse r;
  r.results = {{ErrorCode::NONE, std::nullopt}, {ErrorCode::INVALID_REQUEST, "Invalid operation ANY"}};
  expect_golden(r, 2, true,
                Bld().i32(0).uv(3).i16(0).uv(0).notags().i16(42).cstr("Invalid operation ANY").notags().notags().done());
}

TEST(GoldenAcls, DeleteAclsResponseV1) {
  DeleteAclsResponse r;
  DeleteAclsResponse::DeleteAclsMatchingAcl m{ErrorCode::NONE, std::nullopt, 2, "t", 3, "User:*", "*", 4, 2};
  r.filter_results = {{ErrorCode::NONE, std::nullopt, {m}}};
  // ThrottleTimeMs, FilterResults[ErrorCode, ErrorMessage, MatchingAcls[ErrorCode, ErrorMessage,
  // ResourceType, ResourceName, PatternType (v1+), Principal, Host, Operation, PermissionType]].
  expect_golden(r, 1, false,
                Bld().i32(0).i32(1).i16(0).i16(-1).i32(1).i16(0).i16(-1).u8(2).str("t").u8(3).str("User:*").str("*")
                    .u8(4).u8(2).done());
}

TEST(GoldenAcls, DeleteAclsRequestV3) {
  DeleteAclsRequest r;
  r.filters = {{7, std::nullopt, 1, "User:bob", std::nullopt, 1, 1}};  // USER (v3), ANY everything
  expect_golden(r, 3, true, Bld().uv(2).u8(7).uv(0).u8(1).cstr("User:bob").uv(0).u8(1).u8(1).notags().notags().done());
}

Bytes from_hex(std::string_view text) {
  Bytes out;
  for (size_t i = 0; i + 1 < text.size(); i += 3)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  return out;
}

// Reference bytes from a real client: kafka-python 2.0.2's own encoder (kafka.protocol.admin
// DescribeAclsRequest_v0/v1, CreateAclsRequest_v0/v1, DeleteAclsRequest_v1), for the same values
// as the hand-assembled cases above.
TEST(GoldenAcls, BytesKafkaPythonSends) {
  auto r = describe_filter();
  expect_golden(r, 1, false, from_hex("02 00 06 6f 72 64 65 72 73 02 ff ff 00 01 2a 01 03"));
  r.pattern_type_filter = 3;
  expect_golden(r, 0, false, from_hex("02 00 06 6f 72 64 65 72 73 ff ff 00 01 2a 01 03"));
  CreateAclsRequest c;
  c.creations = {{4, "kafka-cluster", 3, "User:ops", "10.0.0.1", 7, 3}};
  expect_golden(c, 1, false,
                from_hex("00 00 00 01 04 00 0d 6b 61 66 6b 61 2d 63 6c 75 73 74 65 72 03 00 08 55 73 65 72 3a 6f 70 "
                         "73 00 08 31 30 2e 30 2e 30 2e 31 07 03"));
  expect_golden(c, 0, false,
                from_hex("00 00 00 01 04 00 0d 6b 61 66 6b 61 2d 63 6c 75 73 74 65 72 00 08 55 73 65 72 3a 6f 70 73 "
                         "00 08 31 30 2e 30 2e 30 2e 31 07 03"));
  DeleteAclsRequest d;
  d.filters = {{7, std::nullopt, 1, "User:bob", std::nullopt, 1, 1}};
  expect_golden(d, 1, false, from_hex("00 00 00 01 07 ff ff 01 00 08 55 73 65 72 3a 62 6f 62 ff ff 01 01"));
}

TEST(GoldenAcls, AdvertisedVersions) {
  for (int16_t key : {29, 30, 31}) {
    auto r = find_api(key);
    ASSERT_TRUE(r.has_value()) << key;
    EXPECT_EQ(r->min_version, 0);
    EXPECT_EQ(r->max_version, 3);
    EXPECT_EQ(r->flexible_from, 2);
  }
}

}  // namespace
}  // namespace ferry::protocol
