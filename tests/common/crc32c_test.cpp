#include "kiln/common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

uint32_t of(const std::string& s) { return crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// The check values of the CRC-32C catalogue and RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, KnownValues) {
  EXPECT_EQ(of(""), 0x00000000u);
  EXPECT_EQ(of("123456789"), 0xE3069283u);
  EXPECT_EQ(of(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(of(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32c, MaskedAsTfRecordMasksIt) {
  const std::string s = "123456789";
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(masked_crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()),
            static_cast<uint32_t>(((crc >> 15) | (crc << 17)) + 0xa282ead8u));
}

}  // namespace
}  // namespace kiln
