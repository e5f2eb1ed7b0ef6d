// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record batch v2
// (KIP-98) and of iSCSI (RFC 3720 section 12.1, test vectors in appendix B.4).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ferry::storage {

/// CRC-32C of data[0..n). `crc` is a previous result to continue from, so
/// crc32c(b, nb, crc32c(a, na)) == crc32c(a ++ b). Uses the SSE4.2 CRC32 instruction when the CPU
/// has it, a slicing-by-8 table otherwise; both give identical results.
uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

namespace detail {
/// The table-driven path alone, same contract as crc32c(); lets tests compare both paths.
uint32_t crc32c_software(const uint8_t* data, size_t n, uint32_t crc = 0);
}  // namespace detail

}  // namespace ferry::storage
