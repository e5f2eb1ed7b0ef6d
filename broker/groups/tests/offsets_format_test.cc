// The __consumer_offsets record codec: golden bytes assembled by hand from Kafka's JSON schemas,
// round trips through every version, tombstones, and clean failures on damaged input.
#include "broker/groups/offsets_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace ferry::groups {
namespace {

Bytes b(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<uint8_t>(x));
  return out;
}

// Appends a string's characters, to keep the golden arrays readable.
void add(Bytes& out, const std::string& s) { out.insert(out.end(), s.begin(), s.end()); }
void add(Bytes& out, std::initializer_list<int> v) {
  for (int x : v) out.push_back(static_cast<uint8_t>(x));
}

MemberMetadata member(const std::string& id, std::optional<std::string> instance) {
  return {id,    std::move(instance), "client-" + id, "/10.0.0.1", 300000,
          10000, b({0, 1, 2, 3}),     b({9, 8, 7})};
}

GroupMetadataValue sample_group() {
  GroupMetadataValue v;
  v.protocol_type = "consumer";
  v.generation = 12;
  v.protocol = "range";
  v.leader = "m-1";
  v.current_state_timestamp = 1700000000000;
  v.members = {member("m-1", std::nullopt), member("m-2", "instance-2")};
  return v;
}

OffsetValue sample_offset() {
  OffsetValue v;
  v.offset = 123456789012;
  v.leader_epoch = 17;
  v.metadata = "checkpoint";
  v.commit_timestamp = 1700000000000;
  return v;
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(OffsetsFormat, OffsetCommitKeyV1AndValueV3MatchKafkaLayout) {
  // OffsetCommitKey v1: version, group (int16 len), topic (int16 len), partition (int32).
  Bytes key = b({0x00, 0x01, 0x00, 0x02});
  add(key, "g1");
  add(key, {0x00, 0x06});
  add(key, "orders");
  add(key, {0x00, 0x00, 0x00, 0x05});
  // OffsetCommitValue v3: version, offset (int64), leaderEpoch (int32), metadata (int16 len),
  // commitTimestamp (int64).
  Bytes value = b({0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0, 0, 0, 7, 0x00, 0x01});
  add(value, "m");
  add(value, {0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00});

  OffsetKey k{"g1", "orders", 5};
  OffsetValue v{42, 7, "m", 1700000000000, -1};
  EXPECT_EQ(encode_key(k), key);
  EXPECT_EQ(encode_value(v), value);
  EXPECT_EQ(std::get<OffsetKey>(decode_key(key)), k);
  EXPECT_EQ(decode_offset_value(value), v);
}

TEST(OffsetsFormat, GroupMetadataKeyV2AndValueV3MatchKafkaLayout) {
  Bytes key = b({0x00, 0x02, 0x00, 0x03});
  add(key, "grp");
  // GroupMetadataValue v3: protocolType, generation, protocol (nullable), leader (nullable),
  // currentStateTimestamp, members (int32 count) of memberId, groupInstanceId (nullable),
  // clientId, clientHost, rebalanceTimeout, sessionTimeout, subscription, assignment (int32 len).
  Bytes value = b({0x00, 0x03, 0x00, 0x08});
  add(value, "consumer");
  add(value, {0, 0, 0, 3, 0x00, 0x05});
  add(value, "range");
  add(value, {0x00, 0x03});
  add(value, "m-1");
  add(value, {0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0, 0, 0, 1, 0x00, 0x03});
  add(value, "m-1");
  add(value, {0xFF, 0xFF, 0x00, 0x01});
  add(value, "c");
  add(value, {0x00, 0x02});
  add(value, "/h");
  add(value,
      {0x00, 0x04, 0x93, 0xE0, 0x00, 0x00, 0x27, 0x10, 0, 0, 0, 2, 0x01, 0x02, 0, 0, 0, 1, 0x03});

  GroupMetadataValue v;
  v.protocol_type = "consumer";
  v.generation = 3;
  v.protocol = "range";
  v.leader = "m-1";
  v.current_state_timestamp = 1000;
  v.members = {{"m-1", std::nullopt, "c", "/h", 300000, 10000, b({1, 2}), b({3})}};

  EXPECT_EQ(encode_key(GroupMetadataKey{"grp"}), key);
  EXPECT_EQ(encode_value(v), value);
  EXPECT_EQ(std::get<GroupMetadataKey>(decode_key(key)).group, "grp");
  EXPECT_EQ(decode_group_value(value), v);
}

TEST(OffsetsFormat, FlexibleV4ValuesDecodeFromKafkaLayoutAndSkipUnknownTags) {
  // OffsetCommitValue v4: compact string (uvarint len+1) and a trailing tag buffer; here one
  // unknown tagged field (tag 5, 2 bytes) that a reader must skip.
  Bytes offset = b({0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0, 0, 0, 7, 0x02});
  add(offset, "m");
  add(offset, {0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0x01, 0x05, 0x02, 0xAA, 0xBB});
  EXPECT_EQ(decode_offset_value(offset), (OffsetValue{42, 7, "m", 1000, -1}));

  // GroupMetadataValue v4 of an Empty group: null protocol and leader are compact length 0, the
  // members array is compact length 0+1.
  Bytes group = b({0x00, 0x04, 0x09});
  add(group, "consumer");
  add(group, {0, 0, 0, 4, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x07, 0xD0, 0x01, 0x00});
  GroupMetadataValue empty{"consumer", 4, std::nullopt, std::nullopt, 2000, {}};
  EXPECT_EQ(decode_group_value(group), empty);
  EXPECT_EQ(encode_value(empty, 4), group);
}

TEST(OffsetsFormat, OffsetValueRoundTripsEveryVersionKeepingWhatTheVersionHas) {
  OffsetValue full = sample_offset();
  full.expire_timestamp = 1800000000000;
  for (int16_t version = 0; version <= kMaxOffsetValueVersion; ++version) {
    Bytes bytes = encode_value(full, version);
    ASSERT_EQ(bytes[1], version);
    OffsetValue want = full;
    if (version < 3) want.leader_epoch = -1;
    if (version != 1) want.expire_timestamp = -1;
    EXPECT_EQ(decode_offset_value(bytes), want) << "version " << version;
  }
}

TEST(OffsetsFormat, OffsetValueWithExpireTimestampIsWrittenAsV1LikeKafka) {
  OffsetValue v = sample_offset();
  v.expire_timestamp = 1800000000000;
  Bytes bytes = encode_value(v);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], kOffsetValueVersionWithExpire);
  EXPECT_EQ(decode_offset_value(bytes).expire_timestamp, 1800000000000);
  v.expire_timestamp = -1;
  EXPECT_EQ(encode_value(v)[1], kOffsetValueVersion);
}

