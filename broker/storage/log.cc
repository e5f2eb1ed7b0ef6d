#include "broker/storage/log.h"

#include <algorithm>
#include <chrono>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/storage/bytes.h"
#include "broker/storage/file_io.h"
#include "broker/storage/segment.h"
#include "common/clock.h"
#include "common/durable_file.h"

namespace ferry::storage {

namespace {

// Splits a blob into its batch headers, checking only what the write path depends on.
errc split_blob(const std::vector<uint8_t>& blob, std::vector<BatchHeader>& out, std::string* why) {
  size_t pos = 0;
  while (pos < blob.size()) {
    auto h = parse_batch_header(blob.data() + pos, blob.size() - pos);
    if (!h || h->batch_length < kMinBatchLength || h->size_in_bytes() > blob.size() - pos) {
      *why = fmt::format("batch at byte {} is not whole", pos);
      return errc::invalid_record;
    }
    if (h->magic != 2) {
      *why = fmt::format("batch at byte {} has magic {}", pos, h->magic);
      return errc::unsupported_for_message_format;
    }
    if (h->last_offset_delta < 0) {
      *why = fmt::format("batch at byte {} has lastOffsetDelta {}", pos, h->last_offset_delta);
      return errc::invalid_record;
    }
    out.push_back(*h);
    pos += h->size_in_bytes();
  }
  if (out.empty()) {
    *why = "no batches";
    return errc::invalid_record;
  }
  return errc::ok;
}

}  // namespace

Log::Log(const std::filesystem::path& dir, const LogConfig& cfg) : dir_(dir), cfg_(cfg) {}

std::pair<int32_t, int64_t> Log::end_offset_for_epoch(int32_t epoch) const {
  std::shared_lock lk(mu_);  // the log end and the history from one moment
  return epochs_->end_offset_for(epoch, log_end_offset());
}

std::vector<EpochEntry> Log::epoch_entries() const { return epochs_->entries(); }

void Log::assign_leader_epoch(int32_t epoch) {
  std::unique_lock lk(mu_);  // no append between reading the log end and recording it
  if (epochs_->latest_epoch() == epoch) return;
  epochs_->assign(epoch, log_end_offset(), /*persist=*/log_end_offset() > log_start_offset());
}

void Log::truncate_epochs_from_start(int64_t offset) {
  try {
    epochs_->truncate_from_start(offset);
  } catch (const std::system_error& e) {
    // Only the history's start is stale: lookups below the log start are refused anyway, and the
    // next open() cuts it again.
    spdlog::warn("storage: {}: could not move the leader epoch history's start to {}: {}", dir_.string(), offset,
                 e.what());
  }
}

Log::~Log() = default;

int64_t Log::segment_bytes_limit() const { return std::min<int64_t>(cfg_.segment_bytes, INT32_MAX); }

std::pair<errc, AppendResult> Log::append(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches,
                                          int32_t leader_epoch, int64_t now_ms) {
  return write(blob, batches, true, leader_epoch, now_ms);
}

std::pair<errc, AppendResult> Log::append_with_offsets(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches) {
  return write(blob, batches, false, 0, wall_clock_ms());
}

std::pair<errc, AppendResult> Log::write(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches, bool assign,
                                         int32_t leader_epoch, int64_t now_ms) {
  AppendResult res{-1, -1, -1, log_start_offset()};
  std::string why;
  auto reject = [&](errc e) {
    spdlog::debug("storage: {}: append rejected ({}): {}", dir_.string(), to_string(e), why);
    return std::pair{e, res};
  };

  // The blob is authoritative; `batches` must describe it, which guards against a caller passing
  // headers of a different request.
  std::vector<BatchHeader> hs;
  hs.reserve(batches.size());
  if (errc e = split_blob(blob, hs, &why); e != errc::ok) return reject(e);
  if (hs.size() != batches.size()) {
    why = fmt::format("blob holds {} batches, caller described {}", hs.size(), batches.size());
    return reject(errc::invalid_record);
  }
  for (size_t i = 0; i < hs.size(); ++i) {
    if (hs[i].size_in_bytes() != batches[i].size_in_bytes()) {
      why = fmt::format("batch {} is {} bytes, caller described {}", i, hs[i].size_in_bytes(), batches[i].size_in_bytes());
      return reject(errc::invalid_record);
    }
  }
  if (!assign) {
    size_t pos = 0;
    for (size_t i = 0; i < hs.size(); ++i) {
      if (compute_batch_crc(blob.data() + pos, hs[i].size_in_bytes()) != hs[i].crc) {
        why = fmt::format("batch {} fails its CRC", i);
        return reject(errc::corrupt_message);
      }
      if (i > 0 && hs[i].base_offset <= hs[i - 1].last_offset()) {
        why = fmt::format("batch {} starts at {}, not after {}", i, hs[i].base_offset, hs[i - 1].last_offset());
        return reject(errc::invalid_record);
      }
      pos += hs[i].size_in_bytes();
    }
  }

  std::unique_lock lk(mu_);
  if (closed_ || failed_) {
    why = closed_ ? "log is closed" : "log is offline after an I/O error";
    return reject(errc::storage_error);
  }
  res.log_start_offset = log_start_offset();
  for (size_t i = 0; i < hs.size(); ++i) {
    if (hs[i].size_in_bytes() > static_cast<size_t>(std::max(cfg_.max_message_bytes, 0))) {
      why = fmt::format("batch {} is {} bytes, max.message.bytes is {}", i, hs[i].size_in_bytes(), cfg_.max_message_bytes);
      return reject(errc::message_too_large);
    }
  }
  if (static_cast<int64_t>(blob.size()) > segment_bytes_limit()) {
    why = fmt::format("{} bytes exceed segment.bytes {}", blob.size(), segment_bytes_limit());
    return reject(errc::record_list_too_large);
  }

  const int64_t leo = log_end_offset();
  if (assign) {
    int64_t next = leo;
    size_t pos = 0;
    for (auto& h : hs) {
      uint8_t* b = blob.data() + pos;
      bytes::store_be64(b + batch_field::base_offset, static_cast<uint64_t>(next));
      bytes::store_be32(b + batch_field::partition_leader_epoch, static_cast<uint32_t>(leader_epoch));
      if (cfg_.log_append_time) {
        // Kafka's LogValidator: LogAppendTime stamps maxTimestamp and the type bit, which the CRC covers.
        bytes::store_be16(b + batch_field::attributes, static_cast<uint16_t>(h.attributes | batch_attr::log_append_time));
        bytes::store_be64(b + batch_field::max_timestamp, static_cast<uint64_t>(now_ms));
        rewrite_batch_crc(b, h.size_in_bytes());
      }
      h = *parse_batch_header(b, h.size_in_bytes());
      next = h.last_offset() + 1;
      pos += h.size_in_bytes();
    }
  } else if (hs.front().base_offset != leo) {
    why = fmt::format("first batch starts at {}, log end is {}", hs.front().base_offset, leo);
    return reject(errc::offset_out_of_range);
  }
  const int64_t first = hs.front().base_offset;
  const int64_t last = hs.back().last_offset();
  if (last - first > INT32_MAX) {
    why = fmt::format("offsets {}..{} cannot share one segment", first, last);
    return reject(errc::invalid_record);
  }

  // The epoch history first (LeaderEpochFileCache.assign in Kafka's UnifiedLog.append): should
  // the process die before the batch is durable, open() cuts the history back to the log end.
  try {
    for (const auto& h : hs) epochs_->assign(h.partition_leader_epoch, h.base_offset);
  } catch (const std::system_error& e) {
    go_offline(e.what());
    spdlog::error("storage: {}: writing the leader epoch checkpoint failed, the log refuses further appends: {}",
                  dir_.string(), e.what());
    why = e.what();
    return reject(errc::storage_error);
  }

  Segment* active = segments_.back().get();
  const bool roll = !active->empty() &&
                    (active->size() + static_cast<int64_t>(blob.size()) > segment_bytes_limit() ||
                     now_ms - active->roll_start_ms() > cfg_.segment_ms ||
                     active->index_full(cfg_.segment_index_bytes) || last - active->base_offset() > INT32_MAX);
  int64_t old_size = active->size();
  try {
    if (roll) {
      roll_locked(first, now_ms);
      active = segments_.back().get();
      old_size = 0;
    }
    active->append(blob.data(), blob.size(), hs, IndexPolicy{cfg_.index_interval_bytes, cfg_.segment_index_bytes});
    // segment.ms counts from the first append into a segment, not from its creation.
    if (old_size == 0) active->set_roll_start_ms(now_ms);
  } catch (const std::system_error& e) {
    go_offline(e.what());
    spdlog::error("storage: {}: append failed, the log refuses further appends: {}", dir_.string(), e.what());
    active->truncate_log(old_size);
    try {
      epochs_->truncate_from_end(leo);
    } catch (const std::system_error&) {
      // The next open() cuts the history back to the recovered log end.
    }
    why = e.what();
    return reject(errc::storage_error);
  }
  log_end_offset_.store(last + 1, std::memory_order_release);

  for (const auto& h : hs) unflushed_messages_ += h.record_count;
  if (first_unflushed_ms_ < 0) first_unflushed_ms_ = now_ms;
  const bool flush_now = roll || unflushed_messages_ >= cfg_.flush_messages || now_ms - first_unflushed_ms_ >= cfg_.flush_ms;
  res.base_offset = first;
  res.last_offset = last;
  res.log_append_time_ms = assign && cfg_.log_append_time ? now_ms : -1;
  lk.unlock();

  if (flush_now) {
    try {
      flush();
    } catch (const std::system_error& e) {
      return {errc::storage_error, res};
    }
  }
  return {errc::ok, res};
}

void Log::roll_locked(int64_t base_offset, int64_t now_ms) {
  segments_.back()->seal();
  segments_.push_back(Segment::create(dir_, base_offset, now_ms));
  dir_dirty_ = true;
}

size_t Log::find_segment(int64_t offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](int64_t o, const std::shared_ptr<Segment>& s) { return o < s->base_offset(); });
  size_t i = it == segments_.begin() ? 0 : static_cast<size_t>(it - segments_.begin()) - 1;
  while (i < segments_.size() && segments_[i]->next_offset() <= offset) ++i;
  return i;
}

