// Decompression of record batch v2 payloads for the codecs Kafka defines in the batch attributes
// (bits 0-2: 1 gzip, 2 snappy, 3 lz4, 4 zstd; KIP-98, KIP-110 for zstd). Storage decompresses to
// check, search or compact a batch; it never compresses (the cleaner writes filtered batches back
// uncompressed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry::storage {

/// Largest decompressed records section storage will materialise for one batch. A batch that
/// inflates beyond this is refused (a compression bomb), even if it is otherwise well-formed.
inline constexpr size_t kMaxDecompressedBatchBytes = size_t{256} << 20;

/// Decompresses in[0..n) written with Kafka codec id `codec` and replaces `out` with the result.
/// gzip accepts RFC 1952 members (and zlib streams); snappy accepts both raw snappy (librdkafka)
/// and xerial-framed snappy (Java, kafka-python); lz4 is the LZ4 frame format; zstd may span
/// several frames. Returns "" on success, otherwise a human-readable reason (unknown codec,
/// corrupt stream, truncated stream, trailing garbage, or output above `max_out` bytes).
std::string decompress(int codec, const uint8_t* in, size_t n, std::vector<uint8_t>& out,
                       size_t max_out = kMaxDecompressedBatchBytes);

}  // namespace ferry::storage
