#include "broker/storage/crc32c.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace ferry::storage {
namespace {

// RFC 3720 appendix B.4 "CRC Examples" (the RFC prints the CRC bytes least significant first).
TEST(Crc32c, Rfc3720Vectors) {
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xff), inc(32), dec(32);
  std::iota(inc.begin(), inc.end(), 0);
  for (int i = 0; i < 32; ++i) dec[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c(dec.data(), dec.size()), 0x113FDB5Cu);

  // The iSCSI SCSI Read (10) command PDU from the same appendix.
  std::vector<uint8_t> pdu(48, 0);
  pdu[0] = 0x01;
  pdu[1] = 0xc0;
  pdu[16] = 0x14;
  pdu[22] = 0x04;
  pdu[27] = 0x14;
  pdu[31] = 0x18;
  pdu[32] = 0x28;
  pdu[40] = 0x02;
  EXPECT_EQ(crc32c(pdu.data(), pdu.size()), 0xD9963A56u);
}

TEST(Crc32c, CheckValueAndEmptyInput) {
  std::string s = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, ChainingEqualsOneShotAndPathsAgree) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(4099);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  uint32_t whole = crc32c(data.data(), data.size());
  EXPECT_EQ(whole, detail::crc32c_software(data.data(), data.size()));
  for (size_t cut : {0ul, 1ul, 7ul, 8ul, 9ul, 1000ul, 4098ul, 4099ul}) {
    uint32_t first = crc32c(data.data(), cut);
    EXPECT_EQ(crc32c(data.data() + cut, data.size() - cut, first), whole) << "cut at " << cut;
  }
  // Unaligned starts and odd lengths through both implementations.
  for (size_t off = 0; off < 9; ++off) {
    for (size_t len : {0ul, 1ul, 3ul, 15ul, 16ul, 17ul, 255ul}) {
      EXPECT_EQ(crc32c(data.data() + off, len), detail::crc32c_software(data.data() + off, len)) << off << "+" << len;
    }
  }
}

TEST(Crc32c, DetectsSingleBitFlips) {
  std::vector<uint8_t> data(64, 0x5a);
  uint32_t base = crc32c(data.data(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] ^= 0x10;
    EXPECT_NE(crc32c(data.data(), data.size()), base);
    data[i] ^= 0x10;
  }
}

}  // namespace
}  // namespace ferry::storage
