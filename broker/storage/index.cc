#include "broker/storage/index.h"

#include <fcntl.h>

#include <fmt/format.h>

#include "broker/storage/bytes.h"
#include "broker/storage/file_io.h"

namespace ferry::storage {
namespace {

void encode(const OffsetIndexEntry& e, uint8_t* p) {
  bytes::store_be32(p, e.relative_offset);
  bytes::store_be32(p + 4, e.position);
}

void encode(const TimeIndexEntry& e, uint8_t* p) {
  bytes::store_be64(p, static_cast<uint64_t>(e.timestamp));
  bytes::store_be32(p + 8, e.relative_offset);
}

void decode(const uint8_t* p, OffsetIndexEntry* e) {
  e->relative_offset = bytes::load_be32(p);
  e->position = bytes::load_be32(p + 4);
}

void decode(const uint8_t* p, TimeIndexEntry* e) {
  e->timestamp = static_cast<int64_t>(bytes::load_be64(p));
  e->relative_offset = bytes::load_be32(p + 8);
}

/// A descriptor held for one operation only.
struct ScopedFd {
  int fd;
  ~ScopedFd() { file_io::close_quietly(fd); }
};

}  // namespace

template <typename Entry>
std::string IndexFile<Entry>::open(const std::filesystem::path& path, bool* existed) {
  close();
  path_ = path;
  std::error_code ec;
  *existed = std::filesystem::exists(path, ec);
  ScopedFd file{file_io::open_or_throw(path, O_RDWR | O_CREAT)};
  dirty_ = !*existed;  // a new, empty file: its directory entry is made durable by the first sync
  int64_t size = file_io::file_size(file.fd, path);
  entries_.clear();
  if (size % static_cast<int64_t>(kEntrySize) != 0) {
    return fmt::format("size {} is not a multiple of the {}-byte entry", size, kEntrySize);
  }
  std::vector<uint8_t> raw(static_cast<size_t>(size));
  if (file_io::pread_full(file.fd, raw.data(), raw.size(), 0, path) != raw.size()) {
    return "file shrank while being read";
  }
  entries_.resize(raw.size() / kEntrySize);
  for (size_t i = 0; i < entries_.size(); ++i) decode(raw.data() + i * kEntrySize, &entries_[i]);
  return {};
}

template <typename Entry>
void IndexFile<Entry>::append(const std::vector<Entry>& more) {
  if (more.empty()) return;
  std::vector<uint8_t> raw(more.size() * kEntrySize);
  for (size_t i = 0; i < more.size(); ++i) encode(more[i], raw.data() + i * kEntrySize);
  ScopedFd file{file_io::open_or_throw(path_, O_RDWR)};
  file_io::pwrite_full(file.fd, raw.data(), raw.size(), static_cast<int64_t>(entries_.size() * kEntrySize), path_);
  dirty_ = true;
  entries_.insert(entries_.end(), more.begin(), more.end());
}

template <typename Entry>
void IndexFile<Entry>::rewrite(std::vector<Entry> entries) {
  std::vector<uint8_t> raw(entries.size() * kEntrySize);
  for (size_t i = 0; i < entries.size(); ++i) encode(entries[i], raw.data() + i * kEntrySize);
  ScopedFd file{file_io::open_or_throw(path_, O_RDWR)};
  file_io::ftruncate_or_throw(file.fd, 0, path_);
  file_io::pwrite_full(file.fd, raw.data(), raw.size(), 0, path_);
  dirty_ = true;
  entries_ = std::move(entries);
}

template <typename Entry>
void IndexFile<Entry>::sync() {
  if (!dirty_ || path_.empty()) return;
  ScopedFd file{file_io::open_or_throw(path_, O_RDWR)};
  file_io::fsync_or_throw(file.fd, path_);
  dirty_ = false;
}

template <typename Entry>
void IndexFile<Entry>::close() {
  dirty_ = false;  // a closed index (a segment rolled or deleted) is not synced again
}

template class IndexFile<OffsetIndexEntry>;
template class IndexFile<TimeIndexEntry>;

}  // namespace ferry::storage
