// Taking over many partitions at once (on_assign, rebuild_mappings): the reads that rebuild each
// partition's translation and decide whether its copy began at the source's start, batched over
// all partitions. One partition at a time cost a fetch round each, about 25 ms on loopback: 10,000
// partitions kept the assignment callback busy past max.poll.interval.ms, the consumer lost the
// group every few minutes and the flow never copied a record (issue 16, item 4).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <stdexcept>

#include "mirror/flow.h"
#include "mirror/flow_internal.h"

namespace ferry::mirror {
namespace {

/// Records (not bytes) read from the target in one batched pass while anchoring mappings; the
/// flow's (upstream, downstream) pairs of a pass are held until their partitions are anchored, so
/// this bounds memory to about 2 x 16 bytes x this.
constexpr int64_t kTakeoverReadBudget = 2'000'000;

/// The records of the flow in the first this-many records of a target partition are searched for
/// its oldest one (derive_copied_from_start).
constexpr int64_t kOldestRecordWindow = 1000;

/// Thrown by the reader given to anchor_offset_mapping for a range not read yet: the takeover
/// collects these over many partitions, reads them in one pass and runs the anchoring again.
struct NeedRead {
  int64_t from, to;
};

struct CachedRange {
  int64_t from, to;
  std::vector<OffsetSync> pairs;  // the flow's (upstream, downstream) records in [from, to)
};

}  // namespace

void Flow::anchor_mappings(std::vector<Takeover>& parts, const SyncHistoryMap& history, bool truncated,
                           rd_kafka_t* probe, bool emit) {
  static const std::vector<OffsetSync> kNoHistory;
  std::vector<std::vector<CachedRange>> cache(parts.size());
  std::vector<int> runs(parts.size(), 0);
  std::deque<size_t> queue;
  for (size_t j = 0; j < parts.size(); ++j)
    if (parts[j].tail) queue.push_back(j);
  auto fail = [&](size_t j, const std::string& why) {
    PartitionState& st = *parts[j].st;
    note_error(fmt::format("cannot rebuild the translation of {}-{}: {}", st.source_topic, st.partition, why));
    st.mapping = OffsetMapping(OffsetMapping::kDefaultMaxRuns, flow_.resync_every());
    cache[j].clear();
  };
  while (!queue.empty()) {
    // Run the anchoring of queued partitions until their missing reads fill a pass.
    std::vector<std::pair<size_t, NeedRead>> needs;
    int64_t planned = 0;
    while (!queue.empty() && planned < kTakeoverReadBudget) {
      const size_t j = queue.front();
      queue.pop_front();
      PartitionState& st = *parts[j].st;
      const ReplicatedTail& tail = *parts[j].tail;
      // anchor_offset_mapping is deterministic in its inputs and reads at most twice (the history's
      // range, then a rebuild), so the third run of a partition finds everything cached.
      const bool last_run = ++runs[j] >= 3;
      auto read = [&, j, last_run](int64_t from, int64_t to, const std::function<void(int64_t, int64_t)>& each) {
        for (const auto& c : cache[j])
          if (c.from <= from && to <= c.to) {
            for (const auto& p : c.pairs)
              if (p.downstream_offset >= from && p.downstream_offset < to) each(p.upstream_offset, p.downstream_offset);
            return;
          }
        if (last_run)  // unreachable unless anchor_offset_mapping changes; caught below as a failure
          throw std::logic_error(fmt::format("target offsets [{}, {}) still unread after two passes", from, to));
        throw NeedRead{from, to};
      };
      const auto h = history.find({st.source_topic, st.partition});
      try {
        const auto outcome = anchor_offset_mapping(
            st.mapping, OffsetMapping::kDefaultMaxRuns, flow_.resync_every(), h == history.end() ? kNoHistory : h->second,
            truncated ? SyncHistory::kMayBeTruncated : SyncHistory::kComplete,
            OffsetSync{tail.upstream_offset, tail.downstream_offset}, tail.log_start_offset, kMaxRebuildRecords, read);
        cache[j].clear();
        cache[j].shrink_to_fit();
        if (outcome.source == AnchorOutcome::Source::kTarget) {
          const auto first = st.mapping.first_known_upstream();
          spdlog::warn("flow {}: {} of {}-{}; translation rebuilt from the {} record(s) of the flow read from {}-{} "
                       "(source offsets {}..{}){}",
                       flow_.name(),
                       outcome.history_mismatch ? "the offset-sync history does not match the target"
                                                : "no offset-sync history",
                       st.source_topic, st.partition, outcome.records_read, st.remote_topic, st.partition,
                       first ? *first : tail.upstream_offset, tail.upstream_offset,
                       outcome.partial ? "; older offsets get no checkpoint" : "");
        }
        if (emit && !outcome.syncs.empty()) emit_offset_syncs(st, outcome.syncs);
      } catch (const NeedRead& n) {
        needs.emplace_back(j, n);
        planned += n.to - n.from;
      } catch (const std::exception& e) {
        fail(j, e.what());
      }
    }
    if (needs.empty()) continue;
    std::vector<RangeQuery> ranges;
    for (const auto& [j, n] : needs) {
      ranges.push_back({parts[j].st->remote_topic, parts[j].st->partition, n.from, n.to});
      cache[j].push_back({n.from, n.to, {}});
    }
    try {
      read_ranges(probe, ranges, [&](size_t r, const rd_kafka_message_t& m) {
        const size_t j = needs[r].first;
        if (auto up = upstream_offset_of(m, flow_.source, parts[j].st->partition))
          cache[j].back().pairs.push_back({*up, m.offset});
        return true;
      });
    } catch (const std::exception& e) {
      for (const auto& [j, _] : needs) fail(j, e.what());
      continue;
    }
    // These partitions run again first, so what was read for them is released soon.
    for (auto it = needs.rbegin(); it != needs.rend(); ++it) queue.push_front(it->first);
  }
}

void Flow::derive_copied_from_start(std::vector<Takeover>& parts, rd_kafka_t* target_probe, rd_kafka_t* source_probe) {
  // The oldest record of this flow still on the target. If the source no longer holds any record
  // below its upstream offset, every record a source consumer could still read at or above a
  // committed offset below it was replicated, so translating such an offset to this record
  // re-delivers nothing and skips nothing (docs/mirror.md, "Offsets below the first record").
  std::vector<size_t> asked;
  std::vector<RangeQuery> ranges;
  for (size_t j = 0; j < parts.size(); ++j) {
    const auto& t = parts[j];
    t.st->copied_from_start = false;
    if (!t.tail || !t.source || t.source->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    asked.push_back(j);
    ranges.push_back({t.st->remote_topic, t.st->partition, t.tail->log_start_offset,
                      std::min(t.tail->downstream_offset + 1, t.tail->log_start_offset + kOldestRecordWindow)});
  }
  std::vector<std::optional<int64_t>> oldest(ranges.size());
  auto warn = [&](const std::string& where, const std::exception& e) {
    spdlog::warn("flow {}: cannot tell whether {} partition(s) were copied from the source's start (reading {}): {}",
                 flow_.name(), asked.size(), where, e.what());
  };
  try {
    read_ranges(target_probe, ranges, [&](size_t r, const rd_kafka_message_t& m) {
      oldest[r] = upstream_offset_of(m, flow_.source, ranges[r].partition);
      return !oldest[r];
    });
  } catch (const std::exception& e) {
    return warn(flow_.target, e);
  }
  // The mapping must reach down to that record, or an offset below the mapping's first record
  // would be translated over records it does not know (a mapping rebuilt from part of the target).
  std::vector<size_t> checked;
  std::vector<RangeQuery> source_ranges;
  for (size_t r = 0; r < asked.size(); ++r) {
    PartitionState& st = *parts[asked[r]].st;
    const auto known = st.mapping.first_known_upstream();
    if (!oldest[r] || !known || *known > *oldest[r] || st.mapping.runs_dropped() > 0) continue;
    checked.push_back(asked[r]);
    source_ranges.push_back({st.source_topic, st.partition, parts[asked[r]].source->low, *oldest[r]});
  }
  // Retention moves the source's log start past deleted records; compaction leaves holes behind
  // it, so what counts is whether any record below the first copied one is still readable.
  std::vector<bool> holds_older(source_ranges.size(), false);
  try {
    read_ranges(source_probe, source_ranges, [&](size_t r, const rd_kafka_message_t&) {
      holds_older[r] = true;
      return false;
    });
  } catch (const std::exception& e) {
    return warn(flow_.source, e);
  }
  for (size_t r = 0; r < checked.size(); ++r) parts[checked[r]].st->copied_from_start = !holds_older[r];
}

}  // namespace ferry::mirror
