// Synthetic KITTI detection data from Fashion-MNIST items (synth.h, docs/synth_kitti.md).
#include "kiln/detection/synth.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/common/byte_io.h"
#include "rng.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"

namespace kiln::detection {
namespace {

// stb's PNG writer with zlib's deflate (faster and smaller than stb's own); compiled into this file only.
unsigned char* zlib_compress_for_stb(unsigned char* data, int data_len, int* out_len, int /*quality*/) {
  uLongf size = compressBound(static_cast<uLong>(data_len));
  auto* out = static_cast<unsigned char*>(std::malloc(size));
  if (out == nullptr) return nullptr;
  if (compress2(out, &size, data, static_cast<uLong>(data_len), 6) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_len = static_cast<int>(size);
  return out;
}

}  // namespace
}  // namespace kiln::detection

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ZLIB_COMPRESS kiln::detection::zlib_compress_for_stb
#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;

namespace kiln::detection {
namespace {

// ---- Tuning (docs/synth_kitti.md) ----
constexpr int kMaskThreshold = 26;          // item pixels >= this (of 255) belong to the object: box, alpha, occlusion
constexpr double kMinSide = 0.125;          // box longest side, as a fraction of min(W, H): 20..64 px at 160x160
constexpr double kMaxSide = 0.40;
constexpr double kAspectJitter = 0.10;      // width/height scaled by exp(+-0.10) against each other
constexpr double kMaxOccludedFraction = 0.30;  // an object keeps >= 70% of its pixels visible
constexpr double kOccludedLabelFraction = 0.01;  // KITTI occluded = 1 when >= 1% of its pixels are hidden
constexpr float kMaxBoxIou = 0.5f;          // no two boxes overlap more than this
constexpr int kAttemptsPerObject = 60;      // placements tried per object (a new item/scale every 15)
constexpr int kSceneRestarts = 20;          // when fewer than min_objects fit, start the scene's objects again
constexpr int kMinImageSide = 32, kMaxImageSide = 4096;
constexpr int kMaxObjects = 50;
constexpr int kMaxImages = 1000000;

using detail::Rng;
using bytes::mix64;

uint64_t scene_seed(uint64_t seed, int split, int index) {
  return mix64(seed) ^ mix64((static_cast<uint64_t>(split + 1) << 32) | static_cast<uint32_t>(index));
}

// ---- Fashion-MNIST ----

struct ItemSet {
  std::string images_path;
  int rows = 0, cols = 0;
  size_t count = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols (the IDX file with its header)
  size_t offset = 16;
  std::vector<uint8_t> labels;  // count, 8-byte header stripped
  const uint8_t* item(size_t i) const { return pixels.data() + offset + i * rows * cols; }
};

uint32_t be32(const std::vector<uint8_t>& b, size_t at) { return bytes::load_u32_be(b.data() + at); }

ItemSet load_items(const std::string& images_path, const std::string& labels_path) {
  ItemSet set;
  set.images_path = images_path;
  set.pixels = bytes::read_maybe_gzip(images_path);
  const auto& px = set.pixels;
  if (px.size() < 16 || be32(px, 0) != 0x00000803)
    throw DataError(log::cat(images_path, ": not an IDX file of unsigned bytes with 3 dimensions"));
  set.count = be32(px, 4);
  set.rows = static_cast<int>(be32(px, 8));
  set.cols = static_cast<int>(be32(px, 12));
  if (set.count == 0 || set.rows < 8 || set.cols < 8 || set.rows > 1024 || set.cols > 1024 ||
      px.size() != 16 + set.count * set.rows * set.cols)
    throw DataError(log::cat(images_path, ": IDX header says ", set.count, " images of ", set.rows, "x", set.cols,
                             " but the file holds ", px.size(), " bytes"));
  std::vector<uint8_t> lb = bytes::read_maybe_gzip(labels_path);
  if (lb.size() < 8 || be32(lb, 0) != 0x00000801)
    throw DataError(log::cat(labels_path, ": not an IDX file of unsigned bytes with 1 dimension"));
  if (be32(lb, 4) != set.count || lb.size() != 8 + set.count)
    throw DataError(log::cat(labels_path, ": ", be32(lb, 4), " labels (", lb.size(), " bytes) for ", set.count,
                             " images in ", images_path));
  set.labels.assign(lb.begin() + 8, lb.end());
  for (size_t i = 0; i < set.count; ++i)
    if (set.labels[i] >= kSynthClasses.size())
      throw DataError(log::cat(labels_path, ": record ", i, ": label ", int{set.labels[i]}, " is not 0..9"));
  return set;
}

// ---- Rendering ----

struct Sprite {
  int w = 0, h = 0;
  std::vector<float> v;  // w*h intensities 0..255 (bilinear resize of the item)
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // tight box of pixels >= kMaskThreshold, inclusive
};

// Bilinear resize of a rows x cols item to w x h (pixel centres aligned, edges clamped).
Sprite resize_item(const uint8_t* src, int rows, int cols, int w, int h) {
  Sprite s;
  s.w = w;
  s.h = h;
  s.v.resize(static_cast<size_t>(w) * h);
  std::vector<int> xa(w), xb(w);
  std::vector<float> xt(w);
  for (int x = 0; x < w; ++x) {
    const float fx = std::clamp((x + 0.5f) * cols / w - 0.5f, 0.f, static_cast<float>(cols - 1));
    xa[x] = static_cast<int>(fx);
    xb[x] = std::min(xa[x] + 1, cols - 1);
    xt[x] = fx - xa[x];
  }
  s.x0 = w;
  s.y0 = h;
  for (int y = 0; y < h; ++y) {
    const float fy = std::clamp((y + 0.5f) * rows / h - 0.5f, 0.f, static_cast<float>(rows - 1));
    const int ya = static_cast<int>(fy), yb = std::min(ya + 1, rows - 1);
    const float ty = fy - ya;
    const uint8_t* ra = src + ya * cols;
    const uint8_t* rb = src + yb * cols;
    for (int x = 0; x < w; ++x) {
      const float top = ra[xa[x]] + (ra[xb[x]] - ra[xa[x]]) * xt[x];
      const float bottom = rb[xa[x]] + (rb[xb[x]] - rb[xa[x]]) * xt[x];
      const float v = top + (bottom - top) * ty;
      s.v[static_cast<size_t>(y) * w + x] = v;
      if (v >= kMaskThreshold) {
        s.x0 = std::min(s.x0, x);
        s.x1 = std::max(s.x1, x);
        s.y0 = std::min(s.y0, y);
        s.y1 = std::max(s.y1, y);
      }
    }
  }
  return s;
}

// Tight box of an item's pixels >= kMaskThreshold at its own resolution; false when it has none.
bool source_box(const uint8_t* src, int rows, int cols, int& bw, int& bh) {
  int x0 = cols, y0 = rows, x1 = -1, y1 = -1;
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      if (src[y * cols + x] >= kMaskThreshold) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  bw = x1 - x0 + 1;
  bh = y1 - y0 + 1;
  return x1 >= 0;
}

// One octave of value noise: random values on a grid of `cell` pixels, smoothstep-interpolated, added to `field`
// with weight `amp`.
void add_value_noise(std::vector<float>& field, int W, int H, float cell, float amp, Rng& rng) {
  // x / cell + offset < W / cell + 1, so cells int(W / cell) + 1 and its right neighbour must exist.
  const int gw = static_cast<int>(W / cell) + 3, gh = static_cast<int>(H / cell) + 3;
  std::vector<float> grid(static_cast<size_t>(gw) * gh);
  for (auto& g : grid) g = static_cast<float>(rng.uniform(-1, 1));
  const float ox = static_cast<float>(rng.uniform(0, 1)), oy = static_cast<float>(rng.uniform(0, 1));
  std::vector<int> ix(W);
  std::vector<float> tx(W);
  for (int x = 0; x < W; ++x) {
    const float f = x / cell + ox;
    ix[x] = static_cast<int>(f);
    const float t = f - ix[x];
    tx[x] = t * t * (3 - 2 * t);
  }
  for (int y = 0; y < H; ++y) {
    const float f = y / cell + oy;
    const int iy = static_cast<int>(f);
    float ty = f - iy;
    ty = ty * ty * (3 - 2 * ty);
    const float* g0 = grid.data() + static_cast<size_t>(iy) * gw;
    const float* g1 = g0 + gw;
    float* row = field.data() + static_cast<size_t>(y) * W;
    for (int x = 0; x < W; ++x) {
      const int i = ix[x];
      const float top = g0[i] + (g0[i + 1] - g0[i]) * tx[x];
      const float bottom = g1[i] + (g1[i + 1] - g1[i]) * tx[x];
      row[x] += amp * (top + (bottom - top) * ty);
    }
  }
}

uint8_t to_u8(float v) { return static_cast<uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f)); }

// A textured background: a random base colour, three octaves of value noise (tinted per channel), a linear gradient
// and per-pixel Gaussian noise.
void render_background(std::vector<uint8_t>& rgb, int W, int H, Rng& rng) {
  std::vector<float> field(static_cast<size_t>(W) * H, 0.f);
  float cell = static_cast<float>(std::min(W, H)) / static_cast<float>(rng.uniform(2.5, 6));
  float amp = 1.f;
  for (int octave = 0; octave < 3; ++octave, cell /= 2, amp /= 2) add_value_noise(field, W, H, std::max(cell, 2.f), amp, rng);
  float base[3], gain[3];
  for (int c = 0; c < 3; ++c) {
    base[c] = static_cast<float>(rng.uniform(40, 215));
    gain[c] = static_cast<float>(rng.uniform(0.6, 1.4));
  }
  const float texture = static_cast<float>(rng.uniform(15, 60)) / 1.75f;  // field spans about +-1.75
  const float angle = static_cast<float>(rng.uniform(0, 6.283185307179586));
  const float slope = static_cast<float>(rng.uniform(0, 50)) / (std::max(W, H) * 0.5f);
  const float gx = std::cos(angle) * slope, gy = std::sin(angle) * slope;
  const float sigma = static_cast<float>(rng.uniform(2, 12));
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float t = texture * field[static_cast<size_t>(y) * W + x] + gx * (x - W * 0.5f) + gy * (y - H * 0.5f);
      uint8_t* p = rgb.data() + (static_cast<size_t>(y) * W + x) * 3;
      for (int c = 0; c < 3; ++c) p[c] = to_u8(base[c] + gain[c] * t + sigma * rng.gauss());
    }
}