std::pair<errc, FetchRanges> Log::read_ranges(int64_t offset, int32_t max_bytes, int64_t max_offset,
                                              bool min_one_batch) const {
  std::shared_lock lk(mu_);
  FetchRanges out{{}, 0, log_start_offset(), log_end_offset()};
  if (closed_) return {errc::storage_error, std::move(out)};
  if (offset < out.log_start_offset || offset > out.log_end_offset) return {errc::offset_out_of_range, std::move(out)};
  if (offset == out.log_end_offset || offset >= max_offset || (max_bytes <= 0 && !min_one_batch)) {
    return {errc::ok, std::move(out)};
  }
  try {
    bool stop = false;
    for (size_t i = find_segment(offset); i < segments_.size() && !stop; ++i) {
      const Segment& seg = *segments_[i];
      auto file = seg.file();
      BatchReader rd(file, seg.base_offset() <= offset ? seg.start_position(offset) : 0, seg.size());
      int64_t range_start = -1, range_end = -1;
      for (;;) {
        auto st = rd.next(false);
        if (st == BatchReader::Status::end) break;
        if (st != BatchReader::Status::batch) {
          throw std::system_error(EIO, std::generic_category(),
                                  fmt::format("unreadable batch at position {} of segment {}", rd.position(), seg.base_offset()));
        }
        const BatchHeader& h = rd.header();
        if (h.last_offset() < offset) continue;
        if (h.base_offset >= max_offset) {
          stop = true;
          break;
        }
        auto size = static_cast<int64_t>(h.size_in_bytes());
        if (out.bytes + size > max_bytes && !(min_one_batch && out.bytes == 0)) {
          stop = true;
          break;
        }
        if (range_start < 0) range_start = rd.position();
        range_end = rd.position() + size;
        out.bytes += size;
      }
      if (range_start >= 0) out.ranges.push_back({std::move(file), range_start, range_end - range_start});
    }
  } catch (const std::system_error& e) {
    spdlog::error("storage: {}: read at offset {} failed: {}", dir_.string(), offset, e.what());
    out.ranges.clear();
    out.bytes = 0;
    return {errc::storage_error, std::move(out)};
  }
  return {errc::ok, std::move(out)};
}

