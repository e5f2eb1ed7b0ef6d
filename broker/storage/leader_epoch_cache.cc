#include "broker/storage/leader_epoch_cache.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "common/durable_file.h"

namespace ferry::storage {

std::string leader_epoch_checkpoint_text(const std::vector<EpochEntry>& entries) {
  std::string out = "0\n" + std::to_string(entries.size()) + "\n";
  for (const auto& e : entries) out += std::to_string(e.epoch) + " " + std::to_string(e.start_offset) + "\n";
  return out;
}

namespace {

bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  size_t used = 0;
  try {
    out = std::stoll(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == s.size();
}

}  // namespace

std::vector<EpochEntry> parse_leader_epoch_checkpoint(const std::string& text, const std::string& what) {
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) -> std::runtime_error {
    return std::runtime_error(what + ":" + std::to_string(line_no) + ": " + why);
  };
  ++line_no;
  if (!std::getline(in, line) || line != "0") throw fail("expected version 0, got \"" + line + "\"");
  ++line_no;
  int64_t count = 0;
  if (!std::getline(in, line) || !parse_int64(line, count) || count < 0) throw fail("expected an entry count");
  std::vector<EpochEntry> entries;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string a, b, extra;
    fields >> a >> b;
    int64_t epoch = 0, offset = 0;
    if (!(fields >> extra).fail() || !parse_int64(a, epoch) || !parse_int64(b, offset) || epoch < 0 ||
        epoch > INT32_MAX || offset < 0) {
      throw fail("expected \"<epoch> <start offset>\", got \"" + line + "\"");
    }
    if (!entries.empty() && (epoch <= entries.back().epoch || offset < entries.back().start_offset)) {
      throw fail("entries must ascend, got \"" + line + "\" after epoch " + std::to_string(entries.back().epoch));
    }
    entries.push_back({static_cast<int32_t>(epoch), offset});
  }
  if (static_cast<int64_t>(entries.size()) != count) {
    throw fail("the count line says " + std::to_string(count) + " entries, the file has " +
               std::to_string(entries.size()));
  }
  return entries;
}

LeaderEpochCache::LeaderEpochCache(std::filesystem::path dir) : file_(dir / kLeaderEpochCheckpointFile) {
  std::ifstream in(file_);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::system_error(errno, std::generic_category(), "read " + file_.string());
  entries_ = parse_leader_epoch_checkpoint(text.str(), file_.string());
  loaded_from_file_ = true;
}

void LeaderEpochCache::persist_locked() { ferry::atomic_write_file(file_, leader_epoch_checkpoint_text(entries_)); }

void LeaderEpochCache::assign(int32_t epoch, int64_t start_offset, bool persist) {
  if (epoch < 0) return;
  std::lock_guard lock(mu_);
  if (!entries_.empty() && entries_.back().epoch == epoch && entries_.back().start_offset <= start_offset) return;
  std::erase_if(entries_, [&](const EpochEntry& e) { return e.epoch >= epoch || e.start_offset >= start_offset; });
  entries_.push_back({epoch, start_offset});
  if (persist) persist_locked();
}

void LeaderEpochCache::truncate_from_end(int64_t end_offset) {
  std::lock_guard lock(mu_);
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const EpochEntry& e) { return e.start_offset >= end_offset; });
  if (entries_.size() != before) persist_locked();
}

void LeaderEpochCache::truncate_from_start(int64_t start_offset) {
  std::lock_guard lock(mu_);
  size_t covered = 0;  // entries starting at or below start_offset
  while (covered < entries_.size() && entries_[covered].start_offset <= start_offset) ++covered;
  if (covered == 0) return;
  EpochEntry last = entries_[covered - 1];
  if (covered == 1 && last.start_offset == start_offset) return;
  last.start_offset = start_offset;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(covered));
  entries_.insert(entries_.begin(), last);
  persist_locked();
}

std::pair<int32_t, int64_t> LeaderEpochCache::end_offset_for(int32_t epoch, int64_t log_end_offset) const {
  std::lock_guard lock(mu_);
  if (epoch < 0 || entries_.empty()) return {-1, -1};
  if (epoch == entries_.back().epoch) return {epoch, log_end_offset};
  if (epoch > entries_.back().epoch) return {-1, -1};
  if (epoch < entries_.front().epoch) return {epoch, entries_.front().start_offset};
  // The largest epoch <= `epoch`, ended by the start of the next one.
  size_t i = 0;
  while (i + 1 < entries_.size() && entries_[i + 1].epoch <= epoch) ++i;
  return {entries_[i].epoch, entries_[i + 1].start_offset};
}

std::optional<int32_t> LeaderEpochCache::latest_epoch() const {
  std::lock_guard lock(mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.back().epoch;
}

std::vector<EpochEntry> LeaderEpochCache::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}

}  // namespace ferry::storage
