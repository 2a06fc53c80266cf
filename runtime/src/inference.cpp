// Classification inference (docs/inference.md). The flow, top to bottom in run_inference():
//   1. every rank loads the model, resolves the spec (-e, or the one stored in the model) and lists the inputs —
//      identically, so bad input fails on every rank alike before any rank joins the world;
//   2. the ranks check that they all see the same inputs, then each infers its contiguous share with the same
//      loader and normalisation evaluation uses (eval mode, no augmentation), writing annotated PNGs to a staging
//      folder of its own;
//   3. one all-reduce of disjoint rows (each rank fills only its own rows of a zeroed [N, k] table) gives rank 0
//      every prediction — through the communicator, so ranks on other hosts need no shared filesystem — and, since
//      it completes only when every rank got there, tells each rank that the whole job succeeded: only then are the
//      staged images moved into <out>/images; after a barrier rank 0 writes inference.csv atomically.
// A failure anywhere leaves no CSV and no annotated image behind (staging folders are removed on the way out).
#include "kiln/runtime/inference.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "data/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/dataset.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/loader.h"
#include "kiln/runtime/report.h"
#include "kiln/specs/classification.h"

// stb, compiled into this file with internal linkage (kiln_data has its own stb_image; the two never meet).
#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO  // files are read by us, so errors name the path with errno's reason
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if __has_include(<stb_image.h>)
#include <stb_easy_font.h>
#include <stb_image.h>
#include <stb_image_write.h>
#else
#include <stb/stb_easy_font.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#endif
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {

constexpr int kTopK = 5;
constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;
constexpr const char* kCsvName = "inference.csv";
constexpr const char* kImagesDir = "images";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_image_name(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Fashion-MNIST/MNIST style names: t10k-images-idx3-ubyte(.gz), images.idx(.gz), images.idx3(.gz).
bool is_idx_name(const fs::path& p) {
  std::string name = lower(p.filename().string());
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  return ends_with(name, ".idx") || ends_with(name, ".idx3") || ends_with(name, "-ubyte");
}

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

std::string format4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// ---- Inputs ----

struct IdxImages {
  std::string path;
  std::vector<uint8_t> bytes;  // the whole (inflated) file
  size_t offset = 16, n = 0;
  int height = 0, width = 0;
  const uint8_t* record(size_t i) const { return bytes.data() + offset + i * static_cast<size_t>(height) * width; }
};

std::shared_ptr<const IdxImages> read_idx_images(const std::string& path) {
  auto f = std::make_shared<IdxImages>();
  f->path = path;
  f->bytes = data::detail::read_maybe_gzip(path);
  if (f->bytes.size() < 16)
    throw DataError(path + ": truncated: a " + std::to_string(f->bytes.size()) +
                    "-byte file has no IDX images header (16 bytes)");
  const uint32_t magic = data::detail::load_u32_be(f->bytes.data());
  if (magic == kIdxLabelsMagic)
    throw DataError(path + ": is an IDX labels file; -i needs the IDX images file (e.g. t10k-images-idx3-ubyte.gz)");
  if (magic != kIdxImagesMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    throw DataError(path + ": bad magic " + hex + ", expected 0x00000803 (IDX images file)");
  }
  f->n = data::detail::load_u32_be(f->bytes.data() + 4);
  const uint32_t h = data::detail::load_u32_be(f->bytes.data() + 8);
  const uint32_t w = data::detail::load_u32_be(f->bytes.data() + 12);
  if (h == 0 || w == 0 || h > 65535 || w > 65535)
    throw DataError(path + ": implausible image size " + std::to_string(h) + "x" + std::to_string(w));
  f->height = static_cast<int>(h), f->width = static_cast<int>(w);
  const size_t image_bytes = static_cast<size_t>(h) * w, have = f->bytes.size() - f->offset;
  if (have / image_bytes < f->n)
    throw DataError(path + ": truncated: header says " + std::to_string(f->n) + " images of " + std::to_string(h) +
                    "x" + std::to_string(w) + " but data ends after " + std::to_string(have / image_bytes) +
                    " images");
  if (have > f->n * image_bytes)
    throw DataError(path + ": " + std::to_string(have - f->n * image_bytes) + " unexpected bytes after the " +
                    std::to_string(f->n) + " images the header declares");
  if (f->n == 0) throw DataError(path + ": contains no images");
  return f;
}

struct InputSet {
  std::vector<InferenceItem> items;
  std::shared_ptr<const IdxImages> idx;  // set for an IDX input
};

// Annotated names: the relative path with its extension replaced by .png, unless two inputs would then share a
// name (a.jpg next to a.png): those keep their extension in front of .png.
void name_annotations(std::vector<InferenceItem>& items, const std::vector<fs::path>& rel) {
  std::map<std::string, int> uses;
  for (const auto& r : rel) ++uses[fs::path(r).replace_extension(".png").generic_string()];
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string plain = fs::path(rel[i]).replace_extension(".png").generic_string();
    items[i].annotated = uses[plain] > 1 && lower(rel[i].extension().string()) != ".png"
                             ? rel[i].generic_string() + ".png"
                             : plain;
  }
}

InputSet open_inputs(const std::string& input, const std::string& exclude_dir) {
  if (input.empty()) throw UsageError("inference needs its input: -i <image, folder of images, or IDX file>");
  InputSet set;
  std::error_code ec;
  const fs::file_status st = fs::status(input, ec);
  if (!fs::exists(st)) throw DataError(input + ": no such file or directory (-i)");
  if (fs::is_directory(st)) {
    const fs::path root(input);
    fs::path exclude;
    if (!exclude_dir.empty() && fs::exists(exclude_dir, ec)) exclude = fs::weakly_canonical(exclude_dir, ec);
    std::vector<fs::path> rel;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) throw DataError(input + ": cannot list folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw DataError(input + ": cannot list folder: " + ec.message());
      const fs::path& p = it->path();
      const bool dir = it->is_directory(ec);
      // Hidden entries are skipped (macOS leaves undecodable "._name.png" companions), and so is the output
      // folder when it lies inside the input folder, so a rerun does not classify its own annotated images.
      if (is_hidden(p) || (dir && !exclude.empty() && fs::weakly_canonical(p, ec) == exclude)) {
        if (dir) it.disable_recursion_pending();
        continue;
      }
      if (!dir && it->is_regular_file(ec) && is_image_name(p)) rel.push_back(p.lexically_relative(root));
    }
    if (rel.empty())
      throw DataError(input + ": no .png/.jpg/.jpeg images in this folder or its sub-folders (-i)");
    std::sort(rel.begin(), rel.end(), [](const fs::path& a, const fs::path& b) {
      return a.generic_string() < b.generic_string();
    });
    for (const auto& r : rel) {
      InferenceItem item;
      item.source = item.column = (root / r).string();
      set.items.push_back(std::move(item));
    }
    name_annotations(set.items, rel);
    return set;
  }
  if (!fs::is_regular_file(st)) throw DataError(input + ": not a regular file or a directory (-i)");
  if (is_idx_name(input)) {
    set.idx = read_idx_images(input);
    for (size_t i = 0; i < set.idx->n; ++i) {
      InferenceItem item;
      item.source = input;
      item.idx_index = static_cast<int64_t>(i);
      item.column = input + "#" + std::to_string(i);
      item.annotated = std::to_string(i) + ".png";
      set.items.push_back(std::move(item));
    }
    return set;
  }
  if (!is_image_name(input))
    throw DataError(input + ": not an image (.png/.jpg/.jpeg), an IDX images file (.idx, .idx3 or -ubyte, "
                    "optionally .gz) or a folder (-i)");
  InferenceItem item;
  item.source = item.column = input;
  set.items.push_back(std::move(item));
  name_annotations(set.items, {fs::path(input).filename()});
  return set;
}

