// Round trip of every request and response type at every version Ferry declares, driven by
// SupportedApis: a new API or version is covered as soon as it is served.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "broker/protocol/apis.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::Filler;
using testing::hex;

constexpr int kSeedsPerVersion = 25;

// decode(encode(m)) == m, every byte consumed, and re-encoding the decoded value reproduces the
// exact bytes (so a field read at the wrong width or position cannot hide behind equality).
template <class M>
void expect_round_trip(const M& m, int16_t version, bool flexible, const std::string& what) {
  SCOPED_TRACE(what);
  Bytes enc = testing::encode_body(m, version, flexible);
  size_t left = 0;
  M back;
  try {
    back = testing::decode_body<M>(enc, version, flexible, &left);
  } catch (const DecodeError& e) {
    ADD_FAILURE() << "decode failed: " << e.what() << "\n  bytes: " << hex(enc);
    return;
  }
  EXPECT_EQ(left, 0u) << "decoder left bytes unread";
  EXPECT_TRUE(back == m) << "decoded value differs; bytes: " << hex(enc);
  Bytes again = testing::encode_body(back, version, flexible);
  EXPECT_EQ(hex(again), hex(enc)) << "re-encoding is not byte-identical";
}

template <class M>
void round_trip_all_seeds(const char* api, const char* side, int16_t version, bool flexible) {
  for (int seed = 0; seed < kSeedsPerVersion; ++seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919 + static_cast<uint64_t>(version));
    M m{};
    Filler(rng, version, flexible).fill(m);
    std::string what = std::string(api) + side + " v" + std::to_string(version) +
                       " seed " + std::to_string(seed);
    expect_round_trip(m, version, flexible, what);
  }
  // The all-defaults value (nulls where the default is null, empty arrays) must round-trip too.
  expect_round_trip(M{}, version, flexible,
                    std::string(api) + side + " v" + std::to_string(version) + " defaults");
}

TEST(RoundTrip, EveryRequestAndResponseAtEveryVersion) {
  int versions = 0;
  testing::for_each_api([&]<class R>() {
    ASSERT_LE(R::min_version, R::max_version) << R::name;
    for (int16_t v = R::min_version; v <= R::max_version; ++v) {
      bool flexible = is_flexible<R>(v);
      round_trip_all_seeds<R>(R::name, "Request", v, flexible);
      round_trip_all_seeds<typename R::Response>(R::name, "Response", v, flexible);
      ++versions;
    }
  });
  // Served: Produce 3-8, Fetch 4-11, ListOffsets 1-3, Metadata 0-12, DeleteRecords 0-1,
  // ApiVersions 0-3, CreateTopics 2-4, DeleteTopics 1-3, CreatePartitions 0-1, DescribeCluster 0
  // (44); OffsetCommit 2-7, OffsetFetch 1-7, FindCoordinator 0-2, JoinGroup 2-5,
  // Heartbeat/LeaveGroup/SyncGroup 1-3, DescribeGroups 2-4, ListGroups 1-4, DescribeConfigs 1-2,
  // AlterConfigs 0-1, DeleteGroups 0-1, IncrementalAlterConfigs 0-1, OffsetDelete 0 (45).
  EXPECT_GE(versions, 44 + 45);
}

// Fields that do not exist at a version must be neither written nor read there: a value with
// every field of every version set, encoded at v, must decode to that value with the fields
// absent at v reset to their declared defaults (and tagged fields dropped when not flexible).
template <class M>
void expect_projection(const char* what, int16_t version, bool flexible) {
  for (int seed = 0; seed < 5; ++seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed) + 1000);
    M full{};
    Filler(rng, version, flexible, {.allow_long = false, .every_field = true}).fill(full);
    M want = full;
    testing::project(want, version, flexible);
    Bytes enc = testing::encode_body(full, version, flexible);
    EXPECT_EQ(testing::encode_body(want, version, flexible), enc)
        << what << " v" << version << ": a field absent at this version was written";
    size_t left = 1;
    M got;
    try {
      got = testing::decode_body<M>(enc, version, flexible, &left);
    } catch (const DecodeError& e) {
      ADD_FAILURE() << what << " v" << version << ": " << e.what();
      continue;
    }
    EXPECT_EQ(left, 0u);
    EXPECT_TRUE(got == want) << what << " v" << version
                             << ": absent fields did not decode to their declared defaults";
  }
}

TEST(RoundTrip, FieldsAbsentAtAVersionAreNotWrittenAndDecodeAsDefaults) {
  testing::for_each_api([&]<class R>() {
    for (int16_t v = R::min_version; v <= R::max_version; ++v) {
      expect_projection<R>(R::name, v, is_flexible<R>(v));
      expect_projection<typename R::Response>(R::name, v, is_flexible<R>(v));
    }
  });
}

