// Drawing on 8-bit RGB images, for annotated inference output: the caption banner classification inference puts
// above each image, labelled boxes, and PNG encoding. Text is stb_easy_font's built-in 8-pixel-ish glyphs, scaled by
// whole pixels; only printable ASCII is drawn (anything else prints as '?'). Every drawing function clips to the image.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).
struct RgbImage {
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
};

using Rgb = std::array<uint8_t, 3>;

// An 8-bit CHW image of 1 (grey, replicated) or 3 channels as RGB.
RgbImage rgb_from_chw(const uint8_t* chw, int channels, int height, int width);

// Nearest-neighbour upscale by an integer factor.
RgbImage upscale_nearest(const RgbImage& image, int factor);
// The upscale factor annotation uses: 4 when either side is under 64 pixels (so the caption is readable), else 1.
int annotation_upscale(int height, int width);
// Image pixels per font pixel for text drawn on an image `width` pixels wide: 1 up to 255 pixels, then growing with
// the width (capped at 6).
int annotation_font_scale(int width);
// Height in pixels of the caption banner annotate_image() puts above an image `width` pixels wide (after upscaling);
// also the height of draw_box()'s caption label.
int annotation_banner_height(int width);
// The annotated copy: the image upscaled by annotation_upscale(), below a dark banner of annotation_banner_height()
// rows with `caption` in white (non-ASCII characters print as '?', text past the right edge is clipped). The image
// pixels themselves are not drawn over.
RgbImage annotate_image(const RgbImage& image, const std::string& caption);
// PNG file bytes of an RGB image (stb_image_write).
std::string encode_png(const RgbImage& image);

// ---- Drawing primitives (in place; coordinates in pixels, x right and y down from the top-left corner) ----

// Fills [x0, x1) × [y0, y1) with `colour`.
void fill_rect(RgbImage& image, int x0, int y0, int x1, int y1, Rgb colour);
// Width and height in pixels of `text` drawn with draw_text() at `scale` (one line: the height is the line's).
int text_width(const std::string& text, int scale);
int text_height(int scale);
// Draws `text` with its top-left corner at (x, y), each font pixel a `scale` × `scale` square of `colour`; the
// background is left as it is.
void draw_text(RgbImage& image, int x, int y, const std::string& text, int scale, Rgb colour);
// Outlines the box [x0, x1) × [y0, y1) in `colour`, with a border `thickness` pixels wide inside the box (edges
// outside the image are not drawn). A non-empty `caption` goes on a label of `colour` with black or white text
// (whichever reads better) at `font_scale` (0: annotation_font_scale(image.width)), just above the box's top-left
// corner, or just inside it when the box touches the top of the image.
void draw_box(RgbImage& image, int x0, int y0, int x1, int y1, Rgb colour, const std::string& caption = "",
              int thickness = 2, int font_scale = 0);

}  // namespace kiln::runtime
