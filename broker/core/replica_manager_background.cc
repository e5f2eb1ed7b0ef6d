// ReplicaManager's background work: the checkpoint files, the log cleaner and retention passes,
// the group-commit flusher and the background loop that schedules them. Split from
// replica_manager.cc (partitions, topics, configs, roles).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <latch>

#include "broker/core/replica_manager.h"
#include "broker/core/replica_manager_internal.h"
#include "common/clock.h"

namespace ferry::broker {
using internal::kCleanerOffsetFile;
using internal::kLogStartOffsetFile;
using internal::kRecoveryPointFile;

void ReplicaManager::write_checkpoint(const char* file_name,
                                      const std::function<std::optional<int64_t>(Partition&)>& offset_of) {
  // Kafka keeps one checkpoint file of each kind per log dir, listing the partitions in that dir;
  // a dir with no partitions gets an empty file so a stale one cannot resurrect old offsets.
  std::map<std::string, std::map<storage::TopicPartition, int64_t>> per_dir;
  for (const auto& d : config_.log_dirs) per_dir[d];
  {
    std::shared_lock lk(mu_);
    for (auto& [k, p] : partitions_)
      if (auto off = offset_of(*p)) per_dir[p->log_dir().string()][{k.first, k.second}] = *off;
  }
  for (auto& [dir, offsets] : per_dir) {
    try {
      storage::write_offset_checkpoint(std::filesystem::path(dir) / file_name, offsets);
    } catch (const std::exception& e) {
      spdlog::error("writing {} in {} failed: {}", file_name, dir, e.what());
    }
  }
}

void ReplicaManager::checkpoint_recovery_points() {
  std::vector<std::shared_ptr<Partition>> all;
  {
    std::shared_lock lk(mu_);
    for (auto& [k, p] : partitions_) all.push_back(p);
  }
  // Producer state snapshots bound how much of the log a restart replays to rebuild it. Each is
  // an fsynced file and directory: written on the recovery threads, as at startup and shutdown.
  internal::run_on_threads(all.size(), recovery_threads(), [&all](size_t i) {
    try {
      all[i]->snapshot_producer_state();
    } catch (const std::exception& e) {
      spdlog::warn("producer state snapshot of {}-{} failed: {}", all[i]->topic(), all[i]->index(), e.what());
    }
  });
  write_checkpoint(kRecoveryPointFile, [](Partition& p) { return std::optional(p.log().recovery_point()); });
}

void ReplicaManager::clean_compacted(const std::vector<std::shared_ptr<Partition>>& partitions, int64_t now) {
  bool cleaned_any = false;
  for (auto& p : partitions) {
    if (!p->compacted() || !p->log().clean_due(now)) continue;
    try {
      auto r = p->log().clean(now);
      if (r.error != storage::errc::ok) {
        spdlog::error("cleaning {}-{} failed: {}", p->topic(), p->index(), storage::to_string(r.error));
        continue;
      }
      cleaned_any = true;
      spdlog::info("cleaned {}-{} up to offset {}: {} segment(s) rewritten, {} -> {} bytes, {} record(s) and {} "
                   "tombstone(s) removed",
                   p->topic(), p->index(), r.end_offset, r.segments_rewritten, r.bytes_before, r.bytes_after,
                   r.records_removed, r.tombstones_removed);
    } catch (const std::exception& e) {
      spdlog::error("cleaning {}-{} failed: {}", p->topic(), p->index(), e.what());
    }
  }
  if (!cleaned_any) return;
  write_checkpoint(kCleanerOffsetFile, [](Partition& p) {
    return p.compacted() ? std::optional(p.log().cleaner_checkpoint()) : std::nullopt;
  });
}

void ReplicaManager::checkpoint_log_start_offsets() {
  write_checkpoint(kLogStartOffsetFile, [](Partition& p) { return std::optional(p.log().log_start_offset()); });
}

int64_t ReplicaManager::next_producer_id() {
  constexpr int64_t kBlock = 1000;
  std::lock_guard lk(producer_id_mu_);
  if (producer_id_next_ >= producer_id_end_) {
    producer_id_next_ = store_.reserve_producer_ids(kBlock);
    producer_id_end_ = producer_id_next_ + kBlock;
  }
  return producer_id_next_++;
}

void ReplicaManager::request_flush(const std::shared_ptr<Partition>& p) {
  {
    std::lock_guard lk(bg_mu_);
    flush_queue_.push_back(p);
  }
  bg_cv_.notify_all();
}

void ReplicaManager::wake_all_waiters() {
  std::shared_lock lk(mu_);
  for (auto& [k, p] : partitions_) {
    p->data_waiters().wake_all();
    p->durable_waiters().wake_all();
  }
}

int64_t ReplicaManager::timed_flush(Partition& p) {
  // Observed after the flush, failed or not.
  struct Observe {
    metrics::Histogram& h;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~Observe() { h.observe(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()); }
  } observe{flush_ms_};
  return p.flush();
}

void ReplicaManager::flush_logged(Partition& p) {
  try {
    timed_flush(p);
  } catch (const std::exception& e) {
    spdlog::error("fsync of {}-{} failed: {}", p.topic(), p.index(), e.what());
  }
}

void ReplicaManager::flusher_loop() {
  // Group commit: every fsync covers all appends that arrived while the previous one ran. The
  // partitions of one commit are fsynced side by side, and the next commit starts when all are
  // done, so a produce waits for at most the commit in progress and its own.
  std::unique_lock lk(bg_mu_);
  while (true) {
    bg_cv_.wait(lk, [&] { return stopping_ || !flush_queue_.empty(); });
    if (flush_queue_.empty() && stopping_) return;
    auto batch = std::move(flush_queue_);
    flush_queue_.clear();
    lk.unlock();
    std::vector<Partition*> distinct;
    for (auto& p : batch) distinct.push_back(p.get());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() == 1) {
      flush_logged(*distinct.front());
    } else {
      std::latch done(static_cast<std::ptrdiff_t>(distinct.size()));
      for (Partition* p : distinct)
        boost::asio::post(*flush_pool_, [this, p, &done] {
          flush_logged(*p);
          done.count_down();
        });
      done.wait();
    }
    lk.lock();
  }
}

