// Log::open: finding the segments in a directory and recovering them (Kafka's LogLoader).
#include <algorithm>
#include <chrono>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/storage/file_io.h"
#include "common/clock.h"
#include "common/durable_file.h"
#include "broker/storage/log.h"
#include "broker/storage/segment.h"

namespace ferry::storage {

namespace {

constexpr size_t kBaseDigits = 20;

// "<20 digits><ext>" -> base offset; nullopt for any other name.
std::optional<int64_t> parse_segment_name(const std::string& name, std::string_view ext) {
  if (name.size() != kBaseDigits + ext.size() || name.compare(kBaseDigits, std::string::npos, ext) != 0) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < kBaseDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    if (v > (INT64_MAX - (name[i] - '0')) / 10) return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

bool has_suffix(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), std::string::npos, suffix) == 0;
}

}  // namespace

std::unique_ptr<Log> Log::open(const std::filesystem::path& dir, const LogConfig& cfg, int64_t log_start_offset,
                               int64_t recovery_point, RecoveryReport* report, int64_t cleaner_checkpoint) {
  std::unique_ptr<Log> log(new Log(dir, cfg));
  log->load(log_start_offset, recovery_point, report);
  const int64_t lso = log->log_start_offset();
  const bool valid = cleaner_checkpoint >= lso && cleaner_checkpoint <= log->log_end_offset();
  log->cleaner_checkpoint_.store(valid ? cleaner_checkpoint : lso);
  return log;
}