float luminance(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// An object colour that contrasts with the mean luminance `bg` of where it goes: bright on dark, dark on bright.
std::array<float, 3> pick_tint(float bg, Rng& rng) {
  const float target = bg < 128 ? static_cast<float>(rng.uniform(std::min(255.f, bg + 100), 255))
                                 : static_cast<float>(rng.uniform(0, std::max(0.f, bg - 100)));
  float r[3];
  for (auto& v : r) v = static_cast<float>(rng.uniform());
  const float l = luminance(r[0], r[1], r[2]);
  const float saturation = static_cast<float>(rng.uniform(0, 0.8)) * 255;
  std::array<float, 3> tint{};
  for (int c = 0; c < 3; ++c) tint[c] = std::clamp(target + saturation * (r[c] - l), 0.f, 255.f);
  return tint;
}

struct Placed {
  KittiObject object;
  int area = 0;     // mask pixels when placed
  int visible = 0;  // mask pixels still on top
};

struct Scene {
  std::vector<uint8_t> background, rgb;
  std::vector<KittiObject> objects;
};

Scene render_scene(const ItemSet& items, const SynthOptions& o, Rng& rng) {
  const int W = o.width, H = o.height;
  Scene scene;
  scene.background.resize(static_cast<size_t>(W) * H * 3);
  render_background(scene.background, W, H, rng);
  const double short_side = std::min(W, H);
  const double min_side = std::max(4.0, kMinSide * short_side), max_side = kMaxSide * short_side;
  const int target = rng.range(o.min_objects, o.max_objects);

  std::vector<int> owner(static_cast<size_t>(W) * H);
  std::vector<Placed> placed;
  std::vector<int> covered;
  for (int restart = 0;; ++restart) {
    scene.rgb = scene.background;
    std::fill(owner.begin(), owner.end(), -1);
    placed.clear();
    for (int k = 0; k < target; ++k) {
      Sprite sprite;
      int label = 0;
      bool have_sprite = false, done = false;
      for (int attempt = 0; attempt < kAttemptsPerObject && !done; ++attempt) {
        if (attempt % 15 == 0 || !have_sprite) {
          const size_t i = static_cast<size_t>(rng.next() % items.count);
          const uint8_t* src = items.item(i);
          int bw = 0, bh = 0;
          have_sprite = false;
          if (!source_box(src, items.rows, items.cols, bw, bh) || std::max(bw, bh) < 4) continue;
          const double side = rng.uniform(min_side, max_side);
          const double f = side / std::max(bw, bh), jitter = std::exp(rng.uniform(-kAspectJitter, kAspectJitter));
          const int sw = std::max(1, static_cast<int>(std::lround(items.cols * f * jitter)));
          const int sh = std::max(1, static_cast<int>(std::lround(items.rows * f / jitter)));
          sprite = resize_item(src, items.rows, items.cols, sw, sh);
          label = items.labels[i];
          if (sprite.x1 < 0 || sprite.x1 - sprite.x0 + 1 > W || sprite.y1 - sprite.y0 + 1 > H) continue;
          have_sprite = true;
        }
        const int bw = sprite.x1 - sprite.x0 + 1, bh = sprite.y1 - sprite.y0 + 1;
        const int bx = rng.range(0, W - bw), by = rng.range(0, H - bh);
        const int ox = bx - sprite.x0, oy = by - sprite.y0;  // sprite origin in the image
        const Box box{static_cast<float>(bx), static_cast<float>(by), static_cast<float>(bx + bw),
                      static_cast<float>(by + bh)};
        bool ok = true;
        for (const auto& p : placed)
          if (iou(p.object.box, box) > kMaxBoxIou) ok = false;
        if (!ok) continue;
        // Occlusion: how many still-visible pixels of each placed object this one would cover.
        covered.assign(placed.size(), 0);
        int area = 0;
        for (int y = sprite.y0; y <= sprite.y1; ++y)
          for (int x = sprite.x0; x <= sprite.x1; ++x)
            if (sprite.v[static_cast<size_t>(y) * sprite.w + x] >= kMaskThreshold) {
              ++area;
              const int who = owner[static_cast<size_t>(oy + y) * W + (ox + x)];
              if (who >= 0) ++covered[who];
            }
        for (size_t j = 0; j < placed.size() && ok; ++j)
          if (placed[j].visible - covered[j] < (1 - kMaxOccludedFraction) * placed[j].area) ok = false;
        if (!ok) continue;

        // Accepted: colour against the current mean luminance under the box, then composite.
        double lum = 0;
        for (int y = by; y < by + bh; ++y)
          for (int x = bx; x < bx + bw; ++x) {
            const uint8_t* p = scene.rgb.data() + (static_cast<size_t>(y) * W + x) * 3;
            lum += luminance(p[0], p[1], p[2]);
          }
        const auto tint = pick_tint(static_cast<float>(lum / (static_cast<double>(bw) * bh)), rng);
        const float gain = static_cast<float>(rng.uniform(1.5, 2.5));  // alpha = intensity * gain, capped at 1
        const int me = static_cast<int>(placed.size());
        for (size_t j = 0; j < placed.size(); ++j) placed[j].visible -= covered[j];
        for (int y = sprite.y0; y <= sprite.y1; ++y)
          for (int x = sprite.x0; x <= sprite.x1; ++x) {
            const float v = sprite.v[static_cast<size_t>(y) * sprite.w + x];
            if (v < kMaskThreshold) continue;
            const size_t at = static_cast<size_t>(oy + y) * W + (ox + x);
            owner[at] = me;
            const float a = std::min(1.f, v / 255.f * gain), shade = 0.6f + 0.4f * v / 255.f;
            uint8_t* p = scene.rgb.data() + at * 3;
            for (int c = 0; c < 3; ++c) p[c] = to_u8(p[c] * (1 - a) + a * tint[c] * shade);
          }
        Placed p;
        p.object.type = kSynthClasses[label];
        p.object.box = box;
        p.area = p.visible = area;
        placed.push_back(p);
        done = true;
      }
    }
    if (static_cast<int>(placed.size()) >= o.min_objects) break;
    if (restart + 1 >= kSceneRestarts)
      throw UsageError(log::cat("synth_kitti: could not place ", o.min_objects, " objects in a ", W, "x", H,
                                " scene without heavy occlusion; lower --min-objects or use a larger --size"));
  }
  for (auto& p : placed) {
    p.object.occluded = p.area - p.visible >= kOccludedLabelFraction * p.area && p.visible < p.area ? 1.f : 0.f;
    scene.objects.push_back(p.object);
  }
  return scene;
}

std::string encode_png(const std::vector<uint8_t>& rgb, int W, int H) {
  std::string bytes;
  const int ok = stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &bytes, W, H, 3, rgb.data(), W * 3);
  if (!ok) throw Error(log::cat("PNG encoding failed for a ", W, "x", H, " image"));
  return bytes;
}