std::pair<errc, FetchData> Log::read(int64_t offset, int32_t max_bytes, int64_t max_offset, bool min_one_batch) const {
  // The ranges are read outside the lock. A truncation cuts the active segment in place and
  // appends may then write other batches at the same positions, so the read starts over when
  // one ran meanwhile (it bumps truncations_ under the exclusive lock before touching a file).
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    const uint64_t generation = truncations_.load();
    auto [err, found] = read_ranges(offset, max_bytes, max_offset, min_one_batch);
    FetchData out{{}, found.log_start_offset, found.log_end_offset};
    if (err != errc::ok) return {err, std::move(out)};
    std::string failure;
    try {
      out.records.resize(static_cast<size_t>(found.bytes));
      size_t at = 0;
      for (const auto& r : found.ranges) {
        const auto n = static_cast<size_t>(r.size);
        if (file_io::pread_full(r.file->fd, out.records.data() + at, n, r.position, r.file->path) != n)
          throw std::system_error(EIO, std::generic_category(), "short read of " + r.file->path.string());
        at += n;
      }
    } catch (const std::system_error& e) {
      failure = e.what();
    }
    if (truncations_.load() != generation) {
      if (attempt < kAttempts) continue;
      failure = "the log was truncated during every attempt";
    }
    if (!failure.empty()) {
      spdlog::error("storage: {}: read at offset {} failed: {}", dir_.string(), offset, failure);
      out.records.clear();
      return {errc::storage_error, std::move(out)};
    }
    return {errc::ok, std::move(out)};
  }
}

