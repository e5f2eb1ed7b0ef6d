// The log cleaner for cleanup.policy=compact (Kafka's LogCleaner / Cleaner, simplified: one
// partition per call, no dedupe-buffer limit, no segment grouping) and its crash-safe swap.
#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/storage/file_io.h"
#include "common/clock.h"
#include "common/durable_file.h"
#include "broker/storage/log.h"
#include "broker/storage/segment.h"

namespace ferry::storage {

namespace {

constexpr const char* kCleaned = ".cleaned";
constexpr const char* kSwap = ".swap";
constexpr const char* kExts[] = {".index", ".timeindex", ".log"};  // .log last: its .swap commits the swap
constexpr size_t kWriteChunk = size_t{1} << 20;

// Kafka's LogSegment.largestTimestamp: the newest record's timestamp, else the file's mtime.
int64_t newest_ms(const Segment& s) { return s.max_timestamp() >= 0 ? s.max_timestamp() : s.last_modified_ms(); }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), std::string::npos, suffix) == 0;
}

void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) throw std::system_error(ec, "rename " + from.string() + " to " + to.string());
}

std::filesystem::path seg_path(const std::filesystem::path& dir, int64_t base, const char* ext, const char* suffix) {
  return dir / (Segment::file_name(base, ext) + suffix);
}

void remove_cleaned(const std::filesystem::path& dir, int64_t base) {
  for (const char* ext : kExts) {
    std::error_code ec;
    std::filesystem::remove(seg_path(dir, base, ext, kCleaned), ec);
  }
}

// Streams a segment's surviving batches into <base>.*.cleaned, in chunks so that a whole
// segment is never held in memory.
class CleanedWriter {
 public:
  CleanedWriter(const std::filesystem::path& dir, int64_t base, const IndexPolicy& policy)
      : out_(Segment::create(dir, base, 0, kCleaned)), policy_(policy) {}

  void add(const uint8_t* p, size_t n, const BatchHeader& h) {
    buf_.insert(buf_.end(), p, p + n);
    headers_.push_back(h);
    if (buf_.size() >= kWriteChunk) flush();
  }
  int64_t size() const { return out_->size() + static_cast<int64_t>(buf_.size()); }
  void finish() {
    flush();
    out_->seal();
    out_->sync(true);
  }

 private:
  void flush() {
    if (buf_.empty()) return;
    out_->append(buf_.data(), buf_.size(), headers_, policy_);
    buf_.clear();
    headers_.clear();
  }

  std::shared_ptr<Segment> out_;
  IndexPolicy policy_;
  std::vector<uint8_t> buf_;
  std::vector<BatchHeader> headers_;
};

}  // namespace

void Log::finish_swaps(const std::function<void(std::string)>& note) {
  std::set<std::string> committed;  // stems "<20 digits>" with a .log.swap
  std::vector<std::filesystem::path> index_swaps;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    if (ends_with(name, std::string(".log") + kSwap)) {
      committed.insert(name.substr(0, name.size() - 4 - std::string_view(kSwap).size()));
    } else if (ends_with(name, kSwap)) {
      index_swaps.push_back(entry.path());
    }
  }
  for (const auto& p : index_swaps) {
    std::string name = p.filename().string();
    std::string stem = name.substr(0, name.find('.'));
    if (committed.count(stem)) continue;
    // The cleaner had not finished renaming: the originals are intact and this copy is incomplete.
    std::filesystem::remove(p);
    dir_dirty_ = true;
    note(fmt::format("removed {}: an interrupted cleaning left it", name));
  }
  for (const auto& stem : committed) {
    for (const char* ext : kExts) {
      auto from = dir_ / (stem + ext + kSwap);
      if (std::filesystem::exists(from)) rename_or_throw(from, dir_ / (stem + ext));
    }
    dir_dirty_ = true;
    note(fmt::format("completed the interrupted swap of cleaned segment {}.log", stem));
  }
}

Log::DirtyRange Log::dirty_range(int64_t now_ms) const {
  DirtyRange r{cleaner_checkpoint(), segments_.back()->base_offset(), 0, 0};
  const size_t n = segments_.size();
  if (cfg_.min_compaction_lag_ms > 0) {
    for (size_t i = 0; i + 1 < n; ++i) {
      const Segment& s = *segments_[i];
      if (s.next_offset() <= r.first_dirty) continue;
      if (now_ms - newest_ms(s) < cfg_.min_compaction_lag_ms) {
        r.end = std::max(s.base_offset(), r.first_dirty);
        break;
      }
    }
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    const Segment& s = *segments_[i];
    if (s.next_offset() > r.end) break;
    (s.next_offset() <= r.first_dirty ? r.total_bytes : r.dirty_bytes) += s.size();
  }
  r.total_bytes += r.dirty_bytes;
  return r;
}

