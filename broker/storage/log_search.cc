// Timestamp lookups for ListOffsets: by timestamp (KIP-79) and MAX_TIMESTAMP (KIP-734).
#include <system_error>

#include <spdlog/spdlog.h>

#include "broker/storage/batch_records.h"
#include "broker/storage/log.h"
#include "broker/storage/segment.h"

namespace ferry::storage {

namespace {

// {offset, timestamp} of the first record of the batch at `pos` with offset >= min_offset whose
// timestamp satisfies `match`; nullopt when none does. LogAppendTime batches stamp every record
// with maxTimestamp. If the records cannot be parsed (a compressed batch that no longer
// decompresses) the batch base offset and maxTimestamp stand in, so a lookup still lands on the batch.
template <typename Match>
std::optional<std::pair<int64_t, int64_t>> find_record(const Segment& seg, int64_t pos, const BatchHeader& h,
                                                       int64_t min_offset, Match match) {
  if (h.is_log_append_time()) {
    if (!match(h.max_timestamp)) return std::nullopt;
    return std::pair{std::max(h.base_offset, min_offset), h.max_timestamp};
  }
  std::vector<uint8_t> batch;
  seg.read(pos, h.size_in_bytes(), batch);
  std::vector<uint8_t> scratch;
  std::optional<std::pair<int64_t, int64_t>> found;
  std::string err = for_each_record(batch.data(), batch.size(), h, false, scratch, [&](const RecordView& r) {
    int64_t offset = h.base_offset + r.offset_delta;
    int64_t ts = h.base_timestamp + r.timestamp_delta;
    if (offset >= min_offset && match(ts)) {
      found = std::pair{offset, ts};
      return false;
    }
    return true;
  });
  if (!err.empty()) {
    spdlog::warn("storage: cannot read the records of the batch at offset {}: {}; using the batch's maxTimestamp",
                 h.base_offset, err);
    return std::pair{std::max(h.base_offset, min_offset), h.max_timestamp};
  }
  return found;
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> Log::offset_for_timestamp(int64_t ts) const {
  std::shared_lock lk(mu_);
  if (closed_) return std::nullopt;
  const int64_t lso = log_start_offset();
  try {
    for (const auto& sp : segments_) {
      const Segment& seg = *sp;
      if (seg.empty() || seg.next_offset() <= lso || seg.max_timestamp() < ts) continue;
      BatchReader rd = seg.reader(seg.start_position_for_time(ts));
      while (rd.next(false) == BatchReader::Status::batch) {
        const BatchHeader& h = rd.header();
        // maxTimestamp bounds every record of the batch, so only batches reaching ts are opened.
        if (h.last_offset() < lso || h.max_timestamp < ts) continue;
        if (auto hit = find_record(seg, rd.position(), h, lso, [ts](int64_t t) { return t >= ts; })) return hit;
      }
    }
  } catch (const std::system_error& e) {
    spdlog::error("storage: {}: timestamp lookup failed: {}", dir_.string(), e.what());
  }
  return std::nullopt;
}

std::optional<std::pair<int64_t, int64_t>> Log::max_timestamp() const {
  std::shared_lock lk(mu_);
  if (closed_) return std::nullopt;
  const int64_t lso = log_start_offset();
  try {
    const Segment* best = nullptr;
    int64_t best_ts = INT64_MIN;
    for (const auto& sp : segments_) {
      const Segment& seg = *sp;
      if (seg.empty() || seg.next_offset() <= lso) continue;
      int64_t ts = seg.max_timestamp();
      if (seg.base_offset() < lso) {
        // The segment straddles the log start: only batches still visible count.
        ts = INT64_MIN;
        BatchReader rd = seg.reader(seg.start_position(lso));
        while (rd.next(false) == BatchReader::Status::batch) {
          if (rd.header().last_offset() >= lso) ts = std::max(ts, rd.header().max_timestamp);
        }
      }
      if (ts > best_ts) {
        best_ts = ts;
        best = &seg;
      }
    }
    if (!best) return std::nullopt;
    // The segment remembers the batch that first reached its max; start there, else from the top.
    int64_t hint = std::max(lso, best->base_offset() >= lso ? best->offset_of_max_timestamp() : lso);
    for (int64_t from : {hint, lso}) {
      BatchReader rd = best->reader(best->start_position(from));
      while (rd.next(false) == BatchReader::Status::batch) {
        const BatchHeader& h = rd.header();
        if (h.last_offset() < lso || h.max_timestamp != best_ts) continue;
        if (auto hit = find_record(*best, rd.position(), h, lso, [best_ts](int64_t t) { return t == best_ts; })) {
          return std::pair{hit->second, hit->first};
        }
      }
    }
    spdlog::warn("storage: {}: no record carries the segment's max timestamp {}", dir_.string(), best_ts);
  } catch (const std::system_error& e) {
    spdlog::error("storage: {}: max timestamp lookup failed: {}", dir_.string(), e.what());
  }
  return std::nullopt;
}

}  // namespace ferry::storage
