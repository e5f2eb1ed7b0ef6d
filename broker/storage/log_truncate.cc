// Log::truncate_to and Log::truncate_fully_and_start_at: a follower dropping the tail where its
// log diverged from the leader's (KIP-101, KIP-279; Kafka's UnifiedLog.truncateTo /
// truncateFullyAndStartAt and LocalLog / LogSegment.truncateTo).
//
// Crash safety: segments go highest base offset first, each .log before its indexes, and the
// directory is fsynced before the segment below them is cut, so every intermediate state on disk
// is a prefix of the old log (open() also drops any later segment after a hole). The epoch
// history is cut after the log, so a crash leaves it ahead of the log, never behind, and open()
// cuts it back to the recovered log end, as after a crash during an append.
#include <algorithm>
#include <mutex>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/storage/log.h"
#include "broker/storage/segment.h"
#include "common/clock.h"
#include "common/durable_file.h"

namespace ferry::storage {

namespace {

// Unlinks a segment's files, .log first (open() removes index files that have no .log). Unlike
// Segment::remove_files a failure throws: a .log left behind would bring the truncated records
// back on the next open. Descriptors still held by readers stay valid.
void unlink_segment(const std::filesystem::path& dir, Segment& s) {
  s.forget_names();
  for (const char* ext : {".log", ".index", ".timeindex"}) {
    const auto p = dir / Segment::file_name(s.base_offset(), ext);
    std::error_code ec;
    std::filesystem::remove(p, ec);
    if (ec) throw std::system_error(ec, "remove " + p.string());
  }
}

}  // namespace

std::pair<errc, bool> Log::truncate_to(int64_t offset) { return truncate_impl(offset, /*fully=*/false); }

errc Log::truncate_fully_and_start_at(int64_t offset) { return truncate_impl(offset, /*fully=*/true).first; }

std::pair<errc, bool> Log::truncate_impl(int64_t offset, bool fully) {
  if (offset < 0) return {errc::offset_out_of_range, false};
  // A cleaning pass builds its key map from a snapshot of the segments and would otherwise
  // remove records superseded only by truncated ones; a flush would raise the recovery point to
  // the log end it saw before the cut.
  std::lock_guard cl(clean_mu_);
  std::lock_guard fl(flush_mu_);
  std::unique_lock lk(mu_);
  if (closed_ || failed_) return {errc::storage_error, false};
  if (!fully && offset >= log_end_offset()) return {errc::ok, false};
  try {
    if (fully || offset < log_start_offset() || offset <= segments_.front()->base_offset()) {
      truncate_fully_locked(offset);
    } else {
      cut_tail_locked(offset);
    }
  } catch (const std::system_error& e) {
    go_offline(e.what());
    // What was done stays done (the log is offline, reads go on): the log end follows the
    // segments still listed.
    const int64_t end = segments_.back()->next_offset();
    if (log_end_offset() > end) log_end_offset_.store(end, std::memory_order_release);
    if (recovery_point() > end) recovery_point_.store(end, std::memory_order_release);
    try {
      epochs_->truncate_from_end(log_end_offset());
    } catch (const std::system_error&) {
      // The next open() cuts the history back to the recovered log end.
    }
    spdlog::error("storage: {}: {} offset {} failed, the log refuses further appends: {}", dir_.string(),
                  fully ? "restarting the log at" : "truncation to", offset, e.what());
    return {errc::storage_error, false};
  }
  return {errc::ok, true};
}

void Log::cut_tail_locked(int64_t offset) {
  truncations_.fetch_add(1);
  const int64_t old_leo = log_end_offset();
  const int64_t lso = log_start_offset();
  int64_t dropped = 0;
  int deleted = 0;
  // Caller: log start <= offset, and the first segment starts below offset, so it stays.
  while (segments_.back()->base_offset() >= offset) {
    auto doomed = segments_.back();
    segments_.pop_back();
    log_end_offset_.store(segments_.back()->next_offset(), std::memory_order_release);
    dropped += doomed->size();
    ++deleted;
    unlink_segment(dir_, *doomed);
  }
  if (deleted > 0) ferry::fsync_dir(dir_);

  Segment& active = *segments_.back();
  dropped += active.truncate_to(offset, IndexPolicy{cfg_.index_interval_bytes, cfg_.segment_index_bytes});
  const int64_t new_leo = active.next_offset();
  if (new_leo < lso) {
    // The batch holding `offset` also holds the log start: nothing readable survives.
    spdlog::info("storage: {}: truncation to offset {} would end the log at {}, below its start {}; restarting it empty",
                 dir_.string(), offset, new_leo, lso);
    truncate_fully_locked(offset);
    return;
  }
  log_end_offset_.store(new_leo, std::memory_order_release);
  // Durable before returning: the cut .log (its size) and the indexes.
  active.sync(true);
  active.clear_dirty();
  epochs_->truncate_from_end(new_leo);
  if (recovery_point() > new_leo) recovery_point_.store(new_leo, std::memory_order_release);
  if (cleaner_checkpoint_.load() > new_leo) cleaner_checkpoint_.store(new_leo);
  spdlog::info("storage: {}: truncated to offset {}: log end {} -> {}, {} segments deleted, {} bytes dropped", dir_.string(),
               offset, old_leo, new_leo, deleted, dropped);
}

void Log::truncate_fully_locked(int64_t offset) {
  truncations_.fetch_add(1);
  const int64_t old_start = log_start_offset();
  const int64_t old_leo = log_end_offset();
  int64_t dropped = 0;
  const size_t deleted = segments_.size();
  // Highest first; the first segment stays listed until its replacement exists, so the log always
  // has an active segment, even after a failure.
  while (segments_.size() > 1) {
    auto doomed = segments_.back();
    segments_.pop_back();
    dropped += doomed->size();
    unlink_segment(dir_, *doomed);
  }
  dropped += segments_.front()->size();
  unlink_segment(dir_, *segments_.front());
  // The old names must be gone for good before a segment can be created under one of them.
  ferry::fsync_dir(dir_);
  segments_.front() = Segment::create(dir_, offset, wall_clock_ms());
  ferry::fsync_dir(dir_);
  // Lock-free readers must never see log start > log end.
  if (offset >= old_start) {
    log_end_offset_.store(offset, std::memory_order_release);
    log_start_offset_.store(offset, std::memory_order_release);
  } else {
    log_start_offset_.store(offset, std::memory_order_release);
    log_end_offset_.store(offset, std::memory_order_release);
  }
  recovery_point_.store(offset, std::memory_order_release);
  cleaner_checkpoint_.store(offset);
  epochs_->truncate_from_end(INT64_MIN);  // Kafka's clearAndFlush: no record, no epoch
  spdlog::info("storage: {}: restarted empty at offset {} (was {}..{}): {} segments deleted, {} bytes dropped", dir_.string(),
               offset, old_start, old_leo, deleted, dropped);
}

}  // namespace ferry::storage