void Log::load(int64_t log_start_offset, int64_t recovery_point, RecoveryReport* report) {
  RecoveryReport scratch;
  RecoveryReport& rep = report ? *report : scratch;
  auto note = [&](std::string line) {
    spdlog::warn("storage: {}: {}", dir_.string(), line);
    rep.actions.push_back(std::move(line));
  };
  auto remove_file = [&](const std::filesystem::path& p) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
    if (ec) throw std::system_error(ec, "remove " + p.string());
    dir_dirty_ = true;
  };

  std::filesystem::create_directories(dir_);
  finish_swaps(note);
  std::set<int64_t> logs;  // base offsets of the .log files
  std::vector<std::filesystem::path> indexes;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    // Leftovers of an interrupted delete or index rebuild (Kafka's .deleted / .cleaned suffixes).
    if (name.size() > kBaseDigits && (has_suffix(name, ".deleted") || has_suffix(name, ".cleaned"))) {
      remove_file(entry.path());
      continue;
    }
    if (auto base = parse_segment_name(name, ".log")) {
      logs.insert(*base);
    } else if (parse_segment_name(name, ".index") || parse_segment_name(name, ".timeindex")) {
      indexes.push_back(entry.path());
    }
  }
  for (const auto& p : indexes) {
    std::string name = p.filename().string();
    auto base = parse_segment_name(name, ".index");
    if (!base) base = parse_segment_name(name, ".timeindex");
    if (!logs.count(*base)) {
      note(fmt::format("removed {}: it has no .log", name));
      remove_file(p);
    }
  }

  const IndexPolicy policy{cfg_.index_interval_bytes, cfg_.segment_index_bytes};
  const std::vector<int64_t> bases(logs.begin(), logs.end());
  for (size_t i = 0; i < bases.size(); ++i) {
    auto seg = Segment::open(dir_, bases[i]);
    std::string seg_name = Segment::file_name(bases[i], ".log");
    // Everything before the recovery point was fsynced, so such segments only get their indexes
    // checked; a segment reaching past it is re-validated batch by batch.
    bool recover = bases[i] > recovery_point;
    Segment::LoadResult r = seg->load(recover, policy);
    if (!recover && r.corruption.empty() && seg->next_offset() > recovery_point) {
      Segment::LoadResult full = seg->load(true, policy);
      full.index_rebuilt = r.index_rebuilt;
      r = full;
    }
    if (!r.index_rebuilt.empty()) note(fmt::format("rebuilt index of segment {}: {}", seg_name, r.index_rebuilt));

    bool cut = !r.corruption.empty();
    if (cut) {
      note(fmt::format("truncated {} bytes at offset {} in segment {}: {}", r.truncated_bytes, r.truncated_at_offset, seg_name,
                       r.corruption));
      rep.truncated_bytes += r.truncated_bytes;
    }
    if (!segments_.empty() && seg->base_offset() != segments_.back()->next_offset()) {
      // This writer starts every segment at the previous one's end, so an overlap or a hole means
      // damage (a hole: the previous segment lost its tail); keep the older, contiguous data.
      note(fmt::format("deleted segment {} ({} bytes): it starts at offset {} but the previous segment ends before {}", seg_name,
                       seg->size(), seg->base_offset(), segments_.back()->next_offset()));
      rep.truncated_bytes += seg->size();
      seg->remove_files();
      dir_dirty_ = true;
      cut = true;
    } else {
      segments_.push_back(seg);
    }
    if (cut) {
      for (size_t j = i + 1; j < bases.size(); ++j) {
        std::string later = Segment::file_name(bases[j], ".log");
        std::error_code ec;
        auto bytes = static_cast<int64_t>(std::filesystem::file_size(dir_ / later, ec));
        note(fmt::format("deleted segment {} ({} bytes): it follows the damage in segment {}", later, ec ? 0 : bytes, seg_name));
        rep.truncated_bytes += ec ? 0 : bytes;
        for (const char* ext : {".log", ".index", ".timeindex"}) remove_file(dir_ / Segment::file_name(bases[j], ext));
      }
      break;
    }
  }

  const int64_t clock = wall_clock_ms();
  if (segments_.empty()) {
    segments_.push_back(Segment::create(dir_, std::max<int64_t>(log_start_offset, 0), clock));
    dir_dirty_ = true;
  }
  int64_t leo = segments_.back()->next_offset();
  int64_t lso = std::max(log_start_offset, segments_.front()->base_offset());
  if (lso > leo) {
    note(fmt::format("log start offset {} is beyond the recovered log end {}; the log restarts empty at {}", lso, leo, lso));
    for (const auto& s : segments_) s->remove_files();
    segments_.clear();
    segments_.push_back(Segment::create(dir_, lso, clock));
    dir_dirty_ = true;
    leo = lso;
  }
  if (recovery_point > leo) {
    note(fmt::format("recovery point {} is beyond the log end {}: flushed data is missing", recovery_point, leo));
  }
  log_start_offset_.store(lso);
  log_end_offset_.store(leo);

  // The leader epoch history, cut to what survived. Without the file the log holds one epoch
  // (the file is written as soon as a second one or a truncation needs it): its first batch's,
  // from the log start, kept in memory as it was before the restart.
  epochs_ = std::make_unique<LeaderEpochCache>(dir_);
  epochs_->truncate_from_end(leo);
  epochs_->truncate_from_start(lso);
  if (!epochs_->loaded_from_file() && leo > lso) {
    for (const auto& seg : segments_) {
      if (seg->empty()) continue;
      if (auto first = seg->header_at(0)) epochs_->assign(first->partition_leader_epoch, lso, /*persist=*/false);
      break;
    }
  }

  Segment& active = *segments_.back();
  if (!active.empty()) {
    // Kafka measures segment.ms from the first batch's timestamp when reopening a segment.
    auto first = active.header_at(0);
    int64_t ts = first ? first->max_timestamp : -1;
    active.set_roll_start_ms(ts >= 0 && ts <= clock ? ts : clock);
  }

  // Every segment below the active one is read-only from now on: its descriptor closes once it
  // is synced, and reads reopen it by name.
  for (size_t i = 0; i + 1 < segments_.size(); ++i) segments_[i]->mark_inactive();
  // Make the repairs durable before declaring everything below the log end flushed.
  for (const auto& s : segments_) {
    if (s->dirty()) {
      s->sync();
      s->clear_dirty();
    }
  }
  if (dir_dirty_) ferry::fsync_dir(dir_);
  dir_dirty_ = false;
  recovery_point_.store(leo);
}

}  // namespace ferry::storage