TEST(OffsetsFormat, GroupValueRoundTripsEveryVersionKeepingWhatTheVersionHas) {
  const GroupMetadataValue full = sample_group();
  for (int16_t version = 0; version <= kMaxGroupValueVersion; ++version) {
    Bytes bytes = encode_value(full, version);
    ASSERT_EQ(bytes[1], version);
    GroupMetadataValue want = full;
    if (version < 2) want.current_state_timestamp = -1;
    for (auto& m : want.members) {
      if (version < 3) m.group_instance_id.reset();
      if (version < 1) m.rebalance_timeout_ms = m.session_timeout_ms;
    }
    EXPECT_EQ(decode_group_value(bytes), want) << "version " << version;
  }
}

TEST(OffsetsFormat, KeysRoundTripAndDispatchOnVersion) {
  OffsetKey k{"my-group", "topic.with.dots", 2147483647};
  for (int16_t version : {kOffsetKeyVersionV0, kOffsetKeyVersion}) {
    auto decoded = decode_key(encode_key(k, version));
    ASSERT_TRUE(std::holds_alternative<OffsetKey>(decoded)) << "version " << version;
    EXPECT_EQ(std::get<OffsetKey>(decoded), k);
  }
  auto g = decode_key(encode_key(GroupMetadataKey{"my-group"}));
  ASSERT_TRUE(std::holds_alternative<GroupMetadataKey>(g));
  EXPECT_EQ(std::get<GroupMetadataKey>(g).group, "my-group");
  // Non-ASCII group names are just UTF-8 bytes.
  EXPECT_EQ(std::get<GroupMetadataKey>(decode_key(encode_key(GroupMetadataKey{"grüppe"}))).group,
            "grüppe");
}