int64_t Log::size_bytes() const {
  std::shared_lock lk(mu_);
  int64_t total = 0;
  for (const auto& s : segments_) total += s->size();
  return total;
}

int64_t Log::flush() { return flush_impl(/*all_indexes=*/false); }

int64_t Log::flush_impl(bool all_indexes) {
  std::lock_guard fl(flush_mu_);
  std::vector<std::shared_ptr<Segment>> dirty;
  std::shared_ptr<Segment> active;
  int64_t target;
  bool dir;
  {
    // Exclusive only for the snapshot: the fsyncs below run while appends and reads continue.
    std::unique_lock lk(mu_);
    if (closed_) return recovery_point();
    target = log_end_offset();
    active = segments_.back();
    for (const auto& s : segments_) {
      // A sealed segment still keeping its descriptor gets one last sync through it (with its
      // indexes), which lets the descriptor go, even when this flush found nothing else unsynced.
      if (s->dirty() || (s != active && s->keeps_descriptor())) {
        dirty.push_back(s);
        s->clear_dirty();
      }
    }
    dir = dir_dirty_;
    dir_dirty_ = false;
    unflushed_messages_ = 0;
    first_unflushed_ms_ = -1;
  }
  try {
    // The active segment's indexes are synced when it is sealed (roll, close), not on every
    // group commit: only the .log data is what an acknowledgement promises.
    for (const auto& s : dirty) s->sync(all_indexes || s != active);
    if (dir) ferry::fsync_dir(dir_);
  } catch (const std::system_error& e) {
    go_offline(e.what());
    spdlog::error("storage: {}: flush failed, the log refuses further appends: {}", dir_.string(), e.what());
    throw;
  }
  int64_t rp = recovery_point();
  if (target > rp) recovery_point_.store(target, std::memory_order_release);
  return std::max(rp, target);
}

bool Log::flush_due(int64_t now_ms) const {
  std::shared_lock lk(mu_);
  return !closed_ && first_unflushed_ms_ >= 0 && now_ms - first_unflushed_ms_ >= cfg_.flush_ms;
}

