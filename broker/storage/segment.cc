#include "broker/storage/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/storage/bytes.h"
#include "broker/storage/file_io.h"

namespace ferry::storage {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

LogFile::~LogFile() { file_io::close_quietly(fd); }

BatchReader::BatchReader(std::shared_ptr<const LogFile> file, int64_t start, int64_t end)
    : file_(std::move(file)), pos_(start), next_(start), end_(end) {}

bool BatchReader::fill(int64_t pos, size_t n) {
  if (pos >= buf_start_ && pos + static_cast<int64_t>(n) <= buf_start_ + static_cast<int64_t>(buf_.size())) return true;
  size_t want = static_cast<size_t>(std::min<int64_t>(end_ - pos, static_cast<int64_t>(std::max(n, kReadChunk))));
  buf_.resize(want);
  buf_.resize(file_io::pread_full(file_->fd, buf_.data(), want, pos, file_->path));
  buf_start_ = pos;
  return buf_.size() >= n;
}

BatchReader::Status BatchReader::next(bool whole) {
  pos_ = next_;
  if (pos_ >= end_) return Status::end;
  int64_t rem = end_ - pos_;
  if (rem < static_cast<int64_t>(kLogOverhead)) return Status::partial;
  if (!fill(pos_, static_cast<size_t>(std::min<int64_t>(rem, kBatchHeaderSize)))) return Status::partial;
  const uint8_t* p = buf_.data() + (pos_ - buf_start_);
  auto length = static_cast<int32_t>(bytes::load_be32(p + batch_field::batch_length));
  if (length < kMinBatchLength) return Status::bad_length;
  int64_t size = static_cast<int64_t>(kLogOverhead) + length;
  if (size > rem) return Status::partial;
  if (!fill(pos_, whole ? static_cast<size_t>(size) : kBatchHeaderSize)) return Status::partial;
  header_ = *parse_batch_header(buf_.data() + (pos_ - buf_start_), kBatchHeaderSize);
  next_ = pos_ + size;
  return Status::batch;
}

Segment::Segment(const std::filesystem::path& dir, int64_t base_offset, std::string suffix)
    : dir_(dir), base_(base_offset), suffix_(std::move(suffix)), log_path_(path(".log")), next_offset_(base_offset) {}

Segment::~Segment() = default;

std::string Segment::file_name(int64_t base_offset, const char* ext) {
  return fmt::format("{:020d}{}", base_offset, ext);
}

std::shared_ptr<Segment> Segment::create(const std::filesystem::path& dir, int64_t base_offset, int64_t now_ms,
                                         const std::string& suffix) {
  std::shared_ptr<Segment> s(new Segment(dir, base_offset, suffix));
  s->kept_ = std::make_shared<const LogFile>(file_io::open_or_throw(s->log_path_, O_RDWR | O_CREAT | O_EXCL), s->log_path_);
  // Index files left behind without a .log would otherwise be adopted with stale entries.
  std::filesystem::remove(s->path(".index"));
  std::filesystem::remove(s->path(".timeindex"));
  bool existed;
  s->offset_index_.open(s->path(".index"), &existed);
  s->time_index_.open(s->path(".timeindex"), &existed);
  s->roll_start_ms_ = now_ms;
  s->dirty_ = true;
  return s;
}

std::shared_ptr<Segment> Segment::open(const std::filesystem::path& dir, int64_t base_offset) {
  std::shared_ptr<Segment> s(new Segment(dir, base_offset));
  s->kept_ = std::make_shared<const LogFile>(file_io::open_or_throw(s->log_path_, O_RDWR), s->log_path_);
  return s;
}

void Segment::reset_state() {
  size_ = 0;
  next_offset_ = base_;
  max_ts_ = INT64_MIN;
  offset_of_max_ts_ = -1;
  bytes_since_index_ = 0;
  pending_offset_.clear();
  pending_time_.clear();
}

int64_t Segment::last_time_entry_ts() const {
  if (!pending_time_.empty()) return pending_time_.back().timestamp;
  const auto& t = time_index_.entries();
  return t.empty() ? INT64_MIN : t.back().timestamp;
}

bool Segment::index_full(int64_t max_index_bytes) const {
  size_t n_off = offset_index_.entries().size() + pending_offset_.size();
  size_t n_time = time_index_.entries().size() + pending_time_.size();
  return static_cast<int64_t>((n_off + 1) * OffsetIndex::kEntrySize) > max_index_bytes ||
         static_cast<int64_t>((n_time + 1) * TimeIndex::kEntrySize) > max_index_bytes;
}

void Segment::account(const BatchHeader& h, int64_t pos, const IndexPolicy& policy, bool may_index) {
  if (h.max_timestamp > max_ts_) {
    max_ts_ = h.max_timestamp;
    offset_of_max_ts_ = h.last_offset();
  }
  // Both indexes get their entry at the same batch, so the time index's last entry plus the batches
  // after the last offset entry always cover the segment's max timestamp (used by load()).
  if (may_index && bytes_since_index_ > policy.interval_bytes && !index_full(policy.max_index_bytes)) {
    pending_offset_.push_back({relative(h.last_offset()), static_cast<uint32_t>(pos)});
    if (max_ts_ >= 0 && max_ts_ > last_time_entry_ts()) pending_time_.push_back({max_ts_, relative(offset_of_max_ts_)});
    bytes_since_index_ = 0;
  }
  bytes_since_index_ += static_cast<int64_t>(h.size_in_bytes());
  next_offset_ = h.last_offset() + 1;
}

void Segment::commit_pending_entries() {
  if (!pending_offset_.empty() || !pending_time_.empty()) dirty_ = true;
  offset_index_.append(pending_offset_);
  pending_offset_.clear();
  time_index_.append(pending_time_);
  pending_time_.clear();
}

void Segment::append(const uint8_t* data, size_t n, const std::vector<BatchHeader>& headers, const IndexPolicy& policy) {
  file_io::pwrite_full(file()->fd, data, n, size_, log_path_);
  dirty_ = true;
  int64_t pos = size_;
  for (const auto& h : headers) {
    account(h, pos, policy, true);
    pos += static_cast<int64_t>(h.size_in_bytes());
  }
  size_ = pos;
  commit_pending_entries();
}

void Segment::truncate_log(int64_t size) {
  if (::ftruncate(file()->fd, static_cast<off_t>(size)) != 0) {
    spdlog::error("storage: cannot cut {} back to {} bytes after a failed write: {}", log_path_.string(), size,
                  std::error_code(errno, std::generic_category()).message());
  }
}

int64_t Segment::truncate_to(int64_t offset, const IndexPolicy& policy) {
  {
    // A sealed, synced segment let its descriptor go, and file() would reopen it read-only.
    std::lock_guard lk(file_mu_);
    if (gone_) {
      throw std::system_error(ENOENT, std::generic_category(), log_path_.string() + " was deleted or replaced");
    }
    if (!kept_) {
      kept_ = std::make_shared<const LogFile>(file_io::open_or_throw(log_path_, O_RDWR), log_path_);
      keeps_.store(true, std::memory_order_release);
    }
    inactive_ = false;
  }
  // The cut: the first batch whose last offset reaches `offset`. An .index entry names a batch's
  // last offset, so scanning from the entry for offset - 1 starts at a batch that is kept.
  int64_t cut = size_, kept_last = -1;
  auto find_cut = [&](int64_t start) {
    cut = size_;
    kept_last = -1;
    BatchReader rd(file(), start, size_);
    for (;;) {
      auto st = rd.next(false);
      if (st == BatchReader::Status::end) return;
      if (st != BatchReader::Status::batch) {
        throw std::system_error(EIO, std::generic_category(),
                                fmt::format("unreadable batch at position {} of {}", rd.position(), log_path_.string()));
      }
      if (rd.header().last_offset() >= offset) {
        cut = rd.position();
        return;
      }
      kept_last = rd.header().last_offset();
    }
  };
  const int64_t start = offset > base_ ? start_position(offset - 1) : 0;
  find_cut(start);
  if (cut == start && start > 0) find_cut(0);  // the entry did not name a kept batch after all
  if (cut == size_) return 0;

  const int64_t dropped = size_ - cut;
  const int64_t new_next = cut == 0 ? base_ : kept_last + 1;
  file_io::ftruncate_or_throw(file()->fd, cut, log_path_);
  dirty_ = true;
  std::vector<OffsetIndexEntry> off;
  for (const auto& e : offset_index_.entries()) {
    if (static_cast<int64_t>(e.position) < cut) off.push_back(e);
  }
  std::vector<TimeIndexEntry> times;
  for (const auto& e : time_index_.entries()) {
    if (base_ + static_cast<int64_t>(e.relative_offset) < new_next) times.push_back(e);
  }
  if (off.size() != offset_index_.entries().size()) offset_index_.rewrite(std::move(off));
  if (times.size() != time_index_.entries().size()) time_index_.rewrite(std::move(times));
  // Size, next offset and max timestamp from the kept entries plus the batches after them.
  bool index_bad = false;
  std::string err = scan_tail(policy, cut, &index_bad);
  if (!err.empty()) err = scan_from_start(false, policy, cut);
  if (err.empty() && (size_ != cut || next_offset_ != new_next)) {
    err = fmt::format("read back {} bytes up to offset {}, expected {} bytes up to {}", size_, next_offset_, cut, new_next);
  }
  if (!err.empty()) {
    throw std::system_error(EIO, std::generic_category(),
                            fmt::format("{} does not read back after truncation: {}", log_path_.string(), err));
  }
  return dropped;
}

void Segment::seal() {
  if (max_ts_ >= 0 && max_ts_ > last_time_entry_ts()) {
    time_index_.append({{max_ts_, relative(offset_of_max_ts_)}});
    dirty_ = true;
  }
  std::lock_guard lk(file_mu_);
  inactive_ = true;
}

void Segment::mark_inactive() {
  std::lock_guard lk(file_mu_);
  inactive_ = true;
  if (!dirty_) let_go_locked();
}

std::shared_ptr<const LogFile> Segment::file() const {
  std::lock_guard lk(file_mu_);
  if (kept_) return kept_;
  if (auto f = shared_.lock()) return f;
  if (gone_) {
    throw std::system_error(ENOENT, std::generic_category(),
                            log_path_.string() + " was deleted or replaced and may not be reopened by name");
  }
  auto f = std::make_shared<const LogFile>(file_io::open_or_throw(log_path_, O_RDONLY), log_path_);
  shared_ = f;
  return f;
}

bool Segment::keeps_descriptor() const { return keeps_.load(std::memory_order_acquire); }

void Segment::let_go_locked() {
  if (kept_) shared_ = kept_;  // readers holding it share it until the last one lets go
  kept_.reset();
  keeps_.store(false, std::memory_order_release);
}

void Segment::forget_names() {
  std::lock_guard lk(file_mu_);
  gone_ = true;
}

void Segment::sync(bool with_indexes) {
  bool inactive;
  {
    std::lock_guard lk(file_mu_);
    inactive = inactive_;
  }
  file_io::fdatasync_or_throw(file()->fd, log_path_);
  if (!with_indexes) return;
  offset_index_.sync();
  time_index_.sync();
  // Inactive before this sync began: every write to the segment came before it, so nothing is
  // left unsynced and the descriptor need not stay open.
  if (inactive) {
    std::lock_guard lk(file_mu_);
    let_go_locked();
  }
}

void Segment::remove_files() {
  forget_names();
  for (const char* ext : {".log", ".index", ".timeindex"}) {
    std::error_code ec;
    std::filesystem::remove(path(ext), ec);
    if (ec) spdlog::warn("storage: cannot delete {}: {}", path(ext).string(), ec.message());
  }
}

int64_t Segment::last_modified_ms() const {
  struct stat st;
  if (::stat(log_path_.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

std::optional<BatchHeader> Segment::header_at(int64_t pos) const {
  uint8_t buf[kBatchHeaderSize];
  if (pos + static_cast<int64_t>(kBatchHeaderSize) > size_) return std::nullopt;
  if (file_io::pread_full(file()->fd, buf, sizeof buf, pos, log_path_) != sizeof buf) return std::nullopt;
  return parse_batch_header(buf, sizeof buf);
}

int64_t Segment::start_position(int64_t offset) const {
  const auto& e = offset_index_.entries();
  if (e.empty() || offset < base_) return 0;
  int64_t rel = std::min<int64_t>(offset - base_, UINT32_MAX);
  auto it = std::upper_bound(e.begin(), e.end(), rel,
                             [](int64_t r, const OffsetIndexEntry& x) { return r < static_cast<int64_t>(x.relative_offset); });
  if (it == e.begin()) return 0;
  --it;
  auto h = header_at(it->position);
  if (!h || h->magic != 2 || h->last_offset() != base_ + it->relative_offset) {
    spdlog::warn("storage: {} entry for offset {} does not match the batch at position {}; scanning from the start",
                 offset_index_.path().string(), base_ + it->relative_offset, it->position);
    return 0;
  }
  return it->position;
}

int64_t Segment::start_position_for_time(int64_t ts) const {
  const auto& t = time_index_.entries();
  // Entries are strictly increasing; every record up to the entry's batch is <= its timestamp, so
  // the answer lies after the last entry whose timestamp is below ts.
  auto it = std::lower_bound(t.begin(), t.end(), ts, [](const TimeIndexEntry& x, int64_t v) { return x.timestamp < v; });
  if (it == t.begin()) return 0;
  --it;
  return start_position(base_ + it->relative_offset);
}

void Segment::read(int64_t pos, size_t n, std::vector<uint8_t>& out) const {
  size_t old = out.size();
  out.resize(old + n);
  if (file_io::pread_full(file()->fd, out.data() + old, n, pos, log_path_) != n) {
    out.resize(old);
    throw std::system_error(EIO, std::generic_category(), "short read of " + log_path_.string());
  }
}

std::string Segment::check_indexes(int64_t log_size) const {
  const auto& off = offset_index_.entries();
  for (size_t i = 0; i < off.size(); ++i) {
    if (off[i].position >= log_size) return fmt::format(".index entry {} points past the end of the log", i);
    if (i > 0 && (off[i].relative_offset <= off[i - 1].relative_offset || off[i].position <= off[i - 1].position)) {
      return fmt::format(".index entry {} is not after entry {}", i, i - 1);
    }
  }
  const auto& t = time_index_.entries();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].timestamp < 0) return fmt::format(".timeindex entry {} has negative timestamp {}", i, t[i].timestamp);
    if (i > 0 && (t[i].timestamp <= t[i - 1].timestamp || t[i].relative_offset < t[i - 1].relative_offset)) {
      return fmt::format(".timeindex entry {} is not after entry {}", i, i - 1);
    }
  }
  return {};
}

namespace {

std::string reader_problem(BatchReader::Status st, const BatchReader& rd, int64_t log_size) {
  if (st == BatchReader::Status::partial) {
    return fmt::format("incomplete batch ({} bytes left at the end of the file)", log_size - rd.position());
  }
  return "batchLength below the 49-byte minimum";
}

}  // namespace

std::string Segment::scan_from_start(bool check_crc, const IndexPolicy& policy, int64_t log_size) {
  reset_state();
  offset_index_.rewrite({});
  time_index_.rewrite({});
  dirty_ = true;
  BatchReader rd(file(), 0, log_size);
  std::string err;
  for (;;) {
    auto st = rd.next(check_crc);
    if (st == BatchReader::Status::end) break;
    if (st != BatchReader::Status::batch) {
      err = reader_problem(st, rd, log_size);
      break;
    }
    const BatchHeader& h = rd.header();
    int64_t size = static_cast<int64_t>(h.size_in_bytes());
    if (h.magic != 2) {
      err = fmt::format("magic byte {}", h.magic);
    } else if (check_crc && compute_batch_crc(rd.bytes(), h.size_in_bytes()) != h.crc) {
      err = "CRC-32C mismatch";
    } else if (h.base_offset < next_offset_) {
      err = fmt::format("batch base offset {} is below the expected {}", h.base_offset, next_offset_);
    } else if (h.last_offset_delta < 0 || h.last_offset() - base_ > INT32_MAX) {
      err = fmt::format("batch last offset {} does not fit the segment", h.last_offset());
    } else if (rd.position() + size > static_cast<int64_t>(UINT32_MAX)) {
      err = "segment exceeds 4 GiB";
    }
    if (!err.empty()) break;
    account(h, rd.position(), policy, true);
    size_ = rd.position() + size;
  }
  commit_pending_entries();
  return err;
}

std::string Segment::scan_tail(const IndexPolicy& policy, int64_t log_size, bool* index_bad) {
  reset_state();
  const auto& off = offset_index_.entries();
  const auto& t = time_index_.entries();
  int64_t start = off.empty() ? 0 : off.back().position;
  if (!t.empty()) {
    max_ts_ = t.back().timestamp;
    offset_of_max_ts_ = base_ + t.back().relative_offset;
  }
  BatchReader rd(file(), start, log_size);
  bool first = true;
  for (;;) {
    auto st = rd.next(false);
    if (st == BatchReader::Status::end) break;
    if (st != BatchReader::Status::batch) return reader_problem(st, rd, log_size);
    const BatchHeader& h = rd.header();
    if (h.magic != 2) return fmt::format("magic byte {}", h.magic);
    if (first && !off.empty() && h.last_offset() != base_ + off.back().relative_offset) {
      *index_bad = true;
      return fmt::format("last .index entry names offset {} but the batch there ends at {}", base_ + off.back().relative_offset,
                         h.last_offset());
    }
    if (h.base_offset < (first ? base_ : next_offset_) || h.last_offset_delta < 0 || h.last_offset() - base_ > INT32_MAX) {
      return fmt::format("batch offsets {}..{} out of order", h.base_offset, h.last_offset());
    }
    bool indexed_already = first && !off.empty();
    account(h, rd.position(), policy, !indexed_already);
    size_ = rd.position() + static_cast<int64_t>(h.size_in_bytes());
    first = false;
  }
  if (!t.empty() && base_ + t.back().relative_offset >= next_offset_) {
    *index_bad = true;
    return fmt::format("last .timeindex entry names offset {} beyond the log end {}", base_ + t.back().relative_offset,
                       next_offset_);
  }
  // An index that lost its tail (e.g. never written before a crash) is completed here.
  commit_pending_entries();
  return {};
}

Segment::LoadResult Segment::load(bool recover, const IndexPolicy& policy) {
  LoadResult r;
  int64_t log_size = file_io::file_size(file()->fd, log_path_);
  bool off_existed = false, time_existed = false;
  std::string off_err = offset_index_.open(path(".index"), &off_existed);
  std::string time_err = time_index_.open(path(".timeindex"), &time_existed);
  if (!off_existed) {
    r.index_rebuilt = ".index was missing";
  } else if (!time_existed) {
    r.index_rebuilt = ".timeindex was missing";
  } else if (!off_err.empty()) {
    r.index_rebuilt = ".index " + off_err;
  } else if (!time_err.empty()) {
    r.index_rebuilt = ".timeindex " + time_err;
  } else if (!recover) {
    r.index_rebuilt = check_indexes(log_size);
  }

  std::string err;
  if (recover) {
    err = scan_from_start(true, policy, log_size);
  } else if (!r.index_rebuilt.empty()) {
    err = scan_from_start(false, policy, log_size);
    if (!err.empty()) err = scan_from_start(true, policy, log_size);
  } else {
    bool index_bad = false;
    err = scan_tail(policy, log_size, &index_bad);
    if (index_bad) {
      r.index_rebuilt = err;
      err = scan_from_start(false, policy, log_size);
    }
    // Broken framing below the recovery point: the data is not what was flushed, so check every
    // batch of this segment as if it had never been flushed.
    if (!err.empty()) err = scan_from_start(true, policy, log_size);
  }
  if (!err.empty()) {
    r.corruption = err;
    r.truncated_bytes = log_size - size_;
    r.truncated_at_offset = next_offset_;
    file_io::ftruncate_or_throw(file()->fd, size_, log_path_);
    dirty_ = true;
  }
  if (!r.index_rebuilt.empty()) dirty_ = true;
  return r;
}

}  // namespace ferry::storage
