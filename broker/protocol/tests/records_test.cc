// Records and Frame: a Fetch response whose record batches are file slices encodes, once the
// slices are read in, to exactly the bytes of the same response with the batches in memory, and
// its size prefix counts the spliced bytes.
#include <gtest/gtest.h>

#include "broker/protocol/header.h"
#include "broker/protocol/messages/fetch.h"
#include "broker/protocol/records.h"
#include "broker/protocol/schema.h"
#include "broker/protocol/tests/temp_file.h"

namespace ferry::protocol {
namespace {

/// A file holding bytes 0, 1, 2, ... (mod 251).
struct CountingFile : testing::TempFile {
  explicit CountingFile(size_t size) : TempFile(counting(size)) {}
  static Bytes counting(size_t size) {
    Bytes b(size);
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(i % 251);
    return b;
  }
  Bytes bytes(int64_t offset, int64_t length) const {
    return Bytes(content.begin() + offset, content.begin() + offset + length);
  }
};

// The response frame as the broker's dispatcher builds it: size prefix, header v0, body.
Frame encode_frame(const FetchResponse& r, int16_t version) {
  Frame f;
  Writer w(f.bytes, &f.splices);
  w.i32(0);
  write_response_header(w, 42, false);
  encode(r, version, false, w);
  w.patch_i32(0, static_cast<int32_t>(f.size() - 4));
  return f;
}

TEST(Records, SlicedFetchResponseEqualsTheSameResponseInMemory) {
  CountingFile file(64 * 1024);
  FetchResponse sliced;
  FetchResponse inline_;
  for (int partition = 0; partition < 3; ++partition) {
    FetchResponse::PartitionData p;
    p.partition_index = partition;
    p.high_watermark = 100 + partition;
    p.records.emplace();
    inline_.responses.resize(1);
    sliced.responses.resize(1);
    sliced.responses[0].topic = inline_.responses[0].topic = "t";
    Records in_memory;
    if (partition == 0) {  // small batches read in, then two slices of two segments
      p.records->bytes = file.bytes(10, 5);
      p.records->slices = {file.slice(1000, 20000), file.slice(0, 3)};
    } else if (partition == 1) {  // nothing fetched
    } else {  // one slice only
      p.records->slices = {file.slice(30000, 34000)};
    }
    auto q = p;
    q.records = Records(p.records->materialize());
    EXPECT_EQ(q.records->size(), p.records->size());
    sliced.responses[0].partitions.push_back(p);
    inline_.responses[0].partitions.push_back(q);
  }
  for (int16_t version : {4, 11}) {
    const Frame s = encode_frame(sliced, version);
    const Frame m = encode_frame(inline_, version);
    EXPECT_EQ(s.splices.size(), 3u);
    EXPECT_TRUE(m.splices.empty());
    EXPECT_EQ(s.size(), m.bytes.size()) << "the size prefix must count the spliced bytes";
    EXPECT_TRUE(s.materialize() == m.bytes) << "v" << version;
    // A writer without a splice list reads the slices in as it goes.
    Bytes direct;
    Writer w(direct);
    encode(sliced, version, false, w);
    Bytes body(m.bytes.begin() + 8, m.bytes.end());  // without size prefix and correlation id
    EXPECT_TRUE(direct == body);
    // And a client decodes the frame's body to the batches, in order.
    Reader r(std::span<const uint8_t>(s.materialize()).subspan(8));
    auto decoded = decode<FetchResponse>(r, version, false);
    ASSERT_EQ(decoded.responses.at(0).partitions.size(), 3u);
    EXPECT_TRUE(decoded.responses[0].partitions[0].records->bytes == inline_.responses[0].partitions[0].records->bytes);
  }
}

TEST(Records, ASliceBeyondTheEndOfItsFileIsAnErrorNotShortData) {
  CountingFile file(100);
  Records r;
  r.slices = {file.slice(90, 20)};
  EXPECT_THROW(r.materialize(), std::system_error);
  Bytes out{1, 2};
  EXPECT_THROW(read_slice(file.slice(50, 51), out), std::system_error);
  EXPECT_EQ(out.size(), 2u) << "a failed read leaves the output as it was";
}

}  // namespace
}  // namespace ferry::protocol
