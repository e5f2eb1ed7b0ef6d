#include "broker/storage/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "broker/storage/bytes.h"

namespace ferry::storage {
namespace {

// Output buffer that grows geometrically up to one byte past the limit, so "too large" is
// detected by producing that extra byte rather than by trusting any size the stream claims.
class Sink {
 public:
  Sink(std::vector<uint8_t>& out, size_t n_in, size_t max_out) : out_(out), max_out_(max_out) {
    out_.clear();
    out_.resize(std::min(max_out_ + 1, std::max<size_t>(n_in * 4, 64 * 1024)));
  }
  uint8_t* free_ptr() { return out_.data() + produced_; }
  size_t free_bytes() const { return out_.size() - produced_; }
  void commit(size_t n) { produced_ += n; }
  bool over_limit() const { return produced_ > max_out_; }
  // Makes room for more output; false when the limit is already reached.
  bool grow() {
    if (out_.size() > max_out_) return false;
    out_.resize(std::min(max_out_ + 1, out_.size() * 2));
    return true;
  }
  std::string finish() {
    if (over_limit()) return too_large();
    out_.resize(produced_);
    return {};
  }
  std::string too_large() const { return fmt::format("decompressed size exceeds {} bytes", max_out_); }

 private:
  std::vector<uint8_t>& out_;
  size_t max_out_;
  size_t produced_ = 0;
};

std::string gunzip(const uint8_t* in, size_t n, Sink& sink) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return "zlib init failed";
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = const_cast<Bytef*>(in);
  zs.avail_in = static_cast<uInt>(n);
  for (;;) {
    if (sink.free_bytes() == 0 && !sink.grow()) return sink.too_large();
    zs.next_out = sink.free_ptr();
    zs.avail_out = static_cast<uInt>(std::min<size_t>(sink.free_bytes(), UINT32_MAX));
    uInt before = zs.avail_out;
    int rc = inflate(&zs, Z_NO_FLUSH);
    sink.commit(before - zs.avail_out);
    if (sink.over_limit()) return sink.too_large();
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return sink.finish();
      // Concatenated gzip members are legal (RFC 1952 section 2.2).
      if (inflateReset(&zs) != Z_OK) return "zlib reset failed";
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) return "gzip stream is truncated";
    if (rc != Z_OK && rc != Z_BUF_ERROR) return fmt::format("gzip: {}", zs.msg ? zs.msg : "corrupt stream");
  }
}

std::string snappy_raw(const uint8_t* in, size_t n, Sink& sink) {
  size_t len = 0;
  auto src = reinterpret_cast<const char*>(in);
  if (snappy_uncompressed_length(src, n, &len) != SNAPPY_OK) return "snappy: corrupt length";
  while (sink.free_bytes() < len) {
    if (!sink.grow()) return sink.too_large();
  }
  if (snappy_uncompress(src, n, reinterpret_cast<char*>(sink.free_ptr()), &len) != SNAPPY_OK) {
    return "snappy: corrupt block";
  }
  sink.commit(len);
  return {};
}

// xerial snappy-java framing: 8-byte magic, int32 version, int32 compatible version, then blocks
// of int32 big-endian compressed length + raw snappy block.
constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

std::string snappy_any(const uint8_t* in, size_t n, Sink& sink) {
  if (n < 16 || std::memcmp(in, kXerialMagic, sizeof kXerialMagic) != 0) {
    std::string err = snappy_raw(in, n, sink);
    return err.empty() ? sink.finish() : err;
  }
  size_t pos = 16;
  while (pos < n) {
    if (n - pos < 4) return "xerial snappy: truncated block length";
    uint32_t len = bytes::load_be32(in + pos);
    pos += 4;
    if (len > n - pos) return "xerial snappy: block runs past the end";
    std::string err = snappy_raw(in + pos, len, sink);
    if (!err.empty()) return err;
    pos += len;
  }
  return sink.finish();
}

std::string lz4_frame(const uint8_t* in, size_t n, Sink& sink) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) return "lz4 init failed";
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> guard(ctx, LZ4F_freeDecompressionContext);
  size_t pos = 0;
  for (;;) {
    if (sink.free_bytes() == 0 && !sink.grow()) return sink.too_large();
    size_t room = sink.free_bytes();
    size_t dst = room;
    size_t src = n - pos;
    size_t hint = LZ4F_decompress(ctx, sink.free_ptr(), &dst, in + pos, &src, nullptr);
    if (LZ4F_isError(hint)) return fmt::format("lz4: {}", LZ4F_getErrorName(hint));
    pos += src;
    sink.commit(dst);
    if (sink.over_limit()) return sink.too_large();
    if (pos == n && hint == 0) return sink.finish();
    if (pos == n && dst < room) return "lz4 frame is truncated";
  }
}

std::string zstd_frames(const uint8_t* in, size_t n, Sink& sink) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return "zstd init failed";
  ZSTD_inBuffer ib{in, n, 0};
  for (;;) {
    if (sink.free_bytes() == 0 && !sink.grow()) return sink.too_large();
    size_t room = sink.free_bytes();
    ZSTD_outBuffer ob{sink.free_ptr(), room, 0};
    size_t rc = ZSTD_decompressStream(ctx.get(), &ob, &ib);
    if (ZSTD_isError(rc)) return fmt::format("zstd: {}", ZSTD_getErrorName(rc));
    sink.commit(ob.pos);
    if (sink.over_limit()) return sink.too_large();
    if (ib.pos == ib.size && rc == 0) return sink.finish();
    if (ib.pos == ib.size && ob.pos < room) return "zstd frame is truncated";
  }
}

}  // namespace

std::string decompress(int codec, const uint8_t* in, size_t n, std::vector<uint8_t>& out, size_t max_out) {
  Sink sink(out, n, max_out);
  switch (codec) {
    case 1: return gunzip(in, n, sink);
    case 2: return snappy_any(in, n, sink);
    case 3: return lz4_frame(in, n, sink);
    case 4: return zstd_frames(in, n, sink);
    default: return fmt::format("unknown compression codec {}", codec);
  }
}

}  // namespace ferry::storage
