#include "broker/storage/batch_writer.h"

#include <stdexcept>

#include "broker/storage/bytes.h"

namespace ferry::storage {

void put_varlong(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<uint8_t>(z | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<uint8_t>(z));
}

void put_field(std::vector<uint8_t>& out, const uint8_t* p, int32_t len) {
  put_varlong(out, len);
  if (len > 0) out.insert(out.end(), p, p + len);
}

void seal_batch(std::vector<uint8_t>& batch, const BatchHeader& h, int16_t attributes, int64_t base_ts,
                int64_t max_ts, int32_t record_count) {
  uint8_t* b = batch.data();
  namespace f = batch_field;
  bytes::store_be64(b + f::base_offset, static_cast<uint64_t>(h.base_offset));
  bytes::store_be32(b + f::batch_length, static_cast<uint32_t>(batch.size() - kLogOverhead));
  bytes::store_be32(b + f::partition_leader_epoch, static_cast<uint32_t>(h.partition_leader_epoch));
  b[f::magic] = 2;
  bytes::store_be16(b + f::attributes, static_cast<uint16_t>(attributes));
  bytes::store_be32(b + f::last_offset_delta, static_cast<uint32_t>(h.last_offset_delta));
  bytes::store_be64(b + f::base_timestamp, static_cast<uint64_t>(base_ts));
  bytes::store_be64(b + f::max_timestamp, static_cast<uint64_t>(max_ts));
  bytes::store_be64(b + f::producer_id, static_cast<uint64_t>(h.producer_id));
  bytes::store_be16(b + f::producer_epoch, static_cast<uint16_t>(h.producer_epoch));
  bytes::store_be32(b + f::base_sequence, static_cast<uint32_t>(h.base_sequence));
  bytes::store_be32(b + f::record_count, static_cast<uint32_t>(record_count));
  rewrite_batch_crc(b, batch.size());
}

std::vector<uint8_t> build_batch(const std::vector<NewRecord>& records, int64_t timestamp_ms) {
  if (records.empty()) throw std::invalid_argument("build_batch: a record batch needs at least one record");
  std::vector<uint8_t> out(kBatchHeaderSize);
  std::vector<uint8_t> body;
  auto field = [&](const std::optional<std::string_view>& s) {
    if (!s) {
      put_varlong(body, -1);
      return;
    }
    put_field(body, reinterpret_cast<const uint8_t*>(s->data()), static_cast<int32_t>(s->size()));
  };
  for (size_t i = 0; i < records.size(); ++i) {
    body.clear();
    body.push_back(0);       // record attributes: unused in v2
    put_varlong(body, 0);    // timestamp delta: every record carries the batch's timestamp
    put_varlong(body, static_cast<int64_t>(i));
    field(records[i].key);
    field(records[i].value);
    put_varlong(body, 0);    // header count
    put_varlong(out, static_cast<int64_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
  BatchHeader h{};
  h.base_offset = 0;
  h.partition_leader_epoch = -1;
  h.last_offset_delta = static_cast<int32_t>(records.size() - 1);
  h.producer_id = -1;
  h.producer_epoch = -1;
  h.base_sequence = -1;
  seal_batch(out, h, 0, timestamp_ms, timestamp_ms, static_cast<int32_t>(records.size()));
  return out;
}

}  // namespace ferry::storage
