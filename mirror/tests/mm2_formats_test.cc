// Golden bytes below are written by hand from the field layout of MirrorMaker 2's schemas
// (OffsetSync, Checkpoint, Heartbeat in connect/mirror: STRING = INT16 length + bytes, big-endian
// integers, version INT16 before heartbeat and checkpoint values), not produced by the encoder under test.
#include "mirror/mm2_formats.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

using namespace ferry::mirror;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Mm2Formats, TopicNamesFollowMm2) {
  EXPECT_EQ(kHeartbeatsTopic, "heartbeats");
  EXPECT_EQ(checkpoints_topic("east"), "east.checkpoints.internal");
  EXPECT_EQ(offset_syncs_topic("west"), "mm2-offset-syncs.west.internal");
  // KIP-690: a custom separator applies to internal topics too.
  EXPECT_EQ(checkpoints_topic("east", "_"), "east_checkpoints_internal");
  EXPECT_EQ(offset_syncs_topic("west", "_"), "mm2-offset-syncs_west_internal");
}

TEST(Mm2Formats, HeartbeatGoldenBytes) {
  const std::string key = bytes({0x00, 0x04, 'e', 'a', 's', 't', 0x00, 0x04, 'w', 'e', 's', 't'});
  const std::string value = bytes({0x00, 0x00, 0x00, 0x00, 0x01, 0x8c, 0x2a, 0x3b, 0x4c, 0x5d});
  EXPECT_EQ(encode(HeartbeatKey{"east", "west"}), key);
  EXPECT_EQ(encode(HeartbeatValue{0x018c2a3b4c5dLL}), value);
  EXPECT_EQ(decode_heartbeat_key(key), (HeartbeatKey{"east", "west"}));
  EXPECT_EQ(decode_heartbeat_value(value).timestamp_ms, 0x018c2a3b4c5dLL);
}

TEST(Mm2Formats, CheckpointGoldenBytes) {
  const std::string key = bytes({0x00, 0x02}) + "g1" +                              // group
                          bytes({0x00, 0x0b}) + "east.orders" +                     // topic
                          bytes({0x00, 0x00, 0x01, 0x03});                          // partition 259
  const std::string value = bytes({0x00, 0x00,                                      // version 0
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34,  // upstreamOffset
                                   0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,  // offset
                                   0x00, 0x03, 'a',  'b',  'c'});                   // metadata
  EXPECT_EQ(encode(CheckpointKey{"g1", "east.orders", 259}), key);
  EXPECT_EQ(encode(CheckpointValue{0x1234, 0x100000007LL, "abc"}), value);
  EXPECT_EQ(decode_checkpoint_key(key), (CheckpointKey{"g1", "east.orders", 259}));
  EXPECT_EQ(decode_checkpoint_value(value), (CheckpointValue{0x1234, 0x100000007LL, "abc"}));
}

TEST(Mm2Formats, OffsetSyncGoldenBytesHaveNoVersion) {
  const std::string key = bytes({0x00, 0x06, 'o', 'r', 'd', 'e', 'r', 's', 0x00, 0x00, 0x00, 0x05});
  const std::string value = bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,    // upstreamOffset 42
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8});  // offset 1000
  EXPECT_EQ(encode(OffsetSyncKey{"orders", 5}), key);
  EXPECT_EQ(encode(OffsetSync{42, 1000}), value);
  EXPECT_EQ(decode_offset_sync_key(key), (OffsetSyncKey{"orders", 5}));
  EXPECT_EQ(decode_offset_sync_value(value), (OffsetSync{42, 1000}));
}

TEST(Mm2Formats, EmptyStringsAndNegativeNumbers) {
  const std::string value = bytes({0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // version, -1
                                   0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,              // INT64_MIN
                                   0x00, 0x00});                                                // ""
  EXPECT_EQ(encode(CheckpointValue{-1, INT64_MIN, ""}), value);
  EXPECT_EQ(decode_checkpoint_value(value), (CheckpointValue{-1, INT64_MIN, ""}));
  EXPECT_EQ(decode_offset_sync_key(bytes({0x00, 0x00, 0xff, 0xff, 0xff, 0xfe})), (OffsetSyncKey{"", -2}));
}