TEST(ApiList, RangesMatchTheDeclarations) {
  std::set<int16_t> keys;
  SupportedApis::for_each([&]<class R>() {
    auto r = find_api(R::api_key);
    ASSERT_TRUE(r.has_value()) << R::name;
    EXPECT_STREQ(r->name, R::name);
    EXPECT_EQ(r->min_version, R::min_version);
    EXPECT_EQ(r->max_version, R::max_version);
    EXPECT_EQ(r->flexible_from, R::flexible_from);
    EXPECT_TRUE(keys.insert(R::api_key).second) << "duplicate api key " << R::api_key;
    EXPECT_FALSE(is_flexible_request(R::api_key, R::flexible_from - 1));
    EXPECT_TRUE(is_flexible_request(R::api_key, R::flexible_from));
    bool hit = false;
    EXPECT_TRUE(SupportedApis::visit(R::api_key, [&]<class X>() { hit = X::api_key == R::api_key; }));
    EXPECT_TRUE(hit);
  });
  EXPECT_EQ(supported_api_ranges().size(), keys.size());
  EXPECT_FALSE(find_api(9999).has_value());
  EXPECT_FALSE(SupportedApis::visit(9999, []<class X>() {}));
  EXPECT_FALSE(is_flexible_request(9999, 100)) << "unknown APIs use header v1";
}

// Every served API is advertised exactly once: a duplicate key would make find_api() and
// ApiVersions disagree about which declaration answers.
TEST(ApiList, EveryServedApiIsAdvertisedOnce) {
  std::set<int16_t> keys;
  SupportedApis::for_each([&]<class R>() {
    EXPECT_LE(R::min_version, R::max_version) << R::name;
    EXPECT_TRUE(keys.insert(R::api_key).second) << "duplicate api key " << R::api_key;
    auto found = find_api(R::api_key);
    ASSERT_TRUE(found.has_value()) << R::name << " is served but not advertised";
    EXPECT_EQ(found->min_version, R::min_version) << R::name;
    EXPECT_EQ(found->max_version, R::max_version) << R::name;
  });
  EXPECT_EQ(supported_api_ranges().size(), keys.size());
}

// The group, offset and config ranges real clients send (librdkafka 2.0.2, kafka-python 2.0.2, the
// Java client: each one's ApiVersion table), so that no edit narrows them. The first flexible version
// is checked where the table names one, since it decides the header version a client sends.
TEST(ApiList, GroupOffsetAndConfigApisCoverTheVersionsClientsNeed) {
  struct Need {
    int16_t key;
    int16_t lo, hi;
    int16_t flexible_from;  // 0: not stated in the compatibility table
  };
  const Need needs[] = {{8, 2, 7, 0},  {9, 1, 7, 6},  {10, 0, 2, 0}, {11, 2, 5, 0}, {12, 1, 3, 0},
                        {13, 1, 3, 0}, {14, 1, 3, 0}, {15, 2, 4, 0}, {16, 1, 4, 3}, {32, 1, 2, 0}};
  for (const auto& n : needs) {
    bool found = false;
    auto check = [&]<class R>() {
      found = true;
      EXPECT_LE(R::min_version, n.lo) << R::name;
      EXPECT_GE(R::max_version, n.hi) << R::name;
      if (n.flexible_from) {
        EXPECT_EQ(R::flexible_from, n.flexible_from) << R::name;
      }
    };
    SupportedApis::visit(n.key, check);
    EXPECT_TRUE(found) << "api " << n.key << " is not served";
  }
}

// The ranges that unmodified clients depend on (their sources' version checks): librdkafka disables
// magic-2 batches unless Produce 3 and Fetch 4 are in range, kafka-python probes Metadata v0 and
// ApiVersions v0, and so on. Narrowing any of these breaks a real client.
TEST(ApiList, AdvertisesTheVersionsClientsNeed) {
  struct Need {
    int16_t key;
    int16_t lo, hi;
  };
  const Need needs[] = {{0, 3, 7}, {1, 4, 11}, {2, 1, 3}, {3, 0, 6},  {18, 0, 3},
                        {19, 2, 4}, {20, 1, 3}, {21, 0, 1}, {37, 0, 1}, {60, 0, 0}};
  for (const auto& n : needs) {
    auto r = find_api(n.key);
    ASSERT_TRUE(r.has_value()) << "api " << n.key;
    EXPECT_LE(r->min_version, n.lo) << r->name;
    EXPECT_GE(r->max_version, n.hi) << r->name;
  }
}

}  // namespace
}  // namespace ferry::protocol
