#include <gtest/gtest.h>

#include "broker/storage/batch_records.h"
#include "broker/storage/compression.h"
#include "broker/storage/record_batch.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using testing::BatchSpec;
using testing::encode_batch;
using testing::simple_batch;
using testing::simple_spec;

ValidationResult validate(const std::vector<uint8_t>& blob, int32_t max = 1 << 20) {
  return validate_produce_records(blob.data(), blob.size(), max);
}

// Recomputes the CRC after a deliberate header edit, so that only the edited rule can fail.
void fix_crc(std::vector<uint8_t>& b) { rewrite_batch_crc(b.data(), b.size()); }

TEST(BatchHeader, ParsesEveryField) {
  BatchSpec s = simple_spec(3, 5'000);
  s.base_offset = 42;
  s.partition_leader_epoch = 7;
  s.codec = 4;
  s.extra_attributes = batch_attr::transactional;
  auto b = encode_batch(s);
  auto h = parse_batch_header(b.data(), b.size());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->base_offset, 42);
  EXPECT_EQ(h->size_in_bytes(), b.size());
  EXPECT_EQ(h->partition_leader_epoch, 7);
  EXPECT_EQ(h->magic, 2);
  EXPECT_EQ(h->crc, compute_batch_crc(b.data(), b.size()));
  EXPECT_EQ(h->compression(), 4);
  EXPECT_TRUE(h->is_transactional());
  EXPECT_FALSE(h->is_control());
  EXPECT_FALSE(h->is_log_append_time());
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->last_offset(), 44);
  EXPECT_EQ(h->base_timestamp, 5'000);
  EXPECT_EQ(h->max_timestamp, 5'020);
  EXPECT_EQ(h->producer_id, -1);
  EXPECT_EQ(h->producer_epoch, -1);
  EXPECT_EQ(h->base_sequence, -1);
  EXPECT_EQ(h->record_count, 3);
  EXPECT_FALSE(parse_batch_header(b.data(), 60));
}

TEST(Validate, AcceptsOneAndSeveralBatches) {
  auto one = simple_batch(5);
  auto r = validate(one);
  ASSERT_EQ(r.error, errc::ok) << r.message;
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].record_count, 5);

  auto blob = simple_batch(1);
  for (int n : {2, 7}) {
    auto more = simple_batch(n);
    blob.insert(blob.end(), more.begin(), more.end());
  }
  r = validate(blob);
  ASSERT_EQ(r.error, errc::ok) << r.message;
  ASSERT_EQ(r.batches.size(), 3u);
  EXPECT_EQ(r.batches[2].record_count, 7);
}

TEST(Validate, AcceptsNullKeysValuesAndHeaders) {
  BatchSpec s;
  s.records.push_back({std::nullopt, std::nullopt, {}, 0});
  s.records.push_back({"k", "", {{"h1", "v1"}, {"h2", std::nullopt}}, 3});
  auto r = validate(encode_batch(s));
  EXPECT_EQ(r.error, errc::ok) << r.message;
}

struct CodecCase {
  int codec;
  bool xerial;
  const char* name;
};

class CompressedBatches : public ::testing::TestWithParam<CodecCase> {};

TEST_P(CompressedBatches, ValidBatchPassesAndIsDecodable) {
  BatchSpec s = simple_spec(50, 1'000, 40);
  s.codec = GetParam().codec;
  s.xerial = GetParam().xerial;
  auto b = encode_batch(s);
  auto r = validate(b);
  ASSERT_EQ(r.error, errc::ok) << r.message;
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].compression(), GetParam().codec);

  // The records come back intact through the decompressor.
  std::vector<uint8_t> scratch;
  int seen = 0;
  std::string err = for_each_record(b.data(), b.size(), r.batches[0], true, scratch, [&](const RecordView& v) {
    std::string key(reinterpret_cast<const char*>(v.key), static_cast<size_t>(v.key_length));
    EXPECT_EQ(key, "k" + std::to_string(seen));
    EXPECT_EQ(v.value_length, 40);
    EXPECT_EQ(v.timestamp_delta, 10 * seen);
    ++seen;
    return true;
  });
  EXPECT_EQ(err, "");
  EXPECT_EQ(seen, 50);
}