// Decodes an image file as stb does for evaluation's image folders: `channels` 1 or 3 (grey→RGB replicates,
// RGB→grey is luma, alpha is dropped). Returns HWC pixels.
struct Decoded {
  std::unique_ptr<uint8_t, void (*)(void*)> pixels{nullptr, stbi_image_free};
  int height = 0, width = 0;
};

Decoded decode_image(const std::string& path, int channels) {
  const std::string bytes = kiln::read_file(path);
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw DataError(path + ": image file larger than 2 GiB");
  Decoded d;
  int comps = 0;
  d.pixels.reset(stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                       &d.width, &d.height, &comps, channels));
  if (!d.pixels) throw DataError(path + ": cannot decode image: " + stbi_failure_reason());
  return d;
}

// The inputs as a Dataset, so the evaluation loader (worker threads, prefetch, the normalisation) does the work.
// Labels are not known: get() returns 0 (the loader wants a valid class; nothing reads it).
class InferenceDataset final : public data::Dataset {
 public:
  InferenceDataset(InputSet inputs, data::ImageShape shape, std::vector<std::string> names)
      : items_(std::move(inputs.items)), idx_(std::move(inputs.idx)), shape_(shape), names_(std::move(names)) {
    if (idx_ && (idx_->height != shape_.height || idx_->width != shape_.width))
      throw DataError(idx_->path + ": images are " + std::to_string(idx_->height) + "x" + std::to_string(idx_->width) +
                      " (HxW) but the model expects " + std::to_string(shape_.height) + "x" +
                      std::to_string(shape_.width) + " (its input is " + shape_.str() + ")");
  }

