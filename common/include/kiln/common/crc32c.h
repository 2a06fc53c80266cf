// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord files (TensorBoard's event files) check their
// records with it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kiln {

uint32_t crc32c(const uint8_t* data, size_t size);

// TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xa282ead8, so a CRC of data that holds CRCs stays
// well distributed.
uint32_t masked_crc32c(const uint8_t* data, size_t size);

}  // namespace kiln
