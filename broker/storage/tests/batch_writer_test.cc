// The broker's own batch builder must produce batches every Kafka reader accepts: the produce
// validator (Kafka's LogValidator rules) and the record walker see exactly the records given.
#include <gtest/gtest.h>

#include "broker/storage/batch_records.h"
#include "broker/storage/batch_writer.h"

namespace ferry::storage {
namespace {

struct Seen {
  std::optional<std::string> key, value;
  int32_t offset_delta;
};

std::vector<Seen> walk(const std::vector<uint8_t>& blob, const BatchHeader& h) {
  std::vector<Seen> out;
  std::vector<uint8_t> scratch;
  auto as_string = [](const uint8_t* p, int32_t n) -> std::optional<std::string> {
    if (n < 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  };
  std::string err = for_each_record(blob.data(), blob.size(), h, true, scratch, [&](const RecordView& r) {
    out.push_back({as_string(r.key, r.key_length), as_string(r.value, r.value_length), r.offset_delta});
    return true;
  });
  EXPECT_EQ(err, "");
  return out;
}

TEST(BatchWriter, BuiltBatchPassesTheProduceValidatorWithItsRecordsIntact) {
  std::string big(70000, 'v');  // a value needing a multi-byte varint length
  std::vector<NewRecord> records = {{"k1", "v1"}, {"k2", std::nullopt}, {std::nullopt, big}, {"", ""}};
  auto blob = build_batch(records, 1'700'000'000'123);
  auto v = validate_produce_records(blob.data(), blob.size(), 1 << 20);
  ASSERT_EQ(v.error, errc::ok) << v.message;
  ASSERT_EQ(v.batches.size(), 1u);
  const auto& h = v.batches[0];
  EXPECT_EQ(h.record_count, 4);
  EXPECT_EQ(h.last_offset_delta, 3);
  EXPECT_EQ(h.base_timestamp, 1'700'000'000'123);
  EXPECT_EQ(h.max_timestamp, 1'700'000'000'123);
  EXPECT_EQ(h.producer_id, -1);
  EXPECT_EQ(h.compression(), 0);
  auto seen = walk(blob, h);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].key, "k1");
  EXPECT_EQ(seen[0].value, "v1");
  EXPECT_EQ(seen[1].key, "k2");
  EXPECT_EQ(seen[1].value, std::nullopt) << "a null value is a tombstone and must stay null";
  EXPECT_EQ(seen[2].key, std::nullopt);
  EXPECT_EQ(seen[2].value, big);
  EXPECT_EQ(seen[3].key, "") << "an empty key is not a null key";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)].offset_delta, i);
}

TEST(BatchWriter, EmptyRecordListIsRefused) {
  EXPECT_THROW(build_batch({}, 0), std::invalid_argument);
}

}  // namespace
}  // namespace ferry::storage