  size_t size() const override { return items_.size(); }
  data::ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string describe(size_t i) const override {
    return i < items_.size() ? items_[i].column : "input " + std::to_string(i);
  }
  const InferenceItem& item(size_t i) const { return items_.at(i); }
  const std::vector<InferenceItem>& items() const { return items_; }

  int64_t get(size_t i, uint8_t* pixels) const override {
    const InferenceItem& it = items_.at(i);
    const size_t plane = static_cast<size_t>(shape_.height) * shape_.width;
    if (idx_) {  // grey records; a 3-channel model sees them replicated, as stb does for grey image files
      for (int c = 0; c < shape_.channels; ++c)
        std::memcpy(pixels + c * plane, idx_->record(static_cast<size_t>(it.idx_index)), plane);
      return 0;
    }
    const Decoded d = decode_image(it.source, shape_.channels);
    check_size(it.source, d);
    const int c = shape_.channels;
    for (int ch = 0; ch < c; ++ch) {
      uint8_t* dst = pixels + ch * plane;
      const uint8_t* src = d.pixels.get() + ch;
      for (size_t p = 0; p < plane; ++p) dst[p] = src[p * c];
    }
    return 0;
  }

  // The input in colour, for its annotated copy.
  RgbImage rgb(size_t i) const {
    const InferenceItem& it = items_.at(i);
    RgbImage img;
    if (idx_) {
      img.height = idx_->height, img.width = idx_->width;
      const size_t plane = static_cast<size_t>(img.height) * img.width;
      img.pixels.resize(plane * 3);
      const uint8_t* src = idx_->record(static_cast<size_t>(it.idx_index));
      for (size_t p = 0; p < plane; ++p) img.pixels[3 * p] = img.pixels[3 * p + 1] = img.pixels[3 * p + 2] = src[p];
      return img;
    }
    const Decoded d = decode_image(it.source, 3);
    check_size(it.source, d);
    img.height = d.height, img.width = d.width;
    img.pixels.assign(d.pixels.get(), d.pixels.get() + static_cast<size_t>(d.height) * d.width * 3);
    return img;
  }

 private:
  // As evaluation's image folders: no resizing; an image of another size is an error naming it.
  void check_size(const std::string& path, const Decoded& d) const {
    if (d.height != shape_.height || d.width != shape_.width)
      throw DataError(path + ": image is " + std::to_string(d.height) + "x" + std::to_string(d.width) +
                      " (HxW) but the model expects " + std::to_string(shape_.height) + "x" +
                      std::to_string(shape_.width) + " (its input is " + shape_.str() +
                      "); kiln does not resize: resize the image or use a model trained at its size");
  }