TEST_P(CompressedBatches, RecordCountThatOverstatesIsRejected) {
  BatchSpec s = simple_spec(4);
  s.codec = GetParam().codec;
  s.xerial = GetParam().xerial;
  s.record_count = 5;
  s.last_offset_delta = 4;
  auto r = validate(encode_batch(s));
  EXPECT_EQ(r.error, errc::invalid_record);
  EXPECT_NE(r.message.find("declares 5 records but holds 4"), std::string::npos) << r.message;
}

TEST_P(CompressedBatches, RecordCountThatUnderstatesIsRejected) {
  BatchSpec s = simple_spec(4);
  s.codec = GetParam().codec;
  s.xerial = GetParam().xerial;
  s.record_count = 3;
  s.last_offset_delta = 2;
  auto r = validate(encode_batch(s));
  EXPECT_EQ(r.error, errc::invalid_record);
  EXPECT_NE(r.message.find("follow the 3 declared records"), std::string::npos) << r.message;
}

TEST_P(CompressedBatches, GarbledStreamWithValidCrcIsRejected) {
  BatchSpec s = simple_spec(20, 1'000, 30);
  s.codec = GetParam().codec;
  s.xerial = GetParam().xerial;
  auto b = encode_batch(s);
  // Damage the compressed payload, then re-sign it: the CRC holds, the contents do not.
  for (size_t i = kBatchHeaderSize + (b.size() - kBatchHeaderSize) / 2; i < b.size(); ++i) b[i] ^= 0x5a;
  fix_crc(b);
  EXPECT_EQ(validate(b).error, errc::invalid_record);
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressedBatches,
                         ::testing::Values(CodecCase{1, false, "gzip"}, CodecCase{2, false, "snappy"},
                                           CodecCase{2, true, "snappy_xerial"}, CodecCase{3, false, "lz4"},
                                           CodecCase{4, false, "zstd"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Validate, EmptyBlobIsInvalidRecord) {
  std::vector<uint8_t> none;
  EXPECT_EQ(validate(none).error, errc::invalid_record);
}

TEST(Validate, TrailingPartialBatchIsCorrupt) {
  auto blob = simple_batch(3);
  auto second = simple_batch(2);
  blob.insert(blob.end(), second.begin(), second.end());
  for (size_t cut : {1ul, 5ul, 11ul, 12ul, 30ul, second.size() - 1}) {
    std::vector<uint8_t> torn(blob.begin(), blob.end() - static_cast<std::ptrdiff_t>(cut));
    auto r = validate(torn);
    EXPECT_EQ(r.error, errc::corrupt_message) << "cut " << cut << ": " << r.message;
    EXPECT_NE(r.message.find("batch 1"), std::string::npos) << r.message;
  }
}

TEST(Validate, BatchLengthBelowMinimumIsCorrupt) {
  auto b = simple_batch(1);
  b[8] = b[9] = b[10] = 0;
  b[11] = 40;
  EXPECT_EQ(validate(b).error, errc::corrupt_message);
}

TEST(Validate, OldMagicIsUnsupported) {
  for (int8_t magic : {0, 1}) {
    BatchSpec s = simple_spec(2);
    s.magic = magic;
    auto r = validate(encode_batch(s));
    EXPECT_EQ(r.error, errc::unsupported_for_message_format) << r.message;
  }
}

TEST(Validate, CrcMismatchIsCorrupt) {
  auto b = simple_batch(3);
  b[b.size() - 2] ^= 0x01;  // inside the last value
  EXPECT_EQ(validate(b).error, errc::corrupt_message);
  b = simple_batch(3);
  b[17] ^= 0x80;  // the CRC field itself
  EXPECT_EQ(validate(b).error, errc::corrupt_message);
}

TEST(Validate, ControlBatchFromClientIsRejected) {
  BatchSpec s = simple_spec(1);
  s.extra_attributes = batch_attr::control | batch_attr::transactional;
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, LastOffsetDeltaMustMatchCount) {
  BatchSpec s = simple_spec(3);
  s.last_offset_delta = 5;
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, ZeroRecordsIsRejected) {
  BatchSpec s;
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, OffsetDeltasMustCountFromZero) {
  BatchSpec s = simple_spec(3);
  s.offset_deltas = {0, 2, 1};
  auto r = validate(encode_batch(s));
  EXPECT_EQ(r.error, errc::invalid_record);
  EXPECT_NE(r.message.find("offsetDelta 2, expected 1"), std::string::npos) << r.message;
  s.offset_deltas = {1, 2, 3};
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, MalformedRecordsAreInvalid) {
  // Each mutation breaks the first record, whose bytes are: length, attributes, tsDelta (0),
  // offsetDelta (0), keyLen (zig-zag 2 = "k0"), key, valueLen, value, headerCount.
  struct Case {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> mutate;
  };
  std::vector<Case> cases = {
      {"record length too long", [](std::vector<uint8_t>& r) { r[0] = 0x7e; }},
      {"record length negative", [](std::vector<uint8_t>& r) { r[0] = 0x03; }},
      {"key length past the record", [](std::vector<uint8_t>& r) { r[4] = 0x40; }},
      {"key length below -1", [](std::vector<uint8_t>& r) { r[4] = 0x03; }},
      {"unterminated varint", [](std::vector<uint8_t>& r) { std::fill(r.begin() + 2, r.begin() + 12, 0xff); }},
      {"header count past the record", [](std::vector<uint8_t>& r) { r[r[0] / 2] = 0x10; }},
      {"bytes after the last record", [](std::vector<uint8_t>& r) { r.push_back(0); }},
  };
  for (const auto& c : cases) {
    BatchSpec s = simple_spec(2, 1'000, 4);
    s.mutate_records = c.mutate;
    auto r = validate(encode_batch(s));
    EXPECT_EQ(r.error, errc::invalid_record) << c.what << ": " << r.message;
  }
}

TEST(Validate, NullHeaderKeyIsInvalid) {
  BatchSpec s = simple_spec(1);
  s.records[0].headers = {{"h", "v"}};
  s.mutate_records = [](std::vector<uint8_t>& r) {
    // The header key length is the byte right after the header count (zig-zag 1 = 0x02).
    for (size_t i = r.size() - 6; i + 2 < r.size(); ++i) {
      if (r[i] == 0x02 && r[i + 1] == 0x02 && r[i + 2] == 'h') {
        r[i + 1] = 0x01;  // -1
        return;
      }
    }
    FAIL() << "header layout not found";
  };
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, BatchAboveMaxIsTooLarge) {
  auto b = simple_batch(10, 1'000, 100);
  auto size = static_cast<int32_t>(b.size());
  EXPECT_EQ(validate(b, size).error, errc::ok);
  EXPECT_EQ(validate(b, size - 1).error, errc::message_too_large);
}

TEST(Validate, UnknownCodecIsInvalid) {
  BatchSpec s = simple_spec(2);
  s.codec = 5;
  EXPECT_EQ(validate(encode_batch(s)).error, errc::invalid_record);
}

TEST(Validate, ErrorsNameTheBatch) {
  auto blob = simple_batch(2);
  BatchSpec bad = simple_spec(2);
  bad.last_offset_delta = 0;
  auto b = encode_batch(bad);
  blob.insert(blob.end(), b.begin(), b.end());
  auto r = validate(blob);
  EXPECT_EQ(r.error, errc::invalid_record);
  EXPECT_NE(r.message.find("batch 1"), std::string::npos) << r.message;
}

TEST(Decompress, RefusesOutputAboveLimit) {
  std::vector<uint8_t> raw(100'000, 'x');
  for (int codec : {1, 2, 3, 4}) {
    auto packed = testing::compress(codec, false, raw);
    std::vector<uint8_t> out;
    EXPECT_EQ(decompress(codec, packed.data(), packed.size(), out), "") << codec;
    EXPECT_EQ(out, raw) << codec;
    EXPECT_NE(decompress(codec, packed.data(), packed.size(), out, 50'000), "") << codec;
  }
}

TEST(Decompress, TruncatedStreamsFail) {
  std::vector<uint8_t> raw(5'000);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7);
  for (int codec : {1, 2, 3, 4}) {
    auto packed = testing::compress(codec, false, raw);
    packed.resize(packed.size() - 3);
    std::vector<uint8_t> out;
    EXPECT_NE(decompress(codec, packed.data(), packed.size(), out), "") << codec;
  }
}

}  // namespace
}  // namespace ferry::storage