bool Log::clean_due() const { return clean_due(wall_clock_ms()); }

bool Log::clean_due(int64_t now_ms) const {
  std::shared_lock lk(mu_);
  if (closed_ || failed_ || !cfg_.compact) return false;
  if (next_delete_horizon_ms_.load() <= now_ms) return true;
  DirtyRange r = dirty_range(now_ms);
  return r.total_bytes > 0 && static_cast<double>(r.dirty_bytes) / static_cast<double>(r.total_bytes) > cfg_.min_cleanable_dirty_ratio;
}

std::shared_ptr<Segment> Log::swap_in_cleaned(const std::shared_ptr<Segment>& old) {
  auto it = std::find(segments_.begin(), segments_.end(), old);
  if (closed_ || it == segments_.end() || it + 1 == segments_.end()) return nullptr;
  const int64_t base = old->base_offset();
  for (const char* ext : kExts) rename_or_throw(seg_path(dir_, base, ext, kCleaned), seg_path(dir_, base, ext, kSwap));
  ferry::fsync_dir(dir_);
  for (const char* ext : kExts) rename_or_throw(seg_path(dir_, base, ext, kSwap), seg_path(dir_, base, ext, ""));
  ferry::fsync_dir(dir_);
  // Readers that copied the old Segment (flush, this pass's snapshot) keep its descriptor, which
  // still reaches the replaced file; its files are never unlinked or reopened by name, since the
  // names now belong to the copy.
  old->forget_names();
  auto fresh = Segment::open(dir_, base);
  Segment::LoadResult r = fresh->load(false, IndexPolicy{cfg_.index_interval_bytes, cfg_.segment_index_bytes});
  if (!r.corruption.empty() || !r.index_rebuilt.empty()) {
    spdlog::error("storage: {}: cleaned segment {} did not load cleanly: {}{}", dir_.string(), base, r.corruption, r.index_rebuilt);
  }
  // After load(), which may still cut the file through the read-write descriptor; the sync below
  // lets it go when the load left anything to sync.
  fresh->mark_inactive();
  if (fresh->dirty()) fresh->sync();
  fresh->clear_dirty();
  *it = fresh;
  return fresh;
}