  std::vector<InferenceItem> items_;
  std::shared_ptr<const IdxImages> idx_;
  data::ImageShape shape_;
  std::vector<std::string> names_;
};

// ---- Spec and model ----

struct Settings {
  data::Augmentation transform;  // normalisation only, as evaluation
  int64_t batch_size = 0;
  int workers = 0;
  std::string spec_origin;  // for the log
};

Settings resolve_settings(const InferenceOptions& opts, const LoadedModel& model) {
  const RunOptions& ro = opts.run;
  Settings s;
  const ModelSpec spec = model_spec(ro.spec_file, ro.overrides, model.file.meta, ro.model_path);
  s.spec_origin = spec.origin;
  const ClassificationConfig cfg = ClassificationConfig::from_spec(spec.spec);
  const auto& a = model.net->architecture();
  const data::ImageShape model_shape{a.in_channels, a.height, a.width};
  if (cfg.input_shape().channels != a.in_channels)
    throw UsageError(s.spec_origin + ": model_config.input_image_size is " + cfg.input_shape().str() + " but " +
                     ro.model_path + " takes " + model_shape.str() +
                     " (C,H,W); pass the spec the model was trained with");
  if (!(cfg.input_shape() == model_shape))
    log::warn(s.spec_origin + ": model_config.input_image_size is " + cfg.input_shape().str() + " but " +
              ro.model_path + " takes " + model_shape.str() + "; the model's size is used");
  if (opts.batch_size < 0) throw UsageError("--batch_size must be positive, got " + std::to_string(opts.batch_size));
  s.batch_size = opts.batch_size > 0 ? opts.batch_size : cfg.eval_batch_size;
  s.workers = static_cast<int>(cfg.n_workers);
  s.transform = cfg.eval_transform();
  data::validate_augmentation(s.transform, a.in_channels);
  return s;
}

void require_options(const InferenceOptions& opts) {
  if (opts.run.model_path.empty()) throw UsageError("inference needs the model: -m <model.kiln>");
  if (opts.input.empty()) throw UsageError("inference needs its input: -i <image, folder of images, or IDX file>");
  if (opts.output_dir.empty()) throw UsageError("inference needs an output directory: -o <dir>");
}

// -o may not exist yet: then its nearest existing ancestor must be a writable directory (nothing is created).
void check_output_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw UsageError(dir + ": -o exists and is not a directory");
    ensure_writable_dir(dir);
    return;
  }
  fs::path p = fs::absolute(dir, ec);
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  if (!fs::is_directory(p, ec) || ::access(p.c_str(), W_OK | X_OK) != 0)
    throw UsageError(dir + ": cannot create the output directory (" + p.string() + " is not a writable directory)");
}

