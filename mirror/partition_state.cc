#include "mirror/partition_state.h"

#include <fmt/format.h>

#include <algorithm>

namespace ferry::mirror {

PartitionState::PartitionState(std::string source, std::string remote, int32_t p, int64_t resync_every)
    : source_topic(std::move(source)),
      remote_topic(std::move(remote)),
      partition(p),
      mapping(OffsetMapping::kDefaultMaxRuns, resync_every) {}

void PartitionState::start_at(int64_t offset) {
  next_to_produce = offset;
  replicated_end = offset;
}

void PartitionState::restart_after_recreate(int64_t offset, int64_t resync_every) {
  mapping = OffsetMapping(OffsetMapping::kDefaultMaxRuns, resync_every);
  start_at(offset);
}

void PartitionState::produced(int64_t offset) {
  ++in_flight;
  next_to_produce = offset + 1;
}

void PartitionState::skipped_loop(int64_t offset) {
  next_to_produce = offset + 1;
  if (in_flight == 0) {
    replicated_end = offset + 1;
    mapping.advance(offset + 1);
  }
}

std::optional<std::string> PartitionState::landed(int64_t upstream, const std::string& target) {
  if (refused.empty() || upstream <= refused_at) {
    // At or before a refused record: a batch in flight that the target took in order.
    replicated_end = upstream + 1;
    return std::nullopt;
  }
  // A batch after the refused one landed: the target now lacks the refused record. Said once;
  // the partition stays stopped (resuming would copy around the hole).
  if (landed_after_refusal++ > 0) return std::nullopt;
  std::string what = fmt::format("{}-{}: records after the refused source offset {} reached {}; {} lacks it",
                                 remote_topic, partition, refused_at, target, remote_topic);
  refused += "; " + what;
  return what;
}

void PartitionState::settle() {
  if (in_flight != 0 || next_to_produce <= replicated_end || !refused.empty()) return;
  replicated_end = next_to_produce;
  mapping.advance(next_to_produce);
}

void PartitionState::refuse(int64_t offset, int64_t size, bool by_target, std::string why,
                            std::chrono::steady_clock::time_point now) {
  refused = std::move(why);
  refused_at = offset;
  refused_bytes = size;
  refused_by_target = by_target;
  landed_after_refusal = 0;
  refused_since = now;
  recheck_at = now + kRefusedRecheck;
  replicated_end = std::min<int64_t>(replicated_end, offset);
}

bool PartitionState::may_resume(const TargetLimits& fresh, std::chrono::steady_clock::time_point now) const {
  return landed_after_refusal == 0 && refused_bytes <= fresh.batch_limit() &&
         (!refused_by_target || !(fresh == limits) || now - refused_since >= kRefusedRetry);
}

int64_t PartitionState::resume_from_refusal(const TargetLimits& fresh, rd_kafka_s* p) {
  const int64_t from = refused_at;
  limits = fresh;
  producer = p;
  start_at(from);
  refused.clear();
  refused_at = -1;
  return from;
}

void PartitionState::observe_source_end(int64_t end, int64_t sent_ms, bool only_raise) {
  if (!only_raise || end > source_end) source_end = end;
  // The value now held is at least the log end offset as of sent_ms.
  if (sent_ms > source_end_ms) source_end_ms = sent_ms;
}

int64_t PartitionState::lag_records() const { return std::max<int64_t>(0, source_end - replicated_end); }

PartitionStatus PartitionState::status(bool with_in_flight) const {
  PartitionStatus s;
  s.topic = source_topic;
  s.partition = partition;
  s.remote_topic = remote_topic;
  s.next_offset = replicated_end;
  s.source_end_offset = source_end;
  s.lag_records = std::max<int64_t>(0, s.source_end_offset - s.next_offset);
  if (const int64_t ms = source_end_ms; ms > 0) s.source_end_offset_ms = ms;
  if (!refused.empty()) s.error = refused;
  if (with_in_flight) s.in_flight = in_flight;
  return s;
}

}  // namespace ferry::mirror
