#include "mirror/offset_translation.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace ferry::mirror {
namespace {

bool same_delta(const OffsetSync& a, const OffsetSync& b) {
  return b.upstream_offset - a.upstream_offset == b.downstream_offset - a.downstream_offset;
}

// A sync as load() sees it after folding a repeated pair into one point.
struct Point {
  OffsetSync sync;
  bool repeated;  // written twice: a break follows it
};

}  // namespace

OffsetMapping::OffsetMapping(size_t max_runs, int64_t resync_every) : max_runs_(max_runs), resync_every_(resync_every) {
  if (max_runs_ < 2) throw std::invalid_argument(fmt::format("OffsetMapping max_runs {} is below 2", max_runs_));
  if (resync_every_ < 0)
    throw std::invalid_argument(fmt::format("OffsetMapping resync_every {} is negative", resync_every_));
}

void OffsetMapping::push_run(Run run) {
  runs_.push_back(run);
  while (runs_.size() > max_runs_) {
    runs_.pop_front();
    ++runs_dropped_;
  }
}

std::optional<OffsetSync> OffsetMapping::last_recorded() const {
  if (runs_.empty()) return std::nullopt;
  const Run& r = runs_.back();
  return OffsetSync{r.upstream + r.length - 1, r.downstream + r.length - 1};
}

std::optional<int64_t> OffsetMapping::first_known_upstream() const {
  if (runs_.empty()) return std::nullopt;
  return runs_.front().upstream;
}

std::vector<OffsetSync> OffsetMapping::record(int64_t upstream, int64_t downstream) {
  if (upstream < 0 || downstream < 0 || upstream == INT64_MAX || downstream == INT64_MAX)
    throw std::invalid_argument(fmt::format("offsets out of range: upstream {} downstream {}", upstream, downstream));
  if (upstream < processed_end_)
    throw std::invalid_argument(
        fmt::format("upstream offset {} is below the processed end {}: records must be passed in order, once", upstream,
                    processed_end_));
  const std::optional<OffsetSync> last = last_recorded();
  if (last && downstream <= last->downstream_offset)
    throw std::invalid_argument(fmt::format("downstream offset {} does not follow the previous record's {}", downstream,
                                            last->downstream_offset));

  const OffsetSync current{upstream, downstream};
  std::vector<OffsetSync> out;
  auto emit = [&](const OffsetSync& s) {
    if (last_emitted_ && *last_emitted_ == s) {
      last_emitted_repeated_ = true;
    } else {
      last_emitted_ = s;
      last_emitted_repeated_ = false;
    }
    out.push_back(s);
  };

  if (!last) {
    push_run({upstream, downstream, 1});
    emit(current);
  } else if (upstream == last->upstream_offset + 1 && downstream == last->downstream_offset + 1) {
    runs_.back().length++;
    // After a reload whose last sync was marked as followed by a break, a reader would not join
    // this record to that sync, so it is written as a run start.
    bool marked_break = last_emitted_ == last && last_emitted_repeated_;
    if (marked_break || (resync_every_ > 0 && upstream - last_emitted_->upstream_offset >= resync_every_))
      emit(current);
  } else {
    if (last_emitted_ != last) emit(*last);
    // A break where both sides jump equally looks like a continuing run to a reader; mark it.
    if (same_delta(*last, current) && !last_emitted_repeated_) emit(*last);
    emit(current);
    push_run({upstream, downstream, 1});
  }
  processed_end_ = upstream + 1;
  tail_confirmed_ = true;
  return out;
}

void OffsetMapping::advance(int64_t next_upstream) {
  processed_end_ = std::max(processed_end_, next_upstream);
  tail_confirmed_ = true;
}

std::optional<int64_t> OffsetMapping::translate(int64_t upstream, int64_t target_next) const {
  if (runs_.empty() || upstream < runs_.front().upstream) return std::nullopt;
  auto next =
      std::upper_bound(runs_.begin(), runs_.end(), upstream, [](int64_t u, const Run& r) { return u < r.upstream; });
  const Run& run = *std::prev(next);
  if (upstream - run.upstream < run.length) return run.downstream + (upstream - run.upstream);
  // In the gap after `run`: nothing between was replicated, so the next run's first record is it.
  if (next != runs_.end()) return next->downstream;
  if (!tail_confirmed_ || upstream > processed_end_) return std::nullopt;
  return std::max(run.downstream + run.length, target_next);
}