std::vector<std::string> class_names_of(const LoadedModel& model) {
  std::vector<std::string> names = model.class_names;
  const int classes = model.net->architecture().num_classes;
  for (int c = static_cast<int>(names.size()); c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

// ---- Output ----

// A rank's annotated images, written under <out>/.kiln-inference.rank<K>.tmp while the job runs and moved into
// <out>/images by publish() once every rank has succeeded. The folder is removed however the run ends.
class StagingDir {
 public:
  StagingDir(const fs::path& out, int rank) : dir_(out / (".kiln-inference.rank" + std::to_string(rank) + ".tmp")) {
    std::error_code ec;
    fs::remove_all(dir_, ec);  // left by a killed run
    fs::create_directories(dir_, ec);
    if (ec) throw Error(dir_.string() + ": cannot create the staging folder for annotated images: " + ec.message());
  }
  ~StagingDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  // Thread-safe: concurrent writers may create the same sub-folders.
  void write(const std::string& rel, const std::string& bytes) const {
    const fs::path path = dir_ / rel;
    make_dirs(path.parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) throw Error(path.string() + ": cannot write annotated image: " + std::strerror(errno));
  }

  // Moves every staged file to the same relative path under `dest` (each rename atomic; existing files replaced).
  void publish(const fs::path& dest) const {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file()) files.push_back(it->path());
    if (ec) throw Error(dir_.string() + ": cannot list staged annotated images: " + ec.message());
    for (const auto& f : files) {
      const fs::path target = dest / f.lexically_relative(dir_);
      make_dirs(target.parent_path());
      fs::rename(f, target, ec);
      if (ec) throw Error(target.string() + ": cannot move the annotated image into place: " + ec.message());
    }
  }

 private:
  static void make_dirs(const fs::path& d) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (!fs::is_directory(d)) throw Error(d.string() + ": cannot create folder: " + ec.message());
  }
  fs::path dir_;
};

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Every rank must list the same inputs (same folder contents on every host): compare counts and a hash of the
// listing. A rank whose view differs from the average throws, naming both.
void check_same_inputs(Distributed& dist, const std::vector<InferenceItem>& items, const std::string& input) {
  if (dist.world_size() == 1) return;
  uint64_t h = 1469598103934665603ull;
  for (const auto& it : items) h = fnv1a(it.column + '\n', h);
  const double mine[2] = {static_cast<double>(items.size()), static_cast<double>(h & ((1ull << 40) - 1))};
  at::Tensor t = at::tensor({mine[0], mine[1]}, at::kDouble);
  dist.sum(t);
  const double w = dist.world_size();
  if (t[0].item<double>() != w * mine[0] || t[1].item<double>() != w * mine[1])
    throw DataError(log::cat(input, ": rank ", dist.rank(), " sees ", items.size(),
                             " inputs but the ranks together see ", t[0].item<double>(), " for ", dist.world_size(),
                             " ranks (or other file names): every rank must see the same -i"));
}

void remove_if_empty(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

std::string class_histogram(const std::vector<int64_t>& counts, const std::vector<std::string>& names) {
  std::vector<size_t> order;
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return counts[a] > counts[b]; });
  constexpr size_t kShown = 20;
  std::ostringstream os;
  for (size_t i = 0; i < std::min(order.size(), kShown); ++i)
    os << (i ? ", " : "") << names[order[i]] << " " << counts[order[i]];
  if (order.size() > kShown) os << ", ... (" << order.size() - kShown << " more classes)";
  return os.str();
}

}  // namespace

// ---- Public pieces ----

