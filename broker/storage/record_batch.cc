#include "broker/storage/record_batch.h"

#include <fmt/format.h>

#include "broker/storage/batch_records.h"
#include "broker/storage/bytes.h"

namespace ferry::storage {

using namespace bytes;

std::optional<BatchHeader> parse_batch_header(const uint8_t* d, size_t n) {
  if (n < kBatchHeaderSize) return std::nullopt;
  namespace f = batch_field;
  BatchHeader h;
  h.base_offset = static_cast<int64_t>(load_be64(d + f::base_offset));
  h.batch_length = static_cast<int32_t>(load_be32(d + f::batch_length));
  h.partition_leader_epoch = static_cast<int32_t>(load_be32(d + f::partition_leader_epoch));
  h.magic = static_cast<int8_t>(d[f::magic]);
  h.crc = load_be32(d + f::crc);
  h.attributes = static_cast<int16_t>(load_be16(d + f::attributes));
  h.last_offset_delta = static_cast<int32_t>(load_be32(d + f::last_offset_delta));
  h.base_timestamp = static_cast<int64_t>(load_be64(d + f::base_timestamp));
  h.max_timestamp = static_cast<int64_t>(load_be64(d + f::max_timestamp));
  h.producer_id = static_cast<int64_t>(load_be64(d + f::producer_id));
  h.producer_epoch = static_cast<int16_t>(load_be16(d + f::producer_epoch));
  h.base_sequence = static_cast<int32_t>(load_be32(d + f::base_sequence));
  h.record_count = static_cast<int32_t>(load_be32(d + f::record_count));
  return h;
}

uint32_t compute_batch_crc(const uint8_t* batch, size_t size) {
  return crc32c(batch + batch_field::attributes, size - batch_field::attributes);
}

void rewrite_batch_crc(uint8_t* batch, size_t size) {
  store_be32(batch + batch_field::crc, compute_batch_crc(batch, size));
}

namespace {

ValidationResult fail(errc e, std::string message) {
  ValidationResult r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

}  // namespace

ValidationResult validate_produce_records(const uint8_t* data, size_t n, int32_t max_batch_bytes) {
  if (n == 0) return fail(errc::invalid_record, "produce request carries no record batch");
  ValidationResult result;
  std::vector<uint8_t> scratch;
  size_t pos = 0;
  for (size_t index = 0; pos < n; ++index) {
    const uint8_t* b = data + pos;
    size_t rem = n - pos;
    if (rem < kLogOverhead) {
      return fail(errc::corrupt_message, fmt::format("batch {}: {} trailing bytes are shorter than a batch header", index, rem));
    }
    // The magic byte sits at offset 16 in every message format (v0, v1 and v2), so old formats
    // are recognised before their different layout could be mistaken for corruption.
    if (rem > batch_field::magic && b[batch_field::magic] != 2) {
      return fail(errc::unsupported_for_message_format,
                  fmt::format("batch {}: magic {} (only record batch v2 is accepted)", index, static_cast<int8_t>(b[batch_field::magic])));
    }
    auto length = static_cast<int32_t>(load_be32(b + batch_field::batch_length));
    if (length < kMinBatchLength) {
      return fail(errc::corrupt_message, fmt::format("batch {}: batchLength {} is below the minimum {}", index, length, kMinBatchLength));
    }
    if (static_cast<size_t>(length) > rem - kLogOverhead) {
      return fail(errc::corrupt_message,
                  fmt::format("batch {}: batchLength {} but only {} bytes follow (partial batch)", index, length, rem - kLogOverhead));
    }
    size_t size = kLogOverhead + static_cast<size_t>(length);
    if (size > static_cast<size_t>(std::max(max_batch_bytes, 0))) {
      return fail(errc::message_too_large, fmt::format("batch {}: {} bytes exceeds max.message.bytes {}", index, size, max_batch_bytes));
    }
    BatchHeader h = *parse_batch_header(b, size);
    uint32_t crc = compute_batch_crc(b, size);
    if (crc != h.crc) {
      return fail(errc::corrupt_message, fmt::format("batch {}: CRC-32C is {:#010x}, header says {:#010x}", index, crc, h.crc));
    }
    if (h.is_control()) return fail(errc::invalid_record, fmt::format("batch {}: clients may not send control batches", index));
    if (h.record_count < 1) {
      return fail(errc::invalid_record, fmt::format("batch {}: recordCount {} (a batch needs at least one record)", index, h.record_count));
    }
    if (h.last_offset_delta != h.record_count - 1) {
      return fail(errc::invalid_record,
                  fmt::format("batch {}: lastOffsetDelta {} does not match recordCount {}", index, h.last_offset_delta, h.record_count));
    }
    std::string err = for_each_record(b, size, h, true, scratch, [](const RecordView&) { return true; });
    if (!err.empty()) return fail(errc::invalid_record, fmt::format("batch {}: {}", index, err));
    result.batches.push_back(h);
    pos += size;
  }
  return result;
}

}  // namespace ferry::storage
