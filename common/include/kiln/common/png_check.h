// PNG integrity: stb_image decodes PNGs without checking their CRCs, so a flipped bit in the compressed pixels
// changes pixels silently. This checks every chunk's CRC-32 before decoding (docs/formats.md, "Source images").
#pragma once
#include <string>

namespace kiln {

// When `bytes` is a PNG (its signature), checks that the chunks are whole (up to IEND) and that each chunk's CRC-32
// matches its type and data; throws DataError naming `name`, the chunk and its byte offset otherwise. Other formats
// (JPEG, BMP, ...) have no checksum and pass unchecked. The zlib stream's Adler-32 lies inside the IDAT chunks, so
// their CRCs cover it as well.
void verify_png_checksums(const std::string& bytes, const std::string& name);

}  // namespace kiln