int Log::apply_retention(int64_t now_ms) {
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    std::unique_lock lk(mu_);
    if (closed_) return 0;
    const size_t n = segments_.size();
    size_t k = 0;  // segments_[0..k) will go; the active segment never does
    // cleanup.policy=compact alone keeps data by key, not by age or size (Kafka's deleteOldSegments).
    if (cfg_.delete_retention && cfg_.retention_ms >= 0) {
      while (k + 1 < n) {
        const Segment& s = *segments_[k];
        int64_t newest = s.max_timestamp() >= 0 ? s.max_timestamp() : s.last_modified_ms();
        if (now_ms - newest <= cfg_.retention_ms) break;
        ++k;
      }
    }
    if (cfg_.delete_retention && cfg_.retention_bytes >= 0) {
      int64_t excess = -cfg_.retention_bytes;
      for (size_t i = k; i < n; ++i) excess += segments_[i]->size();
      while (k + 1 < n && excess - segments_[k]->size() >= 0) {
        excess -= segments_[k]->size();
        ++k;
      }
    }
    const int64_t lso = log_start_offset();
    while (k + 1 < n && segments_[k + 1]->base_offset() <= lso) ++k;
    if (k == 0) return 0;
    doomed.assign(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(k));
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(k));
    const int64_t new_start = segments_.front()->base_offset();
    if (new_start > lso) log_start_offset_.store(new_start, std::memory_order_release);
    if (new_start > recovery_point()) recovery_point_.store(new_start, std::memory_order_release);
    if (new_start > lso) truncate_epochs_from_start(new_start);
  }
  for (const auto& s : doomed) {
    spdlog::info("storage: {}: retention deleted segment {} (offsets {}..{}, {} bytes)", dir_.string(),
                 Segment::file_name(s->base_offset(), ".log"), s->base_offset(), s->next_offset() - 1, s->size());
    s->remove_files();
  }
  return static_cast<int>(doomed.size());
}

std::pair<errc, int64_t> Log::delete_records_before(int64_t offset) {
  std::unique_lock lk(mu_);
  const int64_t lso = log_start_offset();
  if (closed_) return {errc::storage_error, lso};
  if (offset < 0 || offset > log_end_offset()) return {errc::offset_out_of_range, lso};
  if (offset <= lso) return {errc::ok, lso};
  log_start_offset_.store(offset, std::memory_order_release);
  truncate_epochs_from_start(offset);
  return {errc::ok, offset};
}

void Log::roll_if_due(int64_t now_ms) {
  {
    std::unique_lock lk(mu_);
    if (closed_ || failed_) return;
    const Segment& active = *segments_.back();
    if (active.empty() || now_ms - active.roll_start_ms() <= cfg_.segment_ms) return;
    try {
      roll_locked(log_end_offset(), now_ms);
    } catch (const std::system_error& e) {
      go_offline(e.what());
      spdlog::error("storage: {}: segment roll failed, the log refuses further appends: {}", dir_.string(), e.what());
      return;
    }
  }
  try {
    flush();
  } catch (const std::system_error&) {
    // flush() logged it and took the log offline.
  }
}

void Log::update_config(const LogConfig& cfg) {
  std::unique_lock lk(mu_);
  cfg_ = cfg;
}

void Log::close() {
  bool flush_first;
  {
    std::unique_lock lk(mu_);
    if (closed_) return;
    flush_first = !failed_;
    if (flush_first) {
      try {
        segments_.back()->seal();
      } catch (const std::system_error& e) {
        go_offline(e.what());
        flush_first = false;
        spdlog::error("storage: {}: cannot seal the active segment on close: {}", dir_.string(), e.what());
      }
    }
  }
  auto release = [this] {
    std::unique_lock lk(mu_);
    closed_ = true;
    segments_.clear();
  };
  try {
    if (flush_first) flush_impl(/*all_indexes=*/true);
  } catch (...) {
    release();
    throw;
  }
  release();
}

void Log::go_offline(const std::string& why) {
  if (failed_.exchange(true, std::memory_order_acq_rel) || removing_ || !offline_listener_) return;
  try {
    offline_listener_(why);
  } catch (const std::exception& e) {
    spdlog::error("storage: {}: the offline listener failed: {}", dir_.string(), e.what());
  }
}

void Log::remove() {
  removing_ = true;
  try {
    close();
  } catch (const std::exception& e) {
    spdlog::warn("storage: {}: close before delete failed: {}", dir_.string(), e.what());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) spdlog::error("storage: cannot delete {}: {}", dir_.string(), ec.message());
}

}  // namespace ferry::storage