void ReplicaManager::background_loop() {
  using namespace std::chrono;
  const int64_t retention_every = config_.values.get_int("log.retention.check.interval.ms");
  const int64_t checkpoint_every = config_.values.get_int("log.flush.offset.checkpoint.interval.ms");
  const int64_t clean_every = config_.values.get_int("log.cleaner.backoff.ms");
  int64_t next_clean = wall_clock_ms() + clean_every;
  int64_t next_retention = wall_clock_ms() + std::min<int64_t>(retention_every, 30000);
  int64_t next_checkpoint = wall_clock_ms() + checkpoint_every;
  std::unique_lock lk(bg_mu_);
  while (!stopping_) {
    bg_cv_.wait_for(lk, milliseconds(100), [&] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    std::vector<std::shared_ptr<Partition>> all;
    {
      std::shared_lock plk(mu_);
      for (auto& [k, p] : partitions_) all.push_back(p);
    }
    int64_t now = wall_clock_ms();
    bool retention_due = now >= next_retention;
    bool start_offsets_changed = false;
    for (auto& p : all) {
      try {
        if (p->log().flush_due(now)) timed_flush(*p);
        p->log().roll_if_due(now);
        if (retention_due) {
          int64_t before = p->log().log_start_offset();
          int deleted = p->log().apply_retention(now);
          if (deleted > 0)
            spdlog::info("retention deleted {} segment(s) of {}-{}; log start offset {} -> {}", deleted, p->topic(),
                         p->index(), before, p->log().log_start_offset());
          start_offsets_changed |= p->log().log_start_offset() != before;
        }
      } catch (const std::exception& e) {
        spdlog::error("background work on {}-{} failed: {}", p->topic(), p->index(), e.what());
      }
    }
    if (retention_due) next_retention = now + retention_every;
    if (now >= next_clean) {
      clean_compacted(all, now);
      next_clean = wall_clock_ms() + clean_every;
    }
    if (start_offsets_changed) checkpoint_log_start_offsets();
    if (now >= next_checkpoint) {
      const int64_t expiration = config_.values.get_int("producer.id.expiration.ms");
      for (auto& p : all) p->expire_producers(now, expiration);
      checkpoint_recovery_points();
      next_checkpoint = now + checkpoint_every;
    }
    lk.lock();
  }
}

}  // namespace ferry::broker