TEST(Mm2Formats, UnknownVersionIsRejected) {
  auto e = error_of([] { decode_heartbeat_value(bytes({0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1})); });
  EXPECT_NE(e.find("version 1"), std::string::npos) << e;
  e = error_of(
      [] { decode_checkpoint_value(bytes({0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0})); });
  EXPECT_NE(e.find("version -1"), std::string::npos) << e;
}

TEST(Mm2Formats, NegativeStringLengthIsRejected) {
  auto e = error_of([] { decode_heartbeat_key(bytes({0xff, 0xff, 0x00, 0x00})); });
  EXPECT_NE(e.find("negative string length"), std::string::npos) << e;
}

TEST(Mm2Formats, OversizedStringCannotBeEncoded) {
  EXPECT_THROW(encode(CheckpointKey{std::string(32768, 'g'), "t", 0}), std::invalid_argument);
  EXPECT_NO_THROW(encode(CheckpointKey{std::string(32767, 'g'), "t", 0}));
}

TEST(Mm2Formats, EveryTruncationAndTrailingByteIsRejected) {
  const std::vector<std::pair<std::string, std::function<void(std::string_view)>>> cases = {
      {encode(HeartbeatKey{"east", "west"}), [](std::string_view b) { decode_heartbeat_key(b); }},
      {encode(HeartbeatValue{123}), [](std::string_view b) { decode_heartbeat_value(b); }},
      {encode(CheckpointKey{"group", "east.t", 7}), [](std::string_view b) { decode_checkpoint_key(b); }},
      {encode(CheckpointValue{1, 2, "meta"}), [](std::string_view b) { decode_checkpoint_value(b); }},
      {encode(OffsetSyncKey{"t", 1}), [](std::string_view b) { decode_offset_sync_key(b); }},
      {encode(OffsetSync{3, 4}), [](std::string_view b) { decode_offset_sync_value(b); }},
  };
  for (const auto& [good, decode] : cases) {
    EXPECT_NO_THROW(decode(good));
    for (size_t n = 0; n < good.size(); ++n) {
      auto e = error_of([&] { decode(std::string_view(good).substr(0, n)); });
      EXPECT_NE(e.find("truncated"), std::string::npos) << "prefix of " << n << " bytes: " << e;
    }
    auto e = error_of([&] { decode(good + '\0'); });
    EXPECT_NE(e.find("trailing"), std::string::npos) << e;
  }
}

TEST(Mm2Formats, RandomRoundTrips) {
  std::mt19937_64 rng(20240604);
  auto rand_string = [&] {
    std::string s(rng() % 40, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    HeartbeatKey hk{rand_string(), rand_string()};
    HeartbeatValue hv{static_cast<int64_t>(rng())};
    CheckpointKey ck{rand_string(), rand_string(), static_cast<int32_t>(rng())};
    CheckpointValue cv{static_cast<int64_t>(rng()), static_cast<int64_t>(rng()), rand_string()};
    OffsetSyncKey ok{rand_string(), static_cast<int32_t>(rng())};
    OffsetSync ov{static_cast<int64_t>(rng()), static_cast<int64_t>(rng())};
    ASSERT_EQ(decode_heartbeat_key(encode(hk)), hk);
    ASSERT_EQ(decode_heartbeat_value(encode(hv)), hv);
    ASSERT_EQ(decode_checkpoint_key(encode(ck)), ck);
    ASSERT_EQ(decode_checkpoint_value(encode(cv)), cv);
    ASSERT_EQ(decode_offset_sync_key(encode(ok)), ok);
    ASSERT_EQ(decode_offset_sync_value(encode(ov)), ov);
  }
}

// Arbitrary bytes either fail with FormatError or decode to a record that encodes back to exactly
// those bytes: the decoder never accepts a byte it does not account for.
TEST(Mm2Formats, RandomBytesFailCleanlyOrRoundTripExactly) {
  std::mt19937_64 rng(7);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b(rng() % 24, '\0');
    for (auto& c : b) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 8);
    auto check = [&](auto decode) {
      try {
        auto record = decode(b);
        ++decoded;
        EXPECT_EQ(encode(record), b);
      } catch (const FormatError&) {
      }
    };
    check(decode_heartbeat_key);
    check(decode_heartbeat_value);
    check(decode_checkpoint_key);
    check(decode_checkpoint_value);
    check(decode_offset_sync_key);
    check(decode_offset_sync_value);
  }
  EXPECT_GT(decoded, 100);  // the generator does reach valid encodings
}