TEST(OffsetsFormat, UnknownKeyVersionIsADistinctErrorALoaderCanSkip) {
  // Kafka 3.7+ writes KIP-848 consumer-group records from key version 3 into the same topic.
  Bytes key = b({0x00, 0x03, 0x00, 0x01, 'g'});
  try {
    decode_key(key);
    FAIL() << "decoded an unknown key version";
  } catch (const UnknownKeyVersion& e) {
    EXPECT_EQ(e.version(), 3);
    EXPECT_NE(std::string(e.what()).find("unknown key version 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_key(b({0xFF, 0xFF})), UnknownKeyVersion);
  EXPECT_THROW(decode_record(key, std::nullopt), UnknownKeyVersion);
}

TEST(OffsetsFormat, TombstonesDecodeAsDeletionAndEmptyValuesDoNot) {
  Bytes okey = encode_key(OffsetKey{"g", "t", 0});
  Bytes gkey = encode_key(GroupMetadataKey{"g"});

  auto o = decode_record(okey, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<OffsetRecord>(o));
  EXPECT_EQ(std::get<OffsetRecord>(o).key, (OffsetKey{"g", "t", 0}));
  EXPECT_FALSE(std::get<OffsetRecord>(o).value.has_value());

  auto g = decode_record(gkey, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<GroupRecord>(g));
  EXPECT_EQ(std::get<GroupRecord>(g).key.group, "g");
  EXPECT_FALSE(std::get<GroupRecord>(g).value.has_value());

  // A present value is decoded by the key's kind.
  Bytes ovalue = encode_value(sample_offset());
  auto live = decode_record(okey, std::span<const uint8_t>(ovalue));
  EXPECT_EQ(std::get<OffsetRecord>(live).value, sample_offset());
  Bytes gvalue = encode_value(sample_group());
  EXPECT_EQ(std::get<GroupRecord>(decode_record(gkey, std::span<const uint8_t>(gvalue))).value,
            sample_group());

  // Zero bytes is not null: a damaged record, not a deletion.
  EXPECT_THROW(decode_record(okey, std::span<const uint8_t>()), std::runtime_error);
  EXPECT_THROW(decode_record(gkey, std::span<const uint8_t>()), std::runtime_error);
}

TEST(OffsetsFormat, ErrorsNameTheRecordKindAndVersion) {
  Bytes value = encode_value(sample_offset());
  value.resize(value.size() - 3);
  std::string e = error_of([&] { decode_offset_value(value); });
  EXPECT_EQ(e.rfind("OffsetCommitValue v3: ", 0), 0u) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  Bytes key = encode_key(OffsetKey{"g", "t", 1});
  key.push_back(0);
  e = error_of([&] { decode_key(key); });
  EXPECT_EQ(e.rfind("OffsetCommitKey v1: ", 0), 0u) << e;
  EXPECT_NE(e.find("trailing"), std::string::npos) << e;

  e = error_of([&] { decode_group_value(b({0x00, 0x05})); });
  EXPECT_NE(e.find("GroupMetadataValue"), std::string::npos) << e;
  EXPECT_NE(e.find("unsupported version 5"), std::string::npos) << e;

  // A null where the schema has a non-nullable string.
  e = error_of([&] { decode_offset_value(b({0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF})); });
  EXPECT_EQ(e.rfind("OffsetCommitValue v0: ", 0), 0u) << e;
  EXPECT_NE(e.find("null"), std::string::npos) << e;
}

TEST(OffsetsFormat, HugeDeclaredSizesFailBeforeAllocating) {
  // Two members' worth of bytes cannot hold 2^31-1 members; a length of 2^31-1 bytes cannot fit.
  Bytes many = b({0x00, 0x03, 0x00, 0x00, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF,
                  0,    0,    0,    0,    0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF});
  many.resize(many.size() + 40, 0);
  std::string e = error_of([&] { decode_group_value(many); });
  EXPECT_EQ(e.rfind("GroupMetadataValue v3: ", 0), 0u) << e;
  EXPECT_NE(e.find("exceeds the remaining"), std::string::npos) << e;

  // Flexible: a compact array count of 2^32-2 (varint FE FF FF FF 0F).
  Bytes flex = b({0x00, 0x04, 0x01, 0, 0, 0, 1,    0x00, 0x00, 0,    0,
                  0,    0,    0,    0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F});
  e = error_of([&] { decode_group_value(flex); });
  EXPECT_EQ(e.rfind("GroupMetadataValue v4: ", 0), 0u) << e;
  EXPECT_NE(e.find("exceeds the remaining"), std::string::npos) << e;

  // A varint running past 32 bits.
  Bytes overflow = b({0x00, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
  EXPECT_NE(error_of([&] { decode_group_value(overflow); }).find("varint"), std::string::npos);

  // A subscription claiming 2 GiB.
  Bytes sub = encode_value(GroupMetadataValue{"c", 1, "r", "m", 0, {member("m", std::nullopt)}});
  // The member's subscription length sits right after its sessionTimeout; find it by value.
  const Bytes want_len = b({0, 0, 0, 4, 0, 1, 2, 3});
  auto it = std::search(sub.begin(), sub.end(), want_len.begin(), want_len.end());
  ASSERT_NE(it, sub.end());
  *it = 0x7F;
  e = error_of([&] { decode_group_value(sub); });
  EXPECT_EQ(e.rfind("GroupMetadataValue v3: ", 0), 0u) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST(OffsetsFormat, EveryTruncationOfEveryVersionThrows) {
  std::vector<std::pair<std::string, Bytes>> cases;
  for (int16_t v = 0; v <= kMaxOffsetValueVersion; ++v) {
    cases.emplace_back("offset value v" + std::to_string(v), encode_value(sample_offset(), v));
  }
  for (int16_t v = 0; v <= kMaxGroupValueVersion; ++v) {
    cases.emplace_back("group value v" + std::to_string(v), encode_value(sample_group(), v));
  }
  for (const auto& [name, full] : cases) {
    const bool is_offset = name.rfind("offset", 0) == 0;
    for (size_t n = 0; n < full.size(); ++n) {
      std::span<const uint8_t> prefix(full.data(), n);
      if (is_offset) {
        EXPECT_THROW(decode_offset_value(prefix), std::runtime_error) << name << " len " << n;
      } else {
        EXPECT_THROW(decode_group_value(prefix), std::runtime_error) << name << " len " << n;
      }
    }
  }
  Bytes key = encode_key(OffsetKey{"group", "topic", 3});
  for (size_t n = 0; n < key.size(); ++n) {
    EXPECT_THROW(decode_key(std::span<const uint8_t>(key.data(), n)), std::runtime_error) << n;
  }
}

// Damaged input either decodes or throws std::runtime_error: never another exception (e.g.
// bad_alloc or length_error from trusting a length) and never a read out of bounds (run under
// -fsanitize=address to see the latter).
TEST(OffsetsFormat, RandomAndMutatedInputThrowsCleanly) {
  std::mt19937 rng(20240611);
  std::vector<Bytes> seeds;
  for (int16_t v = 0; v <= kMaxGroupValueVersion; ++v)
    seeds.push_back(encode_value(sample_group(), v));
  for (int16_t v = 0; v <= kMaxOffsetValueVersion; ++v) {
    seeds.push_back(encode_value(sample_offset(), v));
  }
  seeds.push_back(encode_key(OffsetKey{"group", "topic", 3}));
  seeds.push_back(encode_key(GroupMetadataKey{"group"}));

  auto try_all = [](const Bytes& in) {
    // Exercise both value decoders and the key decoder on the same bytes.
    for (int which = 0; which < 3; ++which) {
      try {
        if (which == 0) decode_offset_value(in);
        if (which == 1) decode_group_value(in);
        if (which == 2) decode_key(in);
      } catch (const std::runtime_error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "decoder " << which << " threw a non-runtime_error: " << e.what();
      }
    }
  };

  int ok_mutants = 0;
  for (int round = 0; round < 20000; ++round) {
    Bytes in;
    if (round % 4 == 0) {
      in.resize(rng() % 64);
      for (auto& x : in) x = static_cast<uint8_t>(rng());
    } else {
      in = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips && !in.empty(); ++f)
        in[rng() % in.size()] = static_cast<uint8_t>(rng());
      if (rng() % 3 == 0) in.resize(rng() % (in.size() + 1));
    }
    try_all(in);
    // A mutant that still decodes as a group value must re-encode and decode to the same value.
    try {
      GroupMetadataValue v = decode_group_value(in);
      const int16_t version = static_cast<int16_t>(in[1]);
      EXPECT_EQ(decode_group_value(encode_value(v, version)), v);
      ++ok_mutants;
    } catch (const std::runtime_error&) {
    }
  }
  EXPECT_GT(ok_mutants, 0) << "mutations never produced a decodable value; the fuzz is too blunt";
}

TEST(OffsetsFormat, EncodeRejectsWhatTheFormatCannotHold) {
  EXPECT_THROW(encode_key(OffsetKey{std::string(32768, 'g'), "t", 0}), std::runtime_error);
  EXPECT_NO_THROW(encode_key(OffsetKey{std::string(32767, 'g'), "t", 0}));
  EXPECT_THROW(encode_key(OffsetKey{"g", "t", 0}, 2), std::runtime_error);
  EXPECT_THROW(encode_value(sample_offset(), 5), std::runtime_error);
  EXPECT_THROW(encode_value(sample_group(), -1), std::runtime_error);
  GroupMetadataValue long_id = sample_group();
  long_id.members[0].client_host = std::string(40000, 'h');
  std::string e = error_of([&] { encode_value(long_id); });
  EXPECT_EQ(e.rfind("GroupMetadataValue v3: ", 0), 0u) << e;
  EXPECT_NE(e.find("32767"), std::string::npos) << e;
  // Kafka caps compact (flexible) strings at the same length.
  EXPECT_THROW(encode_value(long_id, 4), std::runtime_error);
}

TEST(OffsetsFormat, SnapshotsConvertBothWaysThroughTheRecord) {
  GroupSnapshot s;
  s.group_id = "payments";
  s.protocol_type = "consumer";
  s.generation_id = 9;
  s.protocol_name = "cooperative-sticky";
  s.leader_id = "m-1";
  s.state_timestamp_ms = 1700000000123;
  s.members = {{"m-1", std::nullopt, "c1", "/10.0.0.1", 60000, 45000, b({1}), b({2, 3})},
               {"m-2", "pod-2", "c2", "/10.0.0.2", 60000, 45000, b({4}), b({})}};

  Bytes key = encode_key(GroupMetadataKey{s.group_id});
  Bytes value = encode_value(to_group_value(s));
  auto rec = std::get<GroupRecord>(decode_record(key, std::span<const uint8_t>(value)));
  ASSERT_TRUE(rec.value.has_value());
  EXPECT_EQ(to_snapshot(rec.key, *rec.value, 5), s);
}

TEST(OffsetsFormat, EmptyGroupSnapshotStoresNullProtocolAndLeader) {
  GroupSnapshot s;
  s.group_id = "idle";
  s.protocol_type = "consumer";
  s.generation_id = 4;
  s.state_timestamp_ms = 1000;
  GroupMetadataValue v = decode_group_value(encode_value(to_group_value(s)));
  EXPECT_FALSE(v.protocol.has_value());
  EXPECT_FALSE(v.leader.has_value());
  EXPECT_TRUE(v.members.empty());
  EXPECT_EQ(to_snapshot(GroupMetadataKey{"idle"}, v, 5), s);
}

TEST(OffsetsFormat, OldGroupValuesWithoutStateTimestampTakeTheLoadTime) {
  GroupMetadataValue v = decode_group_value(encode_value(sample_group(), 1));
  ASSERT_EQ(v.current_state_timestamp, -1);
  GroupSnapshot s = to_snapshot(GroupMetadataKey{"g"}, v, 424242);
  EXPECT_EQ(s.state_timestamp_ms, 424242);
  EXPECT_EQ(s.members.size(), 2u);
  EXPECT_EQ(s.leader_id, "m-1");
}

}  // namespace
}  // namespace ferry::groups
