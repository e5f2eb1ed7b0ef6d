#include "mirror/provenance.h"

#include <gtest/gtest.h>

using namespace ferry::mirror;

TEST(Provenance, HeaderNames) {
  EXPECT_EQ(kOriginHeader, "ferry.origin");
  EXPECT_EQ(kUpstreamHeader, "ferry.upstream");
}

TEST(Provenance, AliasCharacters) {
  EXPECT_TRUE(is_valid_alias("east"));
  EXPECT_TRUE(is_valid_alias("us-east_1.b"));
  EXPECT_FALSE(is_valid_alias(""));
  EXPECT_FALSE(is_valid_alias("east/1"));
  EXPECT_FALSE(is_valid_alias("east west"));
  EXPECT_FALSE(is_valid_alias("ëast"));
}

TEST(Provenance, UpstreamRoundTripAndExactText) {
  UpstreamRef ref{"east", 3, 9223372036854775806LL};
  EXPECT_EQ(encode_upstream(ref), "east/3/9223372036854775806");
  EXPECT_EQ(parse_upstream("east/3/9223372036854775806"), ref);
  EXPECT_EQ(parse_upstream("a.b-c_d/0/0"), (UpstreamRef{"a.b-c_d", 0, 0}));
  EXPECT_EQ(parse_upstream("east/2147483647/1"), (UpstreamRef{"east", 2147483647, 1}));
}

TEST(Provenance, MalformedUpstreamIsRejected) {
  for (const char* bad : {"", "east", "east/1", "east/1/", "/1/2", "east//2", "east/1/2/3", "east/-1/2", "east/1/-2",
                          "east/+1/2", "east/01/2", "east/1/002", "east/1/2 ", " east/1/2", "east/1/0x10",
                          "east/2147483648/1", "east/1/9223372036854775808", "ea st/1/2", "east/1/2\n"}) {
    EXPECT_FALSE(parse_upstream(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Provenance, EncodingRejectsWhatCannotBeParsedBack) {
  EXPECT_THROW(encode_upstream({"", 0, 0}), std::invalid_argument);
  EXPECT_THROW(encode_upstream({"a/b", 0, 0}), std::invalid_argument);
  EXPECT_THROW(encode_upstream({"east", -1, 0}), std::invalid_argument);
  EXPECT_THROW(encode_upstream({"east", 0, -5}), std::invalid_argument);
  EXPECT_THROW(encode_origin("east west"), std::invalid_argument);
  EXPECT_EQ(encode_origin("east"), "east");
  EXPECT_EQ(parse_origin("east"), "east");
  EXPECT_FALSE(parse_origin("").has_value());
  EXPECT_FALSE(parse_origin("east\n").has_value());
}

TEST(Provenance, OriginIsSetOnceAndKeptOnLaterHops) {
  // First hop: the record had no origin, it was produced on the source.
  std::string first = next_hop_origin(std::nullopt, "east");
  EXPECT_EQ(first, "east");
  // Second hop (west -> south): the origin stays east.
  EXPECT_EQ(next_hop_origin(std::string_view(first), "west"), "east");
  // A header that is not Ferry's is not trusted: the source becomes the origin.
  EXPECT_EQ(next_hop_origin(std::string_view("bad origin!"), "west"), "west");
  EXPECT_THROW(next_hop_origin(std::nullopt, "bad alias"), std::invalid_argument);
}

TEST(Provenance, RecordsAreNotSentBackToTheirOrigin) {
  // Bidirectional identity pair: a record produced on east and replicated to west must not come
  // back to east; a record produced on west goes to east.
  EXPECT_TRUE(originated_in(std::string_view("east"), "east"));
  EXPECT_FALSE(originated_in(std::string_view("west"), "east"));
  EXPECT_FALSE(originated_in(std::nullopt, "east"));
  EXPECT_FALSE(originated_in(std::string_view("east "), "east"));
  // A ring east -> west -> south -> east: the origin survives every hop, so the last hop stops.
  std::string origin = next_hop_origin(std::nullopt, "east");
  origin = next_hop_origin(std::string_view(origin), "west");
  origin = next_hop_origin(std::string_view(origin), "south");
  EXPECT_TRUE(originated_in(std::string_view(origin), "east"));
}
