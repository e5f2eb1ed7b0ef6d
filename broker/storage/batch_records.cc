#include "broker/storage/batch_records.h"

#include <fmt/format.h>

#include "broker/storage/bytes.h"
#include "broker/storage/compression.h"

namespace ferry::storage {
namespace {

// Reads a length-prefixed field (key, value, header key/value); -1 means null when allowed.
bool read_field(bytes::Cursor& r, bool nullable, const uint8_t** ptr, int32_t* len) {
  auto n = r.varint();
  if (!n || *n < (nullable ? -1 : 0)) return false;
  *ptr = r.position();
  *len = *n;
  return *n < 0 || r.skip(static_cast<size_t>(*n));
}

// `min_delta`: the smallest acceptable offsetDelta; `exact` demands equality.
std::string parse_one(bytes::Cursor& c, int32_t index, int64_t min_delta, bool exact, RecordView* out) {
  auto len = c.varint();
  if (!len) return fmt::format("record {}: malformed length varint", index);
  if (*len < 0 || static_cast<size_t>(*len) > c.remaining()) {
    return fmt::format("record {}: length {} but {} bytes remain in the batch", index, *len, c.remaining());
  }
  bytes::Cursor r(c.position(), c.position() + *len);
  c.skip(static_cast<size_t>(*len));

  auto attributes = r.i8();
  auto ts_delta = r.varlong();
  auto offset_delta = r.varint();
  if (!attributes || !ts_delta || !offset_delta) return fmt::format("record {}: truncated record header", index);
  if (exact ? *offset_delta != min_delta : *offset_delta < min_delta) {
    return fmt::format("record {}: offsetDelta {}, expected {}{}", index, *offset_delta, exact ? "" : "at least ", min_delta);
  }
  RecordView v{*attributes, *ts_delta, *offset_delta, nullptr, -1, nullptr, -1, 0, nullptr, 0};
  if (!read_field(r, true, &v.key, &v.key_length)) return fmt::format("record {}: bad key length", index);
  if (!read_field(r, true, &v.value, &v.value_length)) return fmt::format("record {}: bad value length", index);
  v.headers = r.position();
  auto headers = r.varint();
  if (!headers || *headers < 0) return fmt::format("record {}: bad header count", index);
  v.header_count = *headers;
  for (int32_t h = 0; h < *headers; ++h) {
    const uint8_t* p;
    int32_t n;
    if (!read_field(r, false, &p, &n)) return fmt::format("record {}: header {} has a bad key length", index, h);
    if (!read_field(r, true, &p, &n)) return fmt::format("record {}: header {} has a bad value length", index, h);
  }
  if (r.remaining() != 0) {
    return fmt::format("record {}: length {} leaves {} unread bytes after the headers", index, *len, r.remaining());
  }
  v.headers_size = static_cast<size_t>(r.position() - v.headers);
  *out = v;
  return {};
}

}  // namespace

std::string for_each_record(const uint8_t* batch, size_t size, const BatchHeader& h, bool consecutive_offsets,
                            std::vector<uint8_t>& scratch, const RecordVisitor& visit) {
  if (size < kBatchHeaderSize) return "batch shorter than its header";
  const uint8_t* begin = batch + kBatchHeaderSize;
  const uint8_t* end = batch + size;
  if (h.compression() != 0) {
    std::string err = decompress(h.compression(), begin, size - kBatchHeaderSize, scratch);
    if (!err.empty()) return err;
    begin = scratch.data();
    end = scratch.data() + scratch.size();
  }
  bytes::Cursor c(begin, end);
  int64_t min_delta = 0;
  for (int32_t i = 0; i < h.record_count; ++i) {
    if (c.remaining() == 0) return fmt::format("batch declares {} records but holds {}", h.record_count, i);
    RecordView v;
    std::string err = parse_one(c, i, consecutive_offsets ? i : min_delta, consecutive_offsets, &v);
    if (!err.empty()) return err;
    min_delta = int64_t{v.offset_delta} + 1;
    if (!visit(v)) return {};
  }
  if (c.remaining() != 0) {
    return fmt::format("{} bytes follow the {} declared records", c.remaining(), h.record_count);
  }
  return {};
}

}  // namespace ferry::storage
