#include "broker/storage/compaction.h"

#include <algorithm>

#include "broker/storage/batch_records.h"
#include "broker/storage/batch_writer.h"
#include "broker/storage/bytes.h"

namespace ferry::storage {
namespace {

// A surviving record: its absolute timestamp and its encoding from offsetDelta to the end.
struct KeptRecord {
  int8_t attributes;
  int64_t timestamp;
  std::vector<uint8_t> rest;
};

std::vector<uint8_t> encode_batch(const BatchHeader& h, int16_t attributes, int64_t base_ts, int64_t max_ts,
                                  const std::vector<KeptRecord>& records) {
  std::vector<uint8_t> out(kBatchHeaderSize);
  std::vector<uint8_t> body;
  for (const auto& r : records) {
    body.clear();
    body.push_back(static_cast<uint8_t>(r.attributes));
    put_varlong(body, r.timestamp - base_ts);
    body.insert(body.end(), r.rest.begin(), r.rest.end());
    put_varlong(out, static_cast<int64_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
  seal_batch(out, h, attributes, base_ts, max_ts, static_cast<int32_t>(records.size()));
  return out;
}

}  // namespace

std::string add_to_offset_map(const uint8_t* batch, size_t size, const BatchHeader& h, int64_t from_offset, OffsetMap& map) {
  if (h.is_control() || h.last_offset() < from_offset) return {};
  std::vector<uint8_t> scratch;
  return for_each_record(batch, size, h, false, scratch, [&](const RecordView& r) {
    int64_t offset = h.base_offset + r.offset_delta;
    if (r.key_length >= 0 && offset >= from_offset) {
      map.insert_or_assign(std::string(reinterpret_cast<const char*>(r.key), static_cast<size_t>(r.key_length)), offset);
    }
    return true;
  });
}

std::vector<int32_t> null_key_records(const uint8_t* data, size_t n) {
  std::vector<int32_t> out;
  std::vector<uint8_t> scratch;
  size_t pos = 0;
  int32_t index = 0;  // of the next record in the blob
  while (pos < n) {
    auto h = parse_batch_header(data + pos, n - pos);
    if (!h || h->batch_length < kMinBatchLength || h->size_in_bytes() > n - pos) {
      out.push_back(index);
      break;
    }
    if (!h->is_control()) {
      const int32_t first = index;
      std::string err = for_each_record(data + pos, h->size_in_bytes(), *h, false, scratch, [&](const RecordView& r) {
        if (r.key_length < 0) out.push_back(index);
        ++index;
        return true;
      });
      if (!err.empty()) {
        out.push_back(first);
        break;
      }
    }
    pos += h->size_in_bytes();
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool has_null_key(const uint8_t* data, size_t n) { return !null_key_records(data, n).empty(); }

FilteredBatch filter_batch(const uint8_t* batch, size_t size, const BatchHeader& h, const CleanRules& rules, bool keep_if_empty,
                           std::string* error) {
  FilteredBatch out;
  if (h.is_control()) return out;
  const bool has_horizon = (h.attributes & batch_attr::delete_horizon) != 0;
  const bool horizon_passed = has_horizon && rules.now_ms >= h.base_timestamp;
  std::vector<KeptRecord> kept;
  bool kept_tombstone = false;
  int32_t removed = 0, tombstones_removed = 0;
  std::vector<uint8_t> scratch;
  std::string err = for_each_record(batch, size, h, false, scratch, [&](const RecordView& r) {
    const int64_t offset = h.base_offset + r.offset_delta;
    const bool tombstone = r.value_length < 0;
    if (r.key_length >= 0) {
      auto it = rules.map->find(std::string(reinterpret_cast<const char*>(r.key), static_cast<size_t>(r.key_length)));
      if ((it != rules.map->end() && it->second > offset) || (tombstone && horizon_passed)) {
        ++removed;
        if (tombstone) ++tombstones_removed;
        return true;
      }
    }
    KeptRecord k{r.attributes, h.base_timestamp + r.timestamp_delta, {}};
    put_varlong(k.rest, r.offset_delta);
    put_field(k.rest, r.key, r.key_length);
    put_field(k.rest, r.value, r.value_length);
    k.rest.insert(k.rest.end(), r.headers, r.headers + r.headers_size);
    kept.push_back(std::move(k));
    kept_tombstone = kept_tombstone || tombstone;
    return true;
  });
  if (!err.empty()) {
    *error = err;
    return out;
  }
  if (kept_tombstone && has_horizon) out.pending_horizon_ms = h.base_timestamp;
  if (removed == 0 && (!kept_tombstone || has_horizon)) return out;

  out.records_removed = removed;
  out.tombstones_removed = tombstones_removed;
  auto attributes = static_cast<int16_t>(h.attributes & ~batch_attr::compression_mask);
  if (kept.empty()) {
    if (!keep_if_empty) {
      out.fate = FilteredBatch::Fate::drop;
      return out;
    }
    out.fate = FilteredBatch::Fate::rewrite;
    out.bytes = encode_batch(h, attributes, h.base_timestamp, h.max_timestamp, kept);
    return out;
  }
  int64_t base_ts = h.base_timestamp;
  if (kept_tombstone && !has_horizon) {
    base_ts = rules.now_ms + rules.delete_retention_ms;
    attributes = static_cast<int16_t>(attributes | batch_attr::delete_horizon);
  }
  if (kept_tombstone) out.pending_horizon_ms = base_ts;
  int64_t max_ts = h.max_timestamp;
  if (!h.is_log_append_time()) {
    max_ts = kept.front().timestamp;
    for (const auto& k : kept) max_ts = std::max(max_ts, k.timestamp);
  }
  out.fate = FilteredBatch::Fate::rewrite;
  out.bytes = encode_batch(h, attributes, base_ts, max_ts, kept);
  return out;
}

}  // namespace ferry::storage