size_t OffsetMapping::load(const std::vector<OffsetSync>& syncs, SyncHistory history) {
  runs_.clear();
  runs_dropped_ = 0;
  last_emitted_.reset();
  last_emitted_repeated_ = false;
  processed_end_ = 0;
  tail_confirmed_ = false;

  // The newest consistent part: offsets non-negative and strictly increasing, except that a pair
  // may be written twice in a row.
  size_t begin = 0;
  for (size_t i = 0; i < syncs.size(); ++i) {
    const OffsetSync& s = syncs[i];
    if (s.upstream_offset < 0 || s.downstream_offset < 0 || s.upstream_offset == INT64_MAX ||
        s.downstream_offset == INT64_MAX) {
      begin = i + 1;
      continue;
    }
    if (i == begin) continue;
    const OffsetSync& prev = syncs[i - 1];
    if (s == prev) {
      if (i - 1 > begin && syncs[i - 2] == prev) begin = i;
      continue;
    }
    if (s.upstream_offset > prev.upstream_offset && s.downstream_offset > prev.downstream_offset) continue;
    begin = i;
  }
  size_t unused = begin;

  std::vector<Point> points;
  for (size_t i = begin; i < syncs.size(); ++i) {
    if (!points.empty() && points.back().sync == syncs[i])
      points.back().repeated = true;
    else
      points.push_back({syncs[i], false});
  }

  // A cut history may start with the second copy of a repeated pair; that lone copy would read as
  // the start of a run reaching the next sync. Only an equal-delta neighbour makes it ambiguous.
  bool may_be_cut = history == SyncHistory::kMayBeTruncated || begin > 0;
  if (may_be_cut && points.size() >= 2 && !points[0].repeated && same_delta(points[0].sync, points[1].sync)) {
    points.erase(points.begin());
    ++unused;
  }
  if (points.empty()) return unused;

  Run current{points[0].sync.upstream_offset, points[0].sync.downstream_offset, 1};
  for (size_t i = 1; i < points.size(); ++i) {
    const Point& prev = points[i - 1];
    const OffsetSync& s = points[i].sync;
    if (!prev.repeated && same_delta(prev.sync, s)) {
      current.length = s.upstream_offset - current.upstream + 1;
    } else {
      push_run(current);
      current = {s.upstream_offset, s.downstream_offset, 1};
    }
  }
  push_run(current);

  last_emitted_ = points.back().sync;
  last_emitted_repeated_ = points.back().repeated;
  processed_end_ = points.back().sync.upstream_offset + 1;
  return unused;
}

AnchorOutcome anchor_offset_mapping(OffsetMapping& mapping, size_t max_runs, int64_t resync_every,
                                    const std::vector<OffsetSync>& history, SyncHistory kind,
                                    const OffsetSync& tail, int64_t target_log_start, int64_t read_limit, const ReplicatedReader& read) {
  if (read_limit < 1) throw std::invalid_argument(fmt::format("read limit {} is below 1", read_limit));
  AnchorOutcome out;
  const OffsetSync& tail_pair = tail;
  std::vector<OffsetSync> pairs;
  if (!history.empty()) {
    mapping = OffsetMapping(max_runs, resync_every);
    mapping.load(history, kind);
    const auto last = mapping.last_recorded();
    // A last sync below the target's log start cannot be checked against the target; everything the
    // target still holds is then read anyway, so the rebuild below costs the same.
    bool ok = last && last->downstream_offset >= target_log_start && last->downstream_offset <= tail.downstream_offset &&
              last->upstream_offset <= tail.upstream_offset;
    if (ok) {
      // The record the last sync names (when the target still holds it) and every one after it.
      read(last->downstream_offset, tail.downstream_offset + 1,
           [&](int64_t up, int64_t down) { pairs.push_back({up, down}); });
      out.records_read = static_cast<int64_t>(pairs.size());
      int64_t prev_up = last->upstream_offset;
      std::vector<OffsetSync> replay;
      // The last sync must name a record the target still holds with the same upstream offset;
      // one the target lost (its own compaction or retention) cannot vouch for the history.
      ok = !pairs.empty() && pairs.front() == *last;
      for (const auto& p : pairs) {
        if (!ok) break;
        if (p.downstream_offset == last->downstream_offset) {
          continue;
        } else if (p.upstream_offset <= prev_up) {
          ok = false;  // upstream offsets going back: the history belongs to an earlier incarnation
        } else {
          prev_up = p.upstream_offset;
          replay.push_back(p);
        }
      }
      if (ok) {
        try {
          for (const auto& p : replay)
            for (const auto& s : mapping.record(p.upstream_offset, p.downstream_offset)) out.syncs.push_back(s);
        } catch (const std::invalid_argument&) {
          ok = false;
        }
      }
      ok = ok && mapping.last_recorded() == tail_pair;
    }
    if (ok) {
      out.source = AnchorOutcome::Source::kHistory;
      mapping.advance(tail.upstream_offset + 1);
      return out;
    }
    out.history_mismatch = true;
    out.syncs.clear();
    pairs.clear();
  }
  // From the target's own records: every record of the flow carries its upstream offset.
  const int64_t from = std::max(target_log_start, tail.downstream_offset + 1 - read_limit);
  read(from, tail.downstream_offset + 1, [&](int64_t up, int64_t down) { pairs.push_back({up, down}); });
  out.records_read += static_cast<int64_t>(pairs.size());
  size_t begin = 0;
  for (size_t i = 1; i < pairs.size(); ++i)
    if (pairs[i].upstream_offset <= pairs[i - 1].upstream_offset) begin = i;
  out.partial = from > target_log_start || begin > 0;
  mapping = OffsetMapping(max_runs, resync_every);
  for (size_t i = begin; i < pairs.size(); ++i)
    for (const auto& s : mapping.record(pairs[i].upstream_offset, pairs[i].downstream_offset)) out.syncs.push_back(s);
  if (mapping.last_recorded() != tail_pair) {
    // The tail record itself was not read back (removed from the target meanwhile): only the tail
    // is certain.
    mapping = OffsetMapping(max_runs, resync_every);
    out.syncs = mapping.record(tail.upstream_offset, tail.downstream_offset);
    out.partial = true;
  }
  mapping.advance(tail.upstream_offset + 1);
  return out;
}

}  // namespace ferry::mirror