void write_plain(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error(log::cat("cannot write ", path.string(), ": ", std::strerror(errno)));
}

void validate(const SynthOptions& o) {
  if (o.output_dir.empty()) throw UsageError("synth_kitti: an output directory (-o) is required");
  if (o.images < 1 || o.images > kMaxImages)
    throw UsageError(log::cat("synth_kitti: --images must be 1..", kMaxImages, ", not ", o.images));
  if (o.width < kMinImageSide || o.width > kMaxImageSide || o.height < kMinImageSide || o.height > kMaxImageSide)
    throw UsageError(log::cat("synth_kitti: --size ", o.width, "x", o.height, " is outside ", kMinImageSide, "..",
                              kMaxImageSide, " per side"));
  if (o.max_objects < 1 || o.max_objects > kMaxObjects)
    throw UsageError(log::cat("synth_kitti: --max-objects must be 1..", kMaxObjects, ", not ", o.max_objects));
  if (o.min_objects < 0 || o.min_objects > o.max_objects)
    throw UsageError(log::cat("synth_kitti: --min-objects must be 0..--max-objects (", o.max_objects, "), not ",
                              o.min_objects));
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    throw UsageError(log::cat("synth_kitti: --val-fraction must be in [0, 1), not ", o.val_fraction));
}

void check_output_dir(const std::string& dir) {
  std::error_code ec;
  const fs::path path(dir);
  if (!fs::exists(path, ec)) return;
  if (!fs::is_directory(path, ec))
    throw UsageError(log::cat("synth_kitti: output ", dir, " exists and is not a directory"));
  if (!fs::is_empty(path, ec))
    throw UsageError(log::cat("synth_kitti: output directory ", dir,
                              " is not empty; synth_kitti writes only into a new or empty directory (remove it or "
                              "choose another -o)"));
}

