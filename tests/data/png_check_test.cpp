// PNG bit rot is caught: a flipped bit anywhere in a chunk fails its CRC-32 before stb_image (which checks none)
// decodes the file, and the error names the file, the chunk and its offset.
#include "data/test_util.h"
#include "kiln/common/fs.h"
#include "kiln/common/png_check.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>  // its implementation is compiled in image_folder_test.cpp
#pragma GCC diagnostic pop

namespace kiln::data {
namespace {

using test::data_error_of;
using test::ScratchDir;

// A 16×16 grey PNG of noise-like pixels (so IDAT holds mostly literal bytes); returns its bytes.
std::string write_noise_png(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::vector<uint8_t> px(256);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7919u + 13u) % 251u);
  EXPECT_NE(stbi_write_png(path.c_str(), 16, 16, 1, px.data(), 16), 0) << path;
  return read_file(path);
}

// The byte offsets of an IDAT chunk's start and of its data's first and last byte.
struct Idat {
  size_t chunk, first, last;
};
Idat find_idat(const std::string& png) {
  const size_t type = png.find("IDAT");
  EXPECT_NE(type, std::string::npos);
  const auto* p = reinterpret_cast<const unsigned char*>(png.data()) + type - 4;
  const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | size_t{p[3]};
  return {type - 4, type + 4, type + 3 + length};
}

TEST(PngCheck, EveryFlippedBitInTheCompressedPixelsIsReportedNotDecoded) {
  ScratchDir dir;
  const std::string path = dir.file("c/noise.png");
  const std::string good = write_noise_png(path);
  const Idat idat = find_idat(good);
  auto ds = open_image_folder(dir.path().string(), {1, 16, 16});
  std::vector<uint8_t> pixels(256);
  ds->get(0, pixels.data());  // the intact file decodes
  const std::string expected =
      path + ": corrupt PNG: CRC mismatch in chunk 'IDAT' at byte " + std::to_string(idat.chunk);
  // Bits spread over the zlib header, the deflate data and the Adler-32 at the end.
  for (size_t at = idat.first; at <= idat.last; at += (idat.last - idat.first) / 7) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));
    test::write_bytes(path, bad);
    const std::string what = data_error_of([&] { ds->get(0, pixels.data()); });
    EXPECT_EQ(what.rfind(expected, 0), 0u) << "byte " << at << ": " << what;
  }
}

TEST(PngCheck, TruncatedOrOverlongChunksAreReported) {
  ScratchDir dir;
  const std::string good = write_noise_png(dir.file("n.png"));
  EXPECT_NE(data_error_of([&] { verify_png_checksums(good.substr(0, good.size() - 12), "cut.png"); })
                .find("cut.png: corrupt PNG: truncated at byte"),
            std::string::npos);
  std::string overlong = good;
  overlong[find_idat(good).chunk] = '\x7f';  // the length's top byte
  EXPECT_NE(data_error_of([&] { verify_png_checksums(overlong, "long.png"); })
                .find("long.png: corrupt PNG: chunk 'IDAT' at byte 33 claims"),
            std::string::npos);
  EXPECT_NO_THROW(verify_png_checksums("\xff\xd8\xff\xe0 a JPEG has no checksum", "x.jpg"));
}

}  // namespace
}  // namespace kiln::data