CleanResult Log::clean(int64_t now_ms) {
  CleanResult res;
  std::lock_guard cl(clean_mu_);
  struct Snap {
    std::shared_ptr<Segment> seg;
    int64_t size;
    // Opened under the lock: retention or a swap may take the segment's names while this pass
    // reads it outside the lock.
    std::shared_ptr<const LogFile> file;
  };
  std::vector<Snap> snap;
  DirtyRange range;
  LogConfig cfg;
  {
    std::shared_lock lk(mu_);
    if (closed_ || failed_ || !cfg_.compact) return res;
    cfg = cfg_;
    range = dirty_range(now_ms);
    try {
      for (const auto& s : segments_) snap.push_back({s, s->size(), s->file()});
    } catch (const std::system_error& e) {
      // Nothing was written: the pass is only postponed (e.g. out of descriptors).
      spdlog::warn("storage: {}: cleaner cannot open the log's segments, next pass retries: {}", dir_.string(), e.what());
      res.error = errc::storage_error;
      return res;
    }
  }
  res.first_dirty_offset = range.first_dirty;
  res.end_offset = range.end;
  const IndexPolicy policy{cfg.index_interval_bytes, cfg.segment_index_bytes};
  int64_t current_base = -1;
  try {
    // Each producer's last batch in the log survives as an empty batch, like Kafka's cleaner, so
    // idempotent producer state rebuilt from the log still knows its last sequence.
    std::unordered_map<int64_t, int64_t> producer_last;  // producer id -> base offset of its last batch
    for (const auto& s : snap) {
      BatchReader rd = s.seg->reader(0, s.size);
      while (rd.next(false) == BatchReader::Status::batch) {
        if (rd.header().producer_id >= 0) producer_last[rd.header().producer_id] = rd.header().base_offset;
      }
    }

    OffsetMap map;
    for (size_t i = 0; i + 1 < snap.size(); ++i) {
      const Segment& s = *snap[i].seg;
      if (s.next_offset() <= range.first_dirty) continue;
      if (s.next_offset() > range.end) break;
      BatchReader rd = s.reader(s.base_offset() < range.first_dirty ? s.start_position(range.first_dirty) : 0);
      while (rd.next(true) == BatchReader::Status::batch) {
        std::string err = add_to_offset_map(rd.bytes(), rd.header().size_in_bytes(), rd.header(), range.first_dirty, map);
        if (!err.empty()) {
          spdlog::warn("storage: {}: cleaner cannot read the records of the batch at offset {}: {}; its keys are not deduplicated",
                       dir_.string(), rd.header().base_offset, err);
        }
      }
    }
    res.keys = static_cast<int64_t>(map.size());

    const CleanRules rules{&map, now_ms, cfg.delete_retention_ms};
    int64_t horizon = INT64_MAX;
    for (size_t i = 0; i + 1 < snap.size(); ++i) {
      const auto& old = snap[i].seg;
      if (old->next_offset() > range.end) break;
      current_base = old->base_offset();
      std::optional<CleanedWriter> w;
      int64_t unchanged_end = 0;  // position up to which nothing changed (not yet copied)
      int64_t removed = 0, tombstones = 0, seg_horizon = INT64_MAX;
      bool abandon = false;
      BatchReader rd = old->reader(0, snap[i].size);
      for (;;) {
        auto st = rd.next(true);
        if (st == BatchReader::Status::end) break;
        if (st != BatchReader::Status::batch) {
          spdlog::warn("storage: {}: cleaner skips segment {}: unreadable batch at position {}", dir_.string(), current_base,
                       rd.position());
          abandon = true;
          break;
        }
        const BatchHeader& h = rd.header();
        const bool last_of_segment = h.last_offset() == old->next_offset() - 1;
        auto pl = producer_last.find(h.producer_id);
        const bool last_of_producer = h.producer_id >= 0 && pl != producer_last.end() && pl->second == h.base_offset;
        std::string err;
        FilteredBatch f = filter_batch(rd.bytes(), h.size_in_bytes(), h, rules, last_of_segment || last_of_producer, &err);
        if (!err.empty()) {
          spdlog::warn("storage: {}: cleaner keeps the unreadable batch at offset {} as it is: {}", dir_.string(), h.base_offset, err);
        }
        if (f.pending_horizon_ms >= 0) seg_horizon = std::min(seg_horizon, f.pending_horizon_ms);
        if (f.fate == FilteredBatch::Fate::keep && !w) {
          unchanged_end = rd.position() + static_cast<int64_t>(h.size_in_bytes());
          continue;
        }
        if (!w) {
          remove_cleaned(dir_, current_base);
          w.emplace(dir_, current_base, policy);
          BatchReader copy = old->reader(0, unchanged_end);
          while (copy.next(true) == BatchReader::Status::batch) w->add(copy.bytes(), copy.header().size_in_bytes(), copy.header());
        }
        removed += f.records_removed;
        tombstones += f.tombstones_removed;
        if (f.fate == FilteredBatch::Fate::keep) {
          w->add(rd.bytes(), h.size_in_bytes(), h);
        } else if (f.fate == FilteredBatch::Fate::rewrite) {
          w->add(f.bytes.data(), f.bytes.size(), *parse_batch_header(f.bytes.data(), f.bytes.size()));
        }
        if (w->size() > INT32_MAX) {
          spdlog::warn("storage: {}: cleaner skips segment {}: uncompressed it would exceed 2 GiB", dir_.string(), current_base);
          abandon = true;
          break;
        }
      }
      if (abandon || !w) {
        w.reset();
        remove_cleaned(dir_, current_base);
        if (!abandon) horizon = std::min(horizon, seg_horizon);
        continue;
      }
      w->finish();
      w.reset();
      std::shared_ptr<Segment> fresh;
      {
        std::unique_lock lk(mu_);
        fresh = swap_in_cleaned(old);
      }
      if (!fresh) {
        // Retention or close() took the segment meanwhile; its cleaned copy is moot.
        remove_cleaned(dir_, current_base);
        continue;
      }
      horizon = std::min(horizon, seg_horizon);
      ++res.segments_rewritten;
      res.bytes_before += snap[i].size;
      res.bytes_after += fresh->size();
      res.records_removed += removed;
      res.tombstones_removed += tombstones;
    }
    next_delete_horizon_ms_.store(horizon);
    cleaner_checkpoint_.store(std::max(cleaner_checkpoint_.load(), range.end));
  } catch (const std::system_error& e) {
    go_offline(e.what());
    spdlog::error("storage: {}: cleaning segment {} failed, the log refuses further appends: {}", dir_.string(), current_base,
                  e.what());
    if (current_base >= 0) remove_cleaned(dir_, current_base);
    res.error = errc::storage_error;
    return res;
  }
  if (res.segments_rewritten > 0) {
    spdlog::info("storage: {}: cleaned offsets {}..{} ({} keys): {} segments rewritten, {} -> {} bytes, {} records removed",
                 dir_.string(), res.first_dirty_offset, res.end_offset, res.keys, res.segments_rewritten, res.bytes_before,
                 res.bytes_after, res.records_removed);
  }
  return res;
}

}  // namespace ferry::storage