std::string json_split(const SynthSplitSummary& s) {
  std::ostringstream os;
  os << "{\"images\": " << s.images << ", \"objects\": " << s.objects << ", \"occluded\": " << s.occluded
     << ", \"per_class\": {";
  for (size_t c = 0; c < kSynthClasses.size(); ++c)
    os << (c ? ", " : "") << '"' << kSynthClasses[c] << "\": " << s.per_class[c];
  os << "}}";
  return os.str();
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

std::array<int, 2> parse_image_size(const std::string& text) {
  const auto x = text.find_first_of("xX");
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoi(s);
  };
  const int w = x == std::string::npos ? -1 : number(text.substr(0, x));
  const int h = x == std::string::npos ? -1 : number(text.substr(x + 1));
  if (w < 0 || h < 0) throw UsageError(log::cat("--size must be WIDTHxHEIGHT (e.g. 160x160), not '", text, "'"));
  if (w < kMinImageSide || w > kMaxImageSide || h < kMinImageSide || h > kMaxImageSide)
    throw UsageError(log::cat("--size ", text, ": each side must be ", kMinImageSide, "..", kMaxImageSide));
  return {w, h};
}

SynthSummary generate_synth_kitti(const SynthOptions& o) {
  validate(o);
  check_output_dir(o.output_dir);
  const auto start = std::chrono::steady_clock::now();
  const int n_val = std::min(static_cast<int>(std::lround(o.images * o.val_fraction)), o.images - 1);
  const int n_train = o.images - n_val;

  // Everything that can fail on the inputs fails before anything is written.
  const fs::path src(o.source_dir);
  const ItemSet train_items =
      load_items((src / "train-images-idx3-ubyte.gz").string(), (src / "train-labels-idx1-ubyte.gz").string());
  ItemSet val_items;
  if (n_val > 0)
    val_items = load_items((src / "t10k-images-idx3-ubyte.gz").string(), (src / "t10k-labels-idx1-ubyte.gz").string());

  const fs::path out(o.output_dir);
  ensure_writable_dir(o.output_dir);
  const fs::path tmp = out / log::cat(".tmp-synth-", ::getpid());
  SynthSummary summary;
  summary.output_dir = o.output_dir;
  try {
    int done = 0;
    for (int split = 0; split < 2; ++split) {
      const int count = split == 0 ? n_train : n_val;
      if (count == 0) continue;
      const std::string name = split == 0 ? "train" : "val";
      const ItemSet& items = split == 0 ? train_items : val_items;
      SynthSplitSummary& s = split == 0 ? summary.train : summary.val;
      fs::create_directories(tmp / name / "images");
      fs::create_directories(tmp / name / "labels");
      for (int i = 0; i < count; ++i) {
        throw_if_interrupted();
        Rng rng(scene_seed(o.seed, split, i));
        const Scene scene = render_scene(items, o, rng);
        if (o.on_scene) {
          SynthScene view{name, i, o.width, o.height, scene.rgb.data(), scene.background.data(), &scene.objects};
          o.on_scene(view);
        }
        char stem[16];
        std::snprintf(stem, sizeof stem, "%06d", i);
        write_plain(tmp / name / "images" / (std::string(stem) + ".png"), encode_png(scene.rgb, o.width, o.height));
        std::string labels;
        for (const auto& obj : scene.objects) {
          labels += format_kitti_object(obj) + "\n";
          ++s.objects;
          s.occluded += obj.occluded > 0;
          s.per_class[std::find(kSynthClasses.begin(), kSynthClasses.end(), obj.type) - kSynthClasses.begin()]++;
        }
        write_plain(tmp / name / "labels" / (std::string(stem) + ".txt"), labels);
        ++s.images;
        ++done;
        if (o.progress_every > 0 && (done % o.progress_every == 0 || done == o.images)) {
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          log::info(log::cat("synth_kitti: ", done, "/", o.images, " scenes (",
                             static_cast<int>(done / std::max(secs, 1e-9)), " scenes/s)"));
        }
      }
    }
    // The splits appear only when complete.
    for (const char* name : {"train", "val"})
      if (fs::exists(tmp / name)) fs::rename(tmp / name, out / name);
    fs::remove_all(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }

  std::string classes;
  for (const char* c : kSynthClasses) classes += std::string(c) + "\n";
  atomic_write_string((out / "classes.txt").string(), classes);
  std::ostringstream js;
  js << "{\n  \"generator\": \"kiln dataset synth_kitti\",\n  \"seed\": " << o.seed << ",\n  \"images\": " << o.images
     << ",\n  \"width\": " << o.width << ",\n  \"height\": " << o.height << ",\n  \"min_objects\": " << o.min_objects
     << ",\n  \"max_objects\": " << o.max_objects << ",\n  \"val_fraction\": " << o.val_fraction
     << ",\n  \"source_dir\": \"" << json_escape(o.source_dir) << "\",\n  \"classes\": [";
  for (size_t c = 0; c < kSynthClasses.size(); ++c) js << (c ? ", " : "") << '"' << kSynthClasses[c] << '"';
  js << "],\n  \"splits\": {\n    \"train\": " << json_split(summary.train) << ",\n    \"val\": "
     << json_split(summary.val) << "\n  }\n}\n";
  atomic_write_string((out / "summary.json").string(), js.str());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

std::string format_synth_summary(const SynthSummary& s) {
  std::ostringstream os;
  char line[128];
  std::snprintf(line, sizeof line, "%-12s %9s %9s %9s\n", "class", "train", "val", "total");
  os << line;
  for (size_t c = 0; c < kSynthClasses.size(); ++c) {
    std::snprintf(line, sizeof line, "%-12s %9d %9d %9d\n", kSynthClasses[c], s.train.per_class[c], s.val.per_class[c],
                  s.train.per_class[c] + s.val.per_class[c]);
    os << line;
  }
  std::snprintf(line, sizeof line, "%-12s %9d %9d %9d\n", "objects", s.train.objects, s.val.objects,
                s.train.objects + s.val.objects);
  os << line;
  std::snprintf(line, sizeof line, "%-12s %9d %9d %9d\n", "  occluded", s.train.occluded, s.val.occluded,
                s.train.occluded + s.val.occluded);
  os << line;
  std::snprintf(line, sizeof line, "%-12s %9d %9d %9d\n", "images", s.train.images, s.val.images,
                s.train.images + s.val.images);
  os << line;
  return os.str();
}

}  // namespace kiln::detection
