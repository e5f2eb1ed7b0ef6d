#include "broker/core/producer_state.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <fstream>
#include <sstream>

namespace ferry::broker {
namespace {

// Sequence numbers wrap from INT32_MAX to 0 (DefaultRecordBatch.incrementSequence in Kafka).
int32_t increment(int32_t seq, int32_t by) {
  if (seq > INT32_MAX - by) return by - (INT32_MAX - seq) - 1;
  return seq + by;
}

int32_t last_sequence(const storage::BatchHeader& b) { return increment(b.base_sequence, b.last_offset_delta); }

}  // namespace

SequenceCheck ProducerStateManager::check(const std::vector<storage::BatchHeader>& batches) const {
  using protocol::ErrorCode;
  std::map<int64_t, ProducerEntry> chain;  // the effect of earlier batches of this same request
  for (const auto& b : batches) {
    if (b.producer_id < 0) continue;
    const ProducerEntry* e = nullptr;
    if (auto it = chain.find(b.producer_id); it != chain.end())
      e = &it->second;
    else if (auto jt = producers_.find(b.producer_id); jt != producers_.end())
      e = &jt->second;
    const int32_t last_seq = last_sequence(b);
    if (e) {
      if (b.producer_epoch < e->epoch) return {ErrorCode::INVALID_PRODUCER_EPOCH, std::nullopt};
      if (b.producer_epoch > e->epoch) {
        if (b.base_sequence != 0) return {ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, std::nullopt};
      } else {
        for (const auto& pb : e->batches)
          if (pb.first_seq == b.base_sequence && pb.last_seq == last_seq) {
            if (batches.size() == 1) return {ErrorCode::NONE, pb};
            return {ErrorCode::DUPLICATE_SEQUENCE_NUMBER, std::nullopt};
          }
        const int32_t expected = e->batches.empty() ? 0 : increment(e->batches.back().last_seq, 1);
        if (b.base_sequence != expected) return {ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, std::nullopt};
      }
    }
    // An unknown producer id may start at any sequence: its state can have expired
    // (producer.id.expiration.ms), and Kafka accepts it then too.
    ProducerEntry next = e ? *e : ProducerEntry{};
    if (!e || b.producer_epoch != next.epoch) next.batches.clear();
    next.epoch = b.producer_epoch;
    next.batches.push_back({b.base_sequence, last_seq, 0, 0});
    if (next.batches.size() > kMaxBatches) next.batches.pop_front();
    chain[b.producer_id] = std::move(next);
  }
  return {};
}

void ProducerStateManager::record(const std::vector<storage::BatchHeader>& appended, int64_t now_ms) {
  for (const auto& b : appended) {
    if (b.producer_id < 0) continue;
    auto [it, inserted] = producers_.try_emplace(b.producer_id);
    ProducerEntry& e = it->second;
    if (inserted || e.epoch != b.producer_epoch) e.batches.clear();
    e.epoch = b.producer_epoch;
    e.last_timestamp_ms = now_ms;
    e.batches.push_back({b.base_sequence, last_sequence(b), b.base_offset, b.last_offset()});
    if (e.batches.size() > kMaxBatches) e.batches.pop_front();
  }
}

size_t ProducerStateManager::expire(int64_t now_ms, int64_t expiration_ms) {
  return std::erase_if(producers_, [&](const auto& kv) { return now_ms - kv.second.last_timestamp_ms > expiration_ms; });
}

void ProducerStateManager::write_snapshot(const std::filesystem::path& file, int64_t next_offset) const {
  std::ostringstream out;
  out << "ferry-producer-state 1\noffset " << next_offset << "\nproducers " << producers_.size() << "\n";
  for (const auto& [pid, e] : producers_) {
    out << pid << ' ' << e.epoch << ' ' << e.last_timestamp_ms << ' ' << e.batches.size();
    for (const auto& b : e.batches) out << ' ' << b.first_seq << ' ' << b.last_seq << ' ' << b.base_offset << ' ' << b.last_offset;
    out << '\n';
  }
  out << "end\n";
  storage::atomic_write_file(file, out.str());
}

std::optional<int64_t> ProducerStateManager::load_snapshot(const std::filesystem::path& file) {
  producers_.clear();
  std::ifstream in(file);
  if (!in) return std::nullopt;
  auto fail = [&](const char* what) -> std::optional<int64_t> {
    spdlog::warn("producer state snapshot {} is unusable ({}); rebuilding from the log", file.string(), what);
    producers_.clear();
    return std::nullopt;
  };
  std::string magic, word;
  int version = 0;
  int64_t offset = -1;
  size_t count = 0;
  if (!(in >> magic >> version) || magic != "ferry-producer-state" || version != 1) return fail("bad header");
  if (!(in >> word >> offset) || word != "offset" || offset < 0) return fail("bad offset line");
  if (!(in >> word >> count) || word != "producers") return fail("bad producer count");
  for (size_t i = 0; i < count; ++i) {
    int64_t pid;
    ProducerEntry e;
    size_t n;
    if (!(in >> pid >> e.epoch >> e.last_timestamp_ms >> n) || n > kMaxBatches) return fail("bad producer line");
    for (size_t j = 0; j < n; ++j) {
      ProducerBatch b;
      if (!(in >> b.first_seq >> b.last_seq >> b.base_offset >> b.last_offset)) return fail("bad batch");
      e.batches.push_back(b);
    }
    producers_[pid] = std::move(e);
  }
  if (!(in >> word) || word != "end") return fail("missing end marker");
  return offset;
}

int64_t ProducerStateManager::rebuild(storage::Log& log, const std::filesystem::path& snapshot, int64_t now_ms) {
  const int64_t end = log.log_end_offset();
  auto from = load_snapshot(snapshot);
  if (!from || *from > end || *from < log.log_start_offset()) {
    // A snapshot past the recovered log end describes batches a crash took away.
    if (from) spdlog::info("producer state snapshot {} is at offset {} outside the log [{}, {}]; rebuilding",
                           snapshot.string(), *from, log.log_start_offset(), end);
    producers_.clear();
    from = log.log_start_offset();
  }
  int64_t offset = *from, replayed = 0;
  while (offset < end) {
    auto [err, data] = log.read(offset, 1 << 20, end, /*min_one_batch=*/true);
    if (err != storage::errc::ok || data.records.empty()) break;
    std::vector<storage::BatchHeader> headers;
    size_t pos = 0;
    while (pos < data.records.size()) {
      auto h = storage::parse_batch_header(data.records.data() + pos, data.records.size() - pos);
      if (!h || pos + h->size_in_bytes() > data.records.size()) break;
      pos += h->size_in_bytes();
      if (h->last_offset() < offset) continue;
      headers.push_back(*h);
      offset = h->last_offset() + 1;
    }
    if (headers.empty()) break;
    // Rebuilt producers count as active now, so they do not expire the moment the broker starts.
    record(headers, now_ms);
    replayed += static_cast<int64_t>(headers.size());
  }
  return replayed;
}

}  // namespace ferry::broker
