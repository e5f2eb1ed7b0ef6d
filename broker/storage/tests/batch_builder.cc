#include "broker/storage/tests/batch_builder.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "broker/storage/crc32c.h"

namespace ferry::storage::testing {
namespace {

void put_varlong(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<uint8_t>(z | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<uint8_t>(z));
}

void put_bytes(std::vector<uint8_t>& out, const std::optional<std::string>& s) {
  if (!s) {
    put_varlong(out, -1);
    return;
  }
  put_varlong(out, static_cast<int64_t>(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}

void put_be(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& raw) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::vector<uint8_t> out(deflateBound(&zs, raw.size()) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

std::vector<uint8_t> snappy_block(const uint8_t* p, size_t n) {
  size_t len = snappy_max_compressed_length(n);
  std::vector<uint8_t> out(len);
  if (snappy_compress(reinterpret_cast<const char*>(p), n, reinterpret_cast<char*>(out.data()), &len) != SNAPPY_OK) {
    throw std::runtime_error("snappy_compress");
  }
  out.resize(len);
  return out;
}

}  // namespace

std::vector<uint8_t> compress(int codec, bool xerial, const std::vector<uint8_t>& raw) {
  switch (codec) {
    case 0: return raw;
    case 1: return gzip(raw);
    case 2: {
      if (!xerial) return snappy_block(raw.data(), raw.size());
      // xerial framing with small blocks so that multi-block streams are exercised.
      std::vector<uint8_t> out = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
      put_be(out, 1, 4);
      put_be(out, 1, 4);
      const size_t block = 64;
      for (size_t pos = 0; pos < raw.size(); pos += block) {
        auto b = snappy_block(raw.data() + pos, std::min(block, raw.size() - pos));
        put_be(out, b.size(), 4);
        out.insert(out.end(), b.begin(), b.end());
      }
      return out;
    }
    case 3: {
      std::vector<uint8_t> out(LZ4F_compressFrameBound(raw.size(), nullptr));
      size_t n = LZ4F_compressFrame(out.data(), out.size(), raw.data(), raw.size(), nullptr);
      if (LZ4F_isError(n)) throw std::runtime_error("LZ4F_compressFrame");
      out.resize(n);
      return out;
    }
    case 4: {
      std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
      size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
      if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
      out.resize(n);
      return out;
    }
    default: return raw;  // unknown codec: leave the bytes as they are
  }
}

std::vector<uint8_t> encode_record(const TestRecord& r, int32_t offset_delta) {
  std::vector<uint8_t> body;
  body.push_back(0);  // attributes
  put_varlong(body, r.timestamp_delta);
  put_varlong(body, offset_delta);
  put_bytes(body, r.key);
  put_bytes(body, r.value);
  put_varlong(body, static_cast<int64_t>(r.headers.size()));
  for (const auto& [k, v] : r.headers) {
    put_bytes(body, k);
    put_bytes(body, v);
  }
  std::vector<uint8_t> out;
  put_varlong(out, static_cast<int64_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<uint8_t> encode_batch(const BatchSpec& s) {
  std::vector<uint8_t> records;
  int64_t max_delta = 0;
  for (size_t i = 0; i < s.records.size(); ++i) {
    int32_t delta = i < s.offset_deltas.size() ? s.offset_deltas[i] : static_cast<int32_t>(i);
    auto r = encode_record(s.records[i], delta);
    records.insert(records.end(), r.begin(), r.end());
    max_delta = std::max(max_delta, s.records[i].timestamp_delta);
  }
  if (s.mutate_records) s.mutate_records(records);
  std::vector<uint8_t> payload = compress(s.codec, s.xerial, records);

  auto count = static_cast<int32_t>(s.records.size());
  std::vector<uint8_t> b;
  put_be(b, static_cast<uint64_t>(s.base_offset), 8);
  put_be(b, static_cast<uint64_t>(kBatchHeaderSize - kLogOverhead + payload.size()), 4);
  put_be(b, static_cast<uint32_t>(s.partition_leader_epoch), 4);
  b.push_back(static_cast<uint8_t>(s.magic));
  put_be(b, 0, 4);  // crc, filled below
  put_be(b, static_cast<uint16_t>(s.codec | s.extra_attributes), 2);
  put_be(b, static_cast<uint32_t>(s.last_offset_delta.value_or(count - 1)), 4);
  put_be(b, static_cast<uint64_t>(s.base_timestamp), 8);
  put_be(b, static_cast<uint64_t>(s.max_timestamp.value_or(s.base_timestamp + max_delta)), 8);
  put_be(b, static_cast<uint64_t>(-1), 8);  // producer id
  put_be(b, static_cast<uint16_t>(-1), 2);  // producer epoch
  put_be(b, static_cast<uint32_t>(-1), 4);  // base sequence
  put_be(b, static_cast<uint32_t>(s.record_count.value_or(count)), 4);
  b.insert(b.end(), payload.begin(), payload.end());
  uint32_t crc = crc32c(b.data() + 21, b.size() - 21);
  for (int i = 0; i < 4; ++i) b[17 + i] = static_cast<uint8_t>(crc >> (8 * (3 - i)));
  return b;
}

BatchSpec simple_spec(int n, int64_t base_ts, size_t value_size, int codec) {
  BatchSpec s;
  s.base_timestamp = base_ts;
  s.codec = codec;
  for (int i = 0; i < n; ++i) {
    TestRecord r;
    r.key = "k" + std::to_string(i);
    r.value = std::string(value_size, static_cast<char>('a' + i % 26));
    r.timestamp_delta = 10 * i;
    s.records.push_back(r);
  }
  return s;
}

std::vector<uint8_t> simple_batch(int n, int64_t base_ts, size_t value_size, int codec) {
  return encode_batch(simple_spec(n, base_ts, value_size, codec));
}

std::vector<BatchHeader> headers_of(const std::vector<uint8_t>& blob) {
  auto v = validate_produce_records(blob.data(), blob.size(), INT32_MAX);
  EXPECT_EQ(v.error, errc::ok) << v.message;
  return v.batches;
}

std::vector<std::vector<uint8_t>> split_batches(const std::vector<uint8_t>& blob) {
  std::vector<std::vector<uint8_t>> out;
  size_t pos = 0;
  while (pos < blob.size()) {
    auto h = parse_batch_header(blob.data() + pos, blob.size() - pos);
    if (!h || h->size_in_bytes() > blob.size() - pos) {
      ADD_FAILURE() << "blob is not whole batches at byte " << pos;
      break;
    }
    out.emplace_back(blob.begin() + static_cast<std::ptrdiff_t>(pos),
                     blob.begin() + static_cast<std::ptrdiff_t>(pos + h->size_in_bytes()));
    pos += h->size_in_bytes();
  }
  return out;
}

Stored append_ok(Log& log, std::vector<uint8_t> blob, int64_t now_ms, int32_t epoch) {
  auto v = validate_produce_records(blob.data(), blob.size(), INT32_MAX);
  EXPECT_EQ(v.error, errc::ok) << v.message;
  int64_t leo = log.log_end_offset();
  auto [e, res] = log.append(blob, v.batches, epoch, now_ms);
  EXPECT_EQ(e, errc::ok) << to_string(e);
  EXPECT_EQ(res.base_offset, leo);
  return Stored{res.base_offset, res.last_offset, blob};
}

std::vector<uint8_t> concat(const std::vector<Stored>& stored, size_t from, size_t to) {
  std::vector<uint8_t> out;
  for (size_t i = from; i < std::min(to, stored.size()); ++i) out.insert(out.end(), stored[i].bytes.begin(), stored[i].bytes.end());
  return out;
}

size_t batch_containing(const std::vector<Stored>& stored, int64_t offset) {
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].base <= offset && offset <= stored[i].last) return i;
  }
  ADD_FAILURE() << "no stored batch holds offset " << offset;
  return stored.size();
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ferry-storage-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> files_with_ext(const std::filesystem::path& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ext) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int descriptors_in(const std::filesystem::path& dir) {
  const auto canonical = std::filesystem::canonical(dir);
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.parent_path() == canonical) ++n;
  }
  return n;
}

std::set<int64_t> segment_bases(const std::filesystem::path& dir) {
  std::set<int64_t> out;
  for (const auto& name : files_with_ext(dir, ".log")) out.insert(std::stoll(name.substr(0, 20)));
  return out;
}

std::vector<uint8_t> read_all(const Log& log, int64_t from) {
  auto [e, data] = log.read(from, INT32_MAX, INT64_MAX, true);
  EXPECT_EQ(e, errc::ok) << to_string(e) << " reading from " << from;
  return data.records;
}

}  // namespace ferry::storage::testing
