// Drawing on RGB images for annotated inference output (annotate.h): the caption banner, labelled boxes, text from
// stb_easy_font's glyph quads, and PNG encoding with stb_image_write.
#include "kiln/runtime/annotate.h"

#include <algorithm>
#include <cstring>

#include "kiln/common/error.h"

// stb, compiled into this file with internal linkage (stb_easy_font is all static functions).
#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if __has_include(<stb_image_write.h>)
#include <stb_easy_font.h>
#include <stb_image_write.h>
#else
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>
#endif
#include "kiln/common/third_party_end.h"

namespace kiln::runtime {
namespace {

constexpr int kFontPad = 2;          // font pixels around a caption
constexpr int kFontLineHeight = 12;  // stb_easy_font's line advance

// stb_easy_font indexes its tables by (char - 32): only printable ASCII may reach it.
std::string printable(const std::string& text) {
  std::string s = text;
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
  return s;
}

// Black text on light label colours, white on dark ones (ITU-R BT.601 luma).
Rgb text_colour_on(Rgb background) {
  const int luma = 299 * background[0] + 587 * background[1] + 114 * background[2];
  return luma > 140 * 1000 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

}  // namespace

RgbImage rgb_from_chw(const uint8_t* chw, int channels, int height, int width) {
  RgbImage img;
  img.height = height, img.width = width;
  const size_t plane = static_cast<size_t>(height) * static_cast<size_t>(width);
  img.pixels.resize(plane * 3);
  for (size_t p = 0; p < plane; ++p) {
    for (size_t c = 0; c < 3; ++c) img.pixels[3 * p + c] = chw[(channels == 1 ? 0 : c) * plane + p];
  }
  return img;
}

RgbImage upscale_nearest(const RgbImage& image, int factor) {
  if (factor <= 1) return image;
  RgbImage out;
  out.height = image.height * factor, out.width = image.width * factor;
  out.pixels.resize(static_cast<size_t>(out.height) * out.width * 3);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = image.pixels.data() + static_cast<size_t>(y / factor) * image.width * 3;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * out.width * 3;
    for (int x = 0; x < out.width; ++x) std::memcpy(dst + 3 * x, src + 3 * (x / factor), 3);
  }
  return out;
}

int annotation_upscale(int height, int width) { return height < 64 || width < 64 ? 4 : 1; }

int annotation_font_scale(int width) { return std::clamp(width / 256 + 1, 1, 6); }

int annotation_banner_height(int width) { return (kFontLineHeight + 2 * kFontPad) * annotation_font_scale(width); }

void fill_rect(RgbImage& image, int x0, int y0, int x1, int y1, Rgb colour) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, image.width), y1 = std::min(y1, image.height);
  for (int y = y0; y < y1; ++y) {
    uint8_t* row = image.pixels.data() + static_cast<size_t>(y) * image.width * 3;
    for (int x = x0; x < x1; ++x) std::memcpy(row + 3 * x, colour.data(), 3);
  }
}

int text_width(const std::string& text, int scale) {
  std::string s = printable(text);
  return stb_easy_font_width(s.data()) * scale;
}

int text_height(int scale) { return kFontLineHeight * scale; }

void draw_text(RgbImage& image, int x, int y, const std::string& text, int scale, Rgb colour) {
  std::string s = printable(text);
  std::vector<char> quads(s.size() * 300 + 64);
  const int n = stb_easy_font_print(0.f, 0.f, s.data(), nullptr, quads.data(), static_cast<int>(quads.size()));
  // Each quad is 4 vertices of {float x, y, z; uint8 rgba[4]} (16 bytes), an axis-aligned rectangle in font pixels
  // (whole numbers: stb_easy_font's segments and advances are integers).
  for (int q = 0; q < n; ++q) {
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
    for (int v = 0; v < 4; ++v) {
      float xy[2];
      std::memcpy(xy, quads.data() + (q * 4 + v) * 16, sizeof xy);
      x0 = std::min(x0, xy[0]), x1 = std::max(x1, xy[0]);
      y0 = std::min(y0, xy[1]), y1 = std::max(y1, xy[1]);
    }
    fill_rect(image, x + static_cast<int>(x0 * scale), y + static_cast<int>(y0 * scale),
              x + static_cast<int>(x1 * scale), y + static_cast<int>(y1 * scale), colour);
  }
}

void draw_box(RgbImage& image, int x0, int y0, int x1, int y1, Rgb colour, const std::string& caption,
              int thickness, int font_scale) {
  if (x1 <= x0 || y1 <= y0) return;
  const int t = std::max(1, thickness);
  fill_rect(image, x0, y0, x1, y0 + t, colour);  // top
  fill_rect(image, x0, y1 - t, x1, y1, colour);  // bottom
  fill_rect(image, x0, y0, x0 + t, y1, colour);  // left
  fill_rect(image, x1 - t, y0, x1, y1, colour);  // right
  if (caption.empty()) return;
  const int scale = font_scale > 0 ? font_scale : annotation_font_scale(image.width);
  const int height = (kFontLineHeight + 2 * kFontPad) * scale;
  const int pad = kFontPad * scale, width = text_width(caption, scale) + 2 * pad;
  const int lx = std::max(0, x0), ly = y0 >= height ? y0 - height : std::max(0, y0);
  fill_rect(image, lx, ly, lx + width, ly + height, colour);
  draw_text(image, lx + pad, ly + pad, caption, scale, text_colour_on(colour));
}

RgbImage annotate_image(const RgbImage& image, const std::string& caption) {
  const RgbImage big = upscale_nearest(image, annotation_upscale(image.height, image.width));
  const int scale = annotation_font_scale(big.width);
  RgbImage out;  // the banner first, so that the caption is clipped to it
  out.width = big.width, out.height = annotation_banner_height(big.width);
  out.pixels.assign(static_cast<size_t>(out.width) * out.height * 3, 32);  // dark grey
  draw_text(out, kFontPad * scale, kFontPad * scale, caption, scale, {255, 255, 255});
  out.height += big.height;
  out.pixels.insert(out.pixels.end(), big.pixels.begin(), big.pixels.end());
  return out;
}

std::string encode_png(const RgbImage& image) {
  std::string bytes;
  const int ok = stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &bytes, image.width, image.height, 3, image.pixels.data(), image.width * 3);
  if (!ok) throw Error("PNG encoding failed for a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                       " image");
  return bytes;
}

}  // namespace kiln::runtime