std::pair<size_t, size_t> contiguous_shard(size_t n, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw Error(log::cat("contiguous_shard: rank ", rank, " is not in a world of ", world_size));
  const size_t w = static_cast<size_t>(world_size), r = static_cast<size_t>(rank);
  const size_t base = n / w, extra = n % w;
  const size_t first = r * base + std::min(r, extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

std::vector<InferenceItem> list_inference_inputs(const std::string& input, const std::string& exclude_dir) {
  return open_inputs(input, exclude_dir).items;
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

namespace {
constexpr int kFontPad = 2;          // font pixels around the caption
constexpr int kFontLineHeight = 12;  // stb_easy_font's line advance
// Glyph pixels per font pixel: 1 up to 255 pixels wide, then growing with the width (capped at 6).
int font_scale(int width) { return std::clamp(width / 256 + 1, 1, 6); }
}  // namespace

int annotation_banner_height(int width) { return (kFontLineHeight + 2 * kFontPad) * font_scale(width); }

RgbImage annotate_image(const RgbImage& image, const std::string& caption) {
  const RgbImage big = upscale_nearest(image, annotation_upscale(image.height, image.width));
  const int scale = font_scale(big.width), banner = annotation_banner_height(big.width);
  RgbImage out;
  out.width = big.width, out.height = big.height + banner;
  out.pixels.assign(static_cast<size_t>(out.width) * banner * 3, 32);  // dark grey banner
  out.pixels.insert(out.pixels.end(), big.pixels.begin(), big.pixels.end());

  // stb_easy_font indexes its tables by (char - 32): only printable ASCII may reach it.
  std::string text = caption;
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
  std::vector<char> quads(text.size() * 300 + 64);
  const int n = stb_easy_font_print(static_cast<float>(kFontPad), static_cast<float>(kFontPad), text.data(), nullptr,
                                    quads.data(), static_cast<int>(quads.size()));
  // Each quad is 4 vertices of {float x, y, z; uint8 rgba[4]} (16 bytes), an axis-aligned rectangle.
  for (int q = 0; q < n; ++q) {
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
    for (int v = 0; v < 4; ++v) {
      float xy[2];
      std::memcpy(xy, quads.data() + (q * 4 + v) * 16, sizeof xy);
      x0 = std::min(x0, xy[0]), x1 = std::max(x1, xy[0]);
      y0 = std::min(y0, xy[1]), y1 = std::max(y1, xy[1]);
    }
    const int px0 = std::max(0, static_cast<int>(x0 * scale)), px1 = std::min(out.width, static_cast<int>(x1 * scale));
    const int py0 = std::max(0, static_cast<int>(y0 * scale)), py1 = std::min(banner, static_cast<int>(y1 * scale));
    for (int y = py0; y < py1; ++y)
      std::memset(out.pixels.data() + (static_cast<size_t>(y) * out.width + px0) * 3, 255,
                  static_cast<size_t>(std::max(0, px1 - px0)) * 3);
  }
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

// ---- The subtask ----

void check_inference_options(const InferenceOptions& opts) {
  require_options(opts);
  open_inputs(opts.input, opts.output_dir);
  const LoadedModel model = load_model(opts.run.model_path);
  resolve_settings(opts, model);
  check_output_dir(opts.output_dir);
}

void run_inference(const InferenceOptions& opts) {
  const std::string& out = opts.output_dir;
  std::error_code ec;
  bool created_out = false;
  std::optional<Distributed> dist;
  try {
    // 1. Everything every rank can check on its own, before any rank joins the world.
    require_options(opts);
    const LoadedModel model = load_model(opts.run.model_path);
    const Settings settings = resolve_settings(opts, model);
    const auto& a = model.net->architecture();
    const std::vector<std::string> names = class_names_of(model);
    InferenceDataset ds(open_inputs(opts.input, out), {a.in_channels, a.height, a.width}, names);
    const size_t n = ds.size();
    check_output_dir(out);
    // Seen before any rank may create -o: every rank passes check_same_inputs() (a collective) before creating it.
    const bool out_existed = fs::exists(out, ec);

    const c10::Device device = select_device(opts.run.device, opts.run.rank);
    dist.emplace(opts.run.rank, device);
    if (!dist->is_root()) log::set_level(log::Level::kWarn);  // rank 0 reports; the others speak up on problems
    configure_threads(opts.run.threads, opts.run.rank);
    check_same_inputs(*dist, ds.items(), opts.input);
    created_out = !out_existed;  // each rank that saw no -o removes it again after a failure, if it is empty
    ensure_writable_dir(out);
    const auto [first, last] = contiguous_shard(n, dist->rank(), dist->world_size());
    log::info(log::cat("Inference with ", opts.run.model_path, " (", a.summary(), ") on ", n, " images from ",
                       opts.input, "; normalisation from ", settings.spec_origin, "; batch ", settings.batch_size,
                       dist->world_size() > 1 ? log::cat(", ", dist->world_size(), " ranks") : std::string()));

    // 2. This rank's share: the evaluation loader and normalisation, eval mode, softmax, top-k.
    std::optional<StagingDir> staging;
    if (opts.annotate) staging.emplace(fs::path(out), dist->rank());
    const int64_t k = std::min<int64_t>(kTopK, a.num_classes);
    at::Tensor top_index = at::zeros({static_cast<int64_t>(n), k}, at::kLong);
    at::Tensor top_prob = at::zeros({static_cast<int64_t>(n), k}, at::kDouble);
    std::vector<size_t> mine(last - first);
    std::iota(mine.begin(), mine.end(), first);
    data::LoaderOptions lo;
    lo.batch_size = static_cast<size_t>(settings.batch_size);
    lo.num_workers = settings.workers;
    lo.prefetch = static_cast<size_t>(2 * settings.workers + 2);
    lo.drop_last = false;
    lo.augment = settings.transform;
    std::optional<Progress> progress;
    if (dist->is_root())
      progress.emplace(dist->world_size() > 1 ? "Inference (rank 0's share)" : "Inference",
                       static_cast<int64_t>(mine.size()), "image");
    const auto start = std::chrono::steady_clock::now();
    {
      data::Loader loader(ds, std::move(mine), lo);
      networks::Network& net = *model.net;
      net.to(device);
      net.eval();
      at::NoGradGuard no_grad;
      int64_t done = 0;
      while (auto batch = loader.next()) {
        throw_if_interrupted();
        dist->check();
        const at::Tensor probs = at::softmax(net.forward(batch->images.to(device, /*non_blocking=*/true)), 1);
        auto [p, i] = probs.topk(k, 1);  // sorted, most likely first
        p = p.cpu(), i = i.cpu();
        std::vector<int64_t> rows(batch->indices.begin(), batch->indices.end());
        const at::Tensor where = at::tensor(rows, at::kLong);
        top_index.index_copy_(0, where, i);
        top_prob.index_copy_(0, where, p.to(at::kDouble));
        if (staging) {
          const auto label = i.accessor<int64_t, 2>();
          const auto conf = p.accessor<float, 2>();
          at::parallel_for(0, static_cast<int64_t>(rows.size()), 1, [&](int64_t b0, int64_t b1) {
            for (int64_t r = b0; r < b1; ++r) {
              const size_t record = static_cast<size_t>(rows[static_cast<size_t>(r)]);
              const std::string caption = names[static_cast<size_t>(label[r][0])] + " " + format4(conf[r][0]);
              staging->write(ds.item(record).annotated, encode_png(annotate_image(ds.rgb(record), caption)));
            }
          });
        }
        done += static_cast<int64_t>(rows.size());
        if (progress) progress->update(done);
      }
    }
    if (progress) progress->finish();

    // 3. Gather (and learn that every rank succeeded), publish annotated images, then rank 0 writes the CSV.
    dist->sum(top_index);
    dist->sum(top_prob);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (staging) staging->publish(fs::path(out) / kImagesDir);
    staging.reset();
    dist->barrier();
    if (!dist->is_root()) return;

    std::ostringstream csv;
    csv << "path,label,confidence,top5\n";
    std::vector<int64_t> histogram(names.size(), 0);
    const auto ti = top_index.accessor<int64_t, 2>();
    const auto tp = top_prob.accessor<double, 2>();
    for (size_t r = 0; r < n; ++r) {
      const auto row = static_cast<int64_t>(r);
      const auto best = static_cast<size_t>(ti[row][0]);
      ++histogram[best];
      std::string top;
      for (int64_t j = 0; j < k; ++j)
        top += (j ? ";" : "") + names[static_cast<size_t>(ti[row][j])] + ":" + format4(tp[row][j]);
      csv << csv_field(ds.item(r).column) << ',' << csv_field(names[best]) << ',' << format4(tp[row][0]) << ','
          << csv_field(top) << '\n';
    }
    const std::string csv_path = (fs::path(out) / kCsvName).string();
    atomic_write_string(csv_path, csv.str());
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f", static_cast<double>(n) / std::max(seconds, 1e-9));
    log::info(log::cat("Inferred ", n, " images (", std::count_if(histogram.begin(), histogram.end(),
                                                                  [](int64_t c) { return c > 0; }),
                       " classes predicted): ", class_histogram(histogram, names), " | ", rate, " images/s"));
    log::info("Predictions written to " + csv_path +
              (opts.annotate ? ", annotated images to " + (fs::path(out) / kImagesDir).string() : std::string()));
  } catch (const std::exception& e) {
    if (dist) dist->abort_job(log::cat("rank ", opts.run.rank.rank, " failed: ", e.what()));
    if (created_out) remove_if_empty(out);
    throw;
  }
}

}  // namespace kiln::runtime
