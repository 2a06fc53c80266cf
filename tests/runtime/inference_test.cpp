// Classification inference on one rank: inputs (folders, single files, IDX), the CSV (format, order, and that it
// matches a direct forward pass on the same preprocessed tensors), annotation, and bad input.
#include "kiln/runtime/inference.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <typeinfo>
#include <utility>

#include <nlohmann/json.hpp>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/data/dataset.h"

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;
using namespace kiln::runtime;

namespace {

const std::vector<std::string> kNames{"t_shirt", "trouser", "pullover", "dress", "coat",
                                      "sandal",  "shirt",   "sneaker",  "bag",   "ankle_boot"};

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("kiln_inf_" + std::to_string(::getpid()) + "_" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// The spec a model stores (as kiln train does). Its dataset paths do not exist: inference must not need them.
std::string spec_yaml(double mean, double std_, int batch = 4, const std::string& size = "1,28,28") {
  std::ostringstream os;
  os << "model_config:\n  arch: lenet5\n  input_image_size: \"" << size << "\"\n  use_batch_norm: false\n"
     << "train_config:\n  n_workers: 1\n"
     << "dataset_config:\n  train:\n    type: idx\n    images: /nonexistent/train-images-idx3-ubyte.gz\n"
     << "    labels: /nonexistent/train-labels-idx1-ubyte.gz\n"
     << "  image_mean: [" << mean << "]\n  image_std: [" << std_ << "]\n"
     << "eval_config:\n  batch_size: " << batch << "\n";
  return os.str();
}

std::string make_model(const fs::path& dir, const std::string& stored_spec = spec_yaml(0.25, 0.5)) {
  kiln::networks::Architecture a;
  a.arch = "lenet5";
  a.in_channels = 1, a.height = 28, a.width = 28, a.num_classes = 10;
  a.use_batch_norm = false;
  at::manual_seed(7);
  auto net = kiln::networks::create(a);
  // Without biases, and with sharper logits than the default initialisation gives, predictions differ between
  // the test patterns (a randomly initialised network otherwise tends to predict one class for everything).
  {
    at::NoGradGuard g;
    for (auto& p : net->named_parameters()) {
      if (p.key().find("bias") != std::string::npos) p.value().zero_();
      if (p.key().rfind("fc3.", 0) == 0) p.value().mul_(20);
    }
  }
  const CheckpointContent c{net.get(), nullptr, nullptr, stored_spec, kNames, 1, 0};
  const std::string path = (dir / "model.kiln").string();
  write_model_file(path, make_model_file(c));
  return path;
}

// A 28x28 grey test pattern, different per seed.
std::vector<uint8_t> pattern(unsigned seed, int channels = 1, int h = 28, int w = 28) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * channels);
  const int cx = static_cast<int>(rng() % 20) + 4, cy = static_cast<int>(rng() % 20) + 4;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        const int d = std::abs(x - cx) + std::abs(y - cy);
        px[(static_cast<size_t>(y) * w + x) * channels + c] =
            static_cast<uint8_t>(d < 8 ? 255 - 20 * d : static_cast<int>(rng() % 60) + 40 * c);
      }
  return px;
}

void write_png(const fs::path& p, const std::vector<uint8_t>& px, int channels, int h = 28, int w = 28) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(stbi_write_png(p.c_str(), w, h, channels, px.data(), w * channels)) << p;
}

// Decodes a file as the model sees it (grey), as the test's own reference for preprocessing.
std::vector<uint8_t> decode_grey(const fs::path& p) {
  int w = 0, h = 0, n = 0;
  uint8_t* data = stbi_load(p.c_str(), &w, &h, &n, 1);
  EXPECT_NE(data, nullptr) << p;
  std::vector<uint8_t> out(data, data + static_cast<size_t>(w) * h);
  stbi_image_free(data);
  return out;
}

// Softmax of a direct forward pass over grey 28x28 records, normalised as (x/255 - mean) / std.
at::Tensor direct_probs(const std::string& model_path, const std::vector<std::vector<uint8_t>>& records, float mean,
                        float std_) {
  LoadedModel m = load_model(model_path);
  m.net->eval();
  at::NoGradGuard g;
  std::vector<at::Tensor> xs;
  for (const auto& r : records)
    xs.push_back(((at::tensor(std::vector<uint8_t>(r)).to(at::kFloat) / 255.f - mean) / std_).view({1, 1, 28, 28}));
  return at::softmax(m.net->forward(at::cat(xs)), 1);
}

struct Row {
  std::string path, label;
  double confidence = 0;
  std::vector<std::pair<std::string, double>> top;
};

std::vector<Row> read_csv(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "path,label,confidence,top5");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    EXPECT_EQ(f.size(), 4u) << line;
    if (f.size() != 4) continue;
    Row r;
    r.path = f[0], r.label = f[1];
    EXPECT_EQ(f[2].size(), 6u) << "4 decimals: " << line;
    r.confidence = std::stod(f[2]);
    std::stringstream ts(f[3]);
    for (std::string e; std::getline(ts, e, ';');) {
      const size_t colon = e.rfind(':');
      EXPECT_NE(colon, std::string::npos) << e;
      EXPECT_EQ(e.size() - colon - 1, 6u) << "4 decimals: " << e;
      r.top.emplace_back(e.substr(0, colon), std::stod(e.substr(colon + 1)));
    }
    rows.push_back(r);
  }
  return rows;
}

// Each row's label is the argmax of `probs` (same order), the confidence its probability, top5 sorted and sane.
void expect_rows_match(const std::vector<Row>& rows, const at::Tensor& probs) {
  ASSERT_EQ(static_cast<int64_t>(rows.size()), probs.size(0));
  for (size_t r = 0; r < rows.size(); ++r) {
    const at::Tensor pr = probs[static_cast<int64_t>(r)];
    const int64_t best = pr.argmax().item<int64_t>();
    EXPECT_EQ(rows[r].label, kNames[static_cast<size_t>(best)]) << rows[r].path;
    EXPECT_NEAR(rows[r].confidence, pr[best].item<double>(), 6e-5) << rows[r].path;
    ASSERT_EQ(rows[r].top.size(), 5u);
    EXPECT_EQ(rows[r].top[0].first, rows[r].label);
    EXPECT_EQ(rows[r].top[0].second, rows[r].confidence);
    double sum = 0;
    for (size_t j = 0; j < 5; ++j) {
      sum += rows[r].top[j].second;
      if (j) {
        EXPECT_GE(rows[r].top[j - 1].second, rows[r].top[j].second);
      }
      const auto it = std::find(kNames.begin(), kNames.end(), rows[r].top[j].first);
      ASSERT_NE(it, kNames.end());
      EXPECT_NEAR(rows[r].top[j].second, pr[it - kNames.begin()].item<double>(), 6e-5);
    }
    EXPECT_GT(sum, 0.0);
    EXPECT_LE(sum, 1.0 + 3e-4);
    EXPECT_GE(rows[r].confidence, 0.1 - 1e-4);  // the best of 10 classes has at least 1/10
  }
}

InferenceOptions options(const std::string& model, const fs::path& input, const fs::path& out) {
  InferenceOptions o;
  o.run.model_path = model;
  o.run.threads = 1;
  o.input = input.string();
  o.output_dir = out.string();
  return o;
}

struct Png {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};
Png read_png(const fs::path& p) {
  Png png;
  int n = 0;
  uint8_t* data = stbi_load(p.c_str(), &png.width, &png.height, &n, 3);
  EXPECT_NE(data, nullptr) << p;
  if (data) png.rgb.assign(data, data + static_cast<size_t>(png.width) * png.height * 3);
  stbi_image_free(data);
  return png;
}

template <typename E, typename F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no " << typeid(E).name() << " thrown";
  } catch (const E& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The status/message of each status.json event in `out`.
std::vector<std::pair<std::string, std::string>> status_events(const fs::path& out) {
  std::vector<std::pair<std::string, std::string>> events;
  std::ifstream in(out / "status.json");
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line);
    events.emplace_back(e.at("status"), e.at("message"));
  }
  return events;
}

bool has_staging_or_images(const fs::path& out) {
  if (!fs::exists(out)) return false;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename() == "images" || e.path().filename().string().find(".kiln-inference") == 0) return true;
  return false;
}

}  // namespace

TEST(Inference, ContiguousShardsCoverEverythingOnce) {
  EXPECT_EQ(contiguous_shard(10, 0, 3), (std::pair<size_t, size_t>{0, 4}));
  EXPECT_EQ(contiguous_shard(10, 1, 3), (std::pair<size_t, size_t>{4, 7}));
  EXPECT_EQ(contiguous_shard(10, 2, 3), (std::pair<size_t, size_t>{7, 10}));
  EXPECT_EQ(contiguous_shard(2, 3, 4), (std::pair<size_t, size_t>{2, 2}));
  for (size_t n : {0, 1, 5, 17, 1000})
    for (int w : {1, 2, 3, 7, 16}) {
      size_t next = 0;
      for (int r = 0; r < w; ++r) {
        const auto [a, b] = contiguous_shard(n, r, w);
        EXPECT_EQ(a, next);
        EXPECT_LE(b - a, n / w + 1);
        EXPECT_GE(b - a, n / w);
        next = b;
      }
      EXPECT_EQ(next, n);
    }
  EXPECT_THROW(contiguous_shard(3, 2, 2), kiln::Error);
}

TEST(Inference, ListsAFolderRecursivelyInSortedOrder) {
  TempDir d;
  const fs::path in = d.path / "in";
  write_png(in / "b" / "2.png", pattern(1), 1);
  write_png(in / "a" / "x.png", pattern(2), 1);
  ASSERT_TRUE(stbi_write_jpg((in / "a" / "x.JPG").c_str(), 28, 28, 1, pattern(3).data(), 95));
  write_png(in / "c.png", pattern(4), 1);
  write_png(in / ".hidden.png", pattern(5), 1);
  write_png(in / ".cache" / "z.png", pattern(6), 1);
  write_png(in / "out" / "images" / "old.png", pattern(7), 1);  // the output folder: skipped
  std::ofstream(in / "notes.txt") << "not an image";

  const auto items = list_inference_inputs(in.string(), (in / "out").string());
  ASSERT_EQ(items.size(), 4u);
  const std::vector<std::string> columns{(in / "a/x.JPG").string(), (in / "a/x.png").string(),
                                         (in / "b/2.png").string(), (in / "c.png").string()};
  const std::vector<std::string> annotated{"a/x.JPG.png", "a/x.png", "b/2.png", "c.png"};
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].column, columns[i]);
    EXPECT_EQ(items[i].source, columns[i]);
    EXPECT_EQ(items[i].annotated, annotated[i]);
    EXPECT_EQ(items[i].idx_index, -1);
  }
  const auto one = list_inference_inputs((in / "b" / "2.png").string());
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].annotated, "2.png");
}

TEST(Inference, FolderCsvMatchesADirectForwardPassWithTheStoredSpec) {
  TempDir d;
  const std::string model = make_model(d.path);
  const fs::path in = d.path / "images";
  // Grey PNGs, an RGB PNG (converted to grey as evaluation does), a JPEG, in nested folders.
  write_png(in / "shirts" / "b.png", pattern(11), 1);
  write_png(in / "shirts" / "a.png", pattern(12), 1);
  write_png(in / "bags" / "rgb.png", pattern(13, 3), 3);
  ASSERT_TRUE(stbi_write_jpg((in / "bags" / "photo.jpg").c_str(), 28, 28, 1, pattern(14).data(), 90));
  write_png(in / "top.png", pattern(15), 1);
  const std::vector<fs::path> order{in / "bags/photo.jpg", in / "bags/rgb.png", in / "shirts/a.png",
                                    in / "shirts/b.png", in / "top.png"};

  const fs::path out = d.path / "out";
  InferenceOptions o = options(model, in, out);
  run_inference(o);

  const auto rows = read_csv(out / "inference.csv");
  ASSERT_EQ(rows.size(), order.size());
  std::vector<std::vector<uint8_t>> records;
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(rows[i].path, order[i].string());
    records.push_back(decode_grey(order[i]));
  }
  const at::Tensor probs = direct_probs(model, records, 0.25f, 0.5f);
  expect_rows_match(rows, probs);
  // Not all the same prediction (the test would prove little otherwise).
  std::set<std::string> labels;
  for (const auto& r : rows) labels.insert(r.label);
  EXPECT_GT(labels.size(), 1u);
  EXPECT_FALSE(fs::exists(out / "images"));
  EXPECT_FALSE(has_staging_or_images(out));
  // TAO's inference status events in the results folder.
  using Event = std::pair<std::string, std::string>;
  EXPECT_EQ(status_events(out), (std::vector<Event>{{"STARTED", "Starting inference."},
                                                    {"SUCCESS", "Inference finished successfully."}}));
}

TEST(Inference, SpecFromTheCommandLineAndOverridesWin) {
  TempDir d;
  const std::string model = make_model(d.path);
  const fs::path in = d.path / "one.png";
  write_png(in, pattern(21), 1);
  const fs::path spec = d.path / "spec.yaml";
  std::ofstream(spec) << spec_yaml(0.6, 0.2, 8);
  InferenceOptions o = options(model, in, d.path / "out");
  o.run.spec_file = spec.string();
  o.run.overrides = {"dataset_config.image_std=[0.1]"};
  run_inference(o);
  const auto rows = read_csv(d.path / "out" / "inference.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].path, in.string());
  expect_rows_match(rows, direct_probs(model, {decode_grey(in)}, 0.6f, 0.1f));
}

TEST(Inference, IdxInputWithAnnotation) {
  TempDir d;
  const std::string model = make_model(d.path);
  const size_t n = 7;
  std::vector<uint8_t> pixels;
  std::vector<std::vector<uint8_t>> records;
  for (size_t i = 0; i < n; ++i) {
    records.push_back(pattern(100 + static_cast<unsigned>(i)));
    pixels.insert(pixels.end(), records.back().begin(), records.back().end());
  }
  const std::string idx = (d.path / "t10k-images-idx3-ubyte.gz").string();
  kiln::data::write_idx_images(idx, pixels, n, 28, 28);

  const fs::path out = d.path / "out";
  InferenceOptions o = options(model, idx, out);
  o.batch_size = 3;  // batches of 3, 3, 1
  o.annotate = true;
  run_inference(o);

  const auto rows = read_csv(out / "inference.csv");
  ASSERT_EQ(rows.size(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(rows[i].path, idx + "#" + std::to_string(i));
  expect_rows_match(rows, direct_probs(model, records, 0.25f, 0.5f));

  const int banner = annotation_banner_height(112);
  EXPECT_GE(banner, 12);
  for (size_t i = 0; i < n; ++i) {
    const fs::path png = out / "images" / (std::to_string(i) + ".png");
    ASSERT_TRUE(fs::exists(png)) << png;
    const Png img = read_png(png);
    ASSERT_EQ(img.width, 112);  // 28 × 4
    ASSERT_EQ(img.height, 112 + banner);
    // Below the banner: the input, upscaled ×4 nearest-neighbour, grey in all three channels, untouched.
    RgbImage plain;
    plain.height = plain.width = 28;
    for (uint8_t v : records[i]) plain.pixels.insert(plain.pixels.end(), {v, v, v});
    const RgbImage up = upscale_nearest(plain, 4);
    EXPECT_TRUE(std::equal(up.pixels.begin(), up.pixels.end(), img.rgb.begin() + banner * 112 * 3)) << png;
    // The banner: dark background with white caption pixels, unlike the image rows it sits above.
    size_t white = 0, dark = 0;
    for (size_t p = 0; p < static_cast<size_t>(banner) * 112; ++p) {
      white += img.rgb[3 * p] == 255;
      dark += img.rgb[3 * p] == 32;
    }
    EXPECT_GT(white, 30u) << png;
    EXPECT_GT(dark, static_cast<size_t>(banner) * 112 / 2) << png;
    EXPECT_FALSE(std::equal(up.pixels.begin(), up.pixels.begin() + banner * 112 * 3, img.rgb.begin())) << png;
    // The caption is the CSV's label and confidence: same text → same banner as annotate_image() draws.
    const RgbImage expected = annotate_image(plain, rows[i].label + " " + [&] {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.4f", rows[i].confidence);
      return std::string(buf);
    }());
    EXPECT_TRUE(std::equal(expected.pixels.begin(), expected.pixels.end(), img.rgb.begin())) << png;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(out / "images"), fs::directory_iterator{}), static_cast<long>(n));
  // CSV, images and status.json: no staging.
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator{}), 3);
}

TEST(Inference, AnnotatedFolderKeepsRelativePaths) {
  TempDir d;
  const std::string model = make_model(d.path);
  const fs::path in = d.path / "in";
  write_png(in / "x" / "big.png", pattern(31, 3, 80, 300), 3, 80, 300);  // wider than 64: no upscale
  const fs::path out = d.path / "out";
  InferenceOptions o = options(model, in, out);
  // The model takes 28x28: an 80x300 image is an error naming it, not silently resized.
  expect_error<kiln::DataError>([&] { run_inference(o); }, {(in / "x" / "big.png").string(), "80x300", "28x28"});
  // Only the record of the failure: status.json, STARTED then FAILURE naming the image.
  ASSERT_TRUE(fs::exists(out));
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator{}), 1);
  ASSERT_EQ(status_events(out).size(), 2u);
  EXPECT_EQ(status_events(out)[1].first, "FAILURE");
  EXPECT_NE(status_events(out)[1].second.find("big.png"), std::string::npos);
  fs::remove_all(out);

  fs::remove_all(in);
  write_png(in / "x" / "small.png", pattern(32, 3), 3);
  o.annotate = true;
  run_inference(o);
  const Png img = read_png(out / "images" / "x" / "small.png");
  EXPECT_EQ(img.width, 112);
  EXPECT_EQ(img.height, 112 + annotation_banner_height(112));
  // Colour is kept in the annotated copy even though the model sees grey.
  const auto colour = pattern(32, 3);
  EXPECT_EQ(img.rgb[(static_cast<size_t>(annotation_banner_height(112)) * 112) * 3 + 2], colour[2]);
}

TEST(Inference, AnnotateImageHandlesLargeImagesAndOddCaptions) {
  RgbImage big;
  big.height = 100, big.width = 600;
  big.pixels.assign(100 * 600 * 3, 77);
  EXPECT_EQ(annotation_upscale(100, 600), 1);
  EXPECT_EQ(annotation_upscale(63, 600), 4);
  const RgbImage a = annotate_image(big, "caf\xc3\xa9 \t 0.5000 a very long caption that runs past the edge of it all");
  EXPECT_EQ(a.width, 600);
  EXPECT_EQ(a.height, 100 + annotation_banner_height(600));
  EXPECT_GT(annotation_banner_height(600), annotation_banner_height(112));  // bigger text on bigger images
  const std::string png = encode_png(a);
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

// draw_box: the border (2 pixels wide, inside the box) takes the colour; the interior and the outside do not; the
// caption sits on a label above the box, or inside it when the box touches the top; edges off the image are clipped.
TEST(Annotate, DrawBoxColoursTheBorderAndLabelOnly) {
  RgbImage blank;
  blank.height = 60, blank.width = 80;
  blank.pixels.assign(60 * 80 * 3, 10);
  const Rgb red{255, 0, 0};
  auto pixel = [](const RgbImage& img, int x, int y) {
    const uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * img.width + x) * 3;
    return Rgb{p[0], p[1], p[2]};
  };
  // Box [20, 50) x [30, 55): border pixels are x in {20, 21, 48, 49} or y in {30, 31, 53, 54}.
  auto on_border = [](int x, int y) {
    const bool in_x = x >= 20 && x < 50, in_y = y >= 30 && y < 55;
    return in_x && in_y && (x < 22 || x >= 48 || y < 32 || y >= 53);
  };
  RgbImage img = blank;
  draw_box(img, 20, 30, 50, 55, red);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      ASSERT_EQ(pixel(img, x, y), on_border(x, y) ? red : (Rgb{10, 10, 10})) << "at " << x << "," << y;

  // With a caption: a red label of banner height right above the box, with white text on it; nothing else changes.
  img = blank;
  draw_box(img, 20, 30, 50, 55, red, "car 0.91");
  const int label = annotation_banner_height(img.width);
  ASSERT_EQ(label, 16);
  size_t text = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const Rgb p = pixel(img, x, y);
      if (on_border(x, y)) {
        EXPECT_EQ(p, red) << "border at " << x << "," << y;
      } else if (y >= 30 - label && y < 30 && x >= 20 && x < 20 + text_width("car 0.91", 1) + 4) {
        EXPECT_TRUE(p == red || p == (Rgb{255, 255, 255})) << "label at " << x << "," << y;
        text += p == Rgb{255, 255, 255};
      } else {
        EXPECT_EQ(p, (Rgb{10, 10, 10})) << "untouched at " << x << "," << y;
      }
    }
  EXPECT_GT(text, 20u);

  // A box at the top edge gets its label inside; a box past the right and bottom edges has only its visible edges.
  img = blank;
  draw_box(img, 5, 0, 40, 25, Rgb{0, 255, 0}, "x");
  EXPECT_EQ(pixel(img, 10, 0), (Rgb{0, 255, 0}));
  EXPECT_NE(pixel(img, 10, 8), (Rgb{10, 10, 10}));  // the label, inside the box
  EXPECT_EQ(pixel(img, 30, 20), (Rgb{10, 10, 10}));  // interior below the label
  img = blank;
  draw_box(img, 70, 50, 100, 90, red);
  EXPECT_EQ(pixel(img, 75, 50), red);
  EXPECT_EQ(pixel(img, 70, 59), red);
  EXPECT_EQ(pixel(img, 79, 59), (Rgb{10, 10, 10}));  // right and bottom edges lie outside the image
  EXPECT_EQ(pixel(img, 75, 55), (Rgb{10, 10, 10}));
  draw_box(img, 30, 30, 30, 40, red);  // empty: nothing drawn
  EXPECT_EQ(pixel(img, 30, 35), (Rgb{10, 10, 10}));
}

TEST(Inference, BadInputFailsWithTheFileNamedAndNothingWritten) {
  TempDir d;
  const std::string model = make_model(d.path);
  const fs::path out = d.path / "out";

  // -i does not exist.
  expect_error<kiln::DataError>([&] { run_inference(options(model, d.path / "nope", out)); },
                                {(d.path / "nope").string(), "no such file"});
  // An empty folder (only a non-image in it).
  fs::create_directories(d.path / "empty" / "sub");
  std::ofstream(d.path / "empty" / "readme.txt") << "x";
  expect_error<kiln::DataError>([&] { run_inference(options(model, d.path / "empty", out)); },
                                {(d.path / "empty").string(), "no .png/.jpg/.jpeg"});
  EXPECT_FALSE(fs::exists(out));

  // An undecodable image among good ones, with annotation: the error names it; -o keeps what it had.
  const fs::path in = d.path / "in";
  for (int i = 0; i < 6; ++i) write_png(in / ("g" + std::to_string(i) + ".png"), pattern(40 + i), 1);
  std::ofstream(in / "h_broken.png") << "\x89PNG but not really";
  fs::create_directories(out);
  std::ofstream(out / "inference.csv") << "previous run\n";
  InferenceOptions o = options(model, in, out);
  o.annotate = true;
  o.batch_size = 2;
  expect_error<kiln::DataError>([&] { run_inference(o); }, {(in / "h_broken.png").string(), "cannot decode"});
  EXPECT_EQ(kiln::read_file((out / "inference.csv").string()), "previous run\n");
  EXPECT_FALSE(has_staging_or_images(out));
  ASSERT_FALSE(status_events(out).empty());
  EXPECT_EQ(status_events(out).back().first, "FAILURE");
  // Same into an -o that did not exist: it holds only the record of the failure, as TAO's results folder would.
  expect_error<kiln::DataError>([&] { run_inference(options(model, in, d.path / "fresh")); }, {"h_broken.png"});
  ASSERT_TRUE(fs::exists(d.path / "fresh"));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path / "fresh"), fs::directory_iterator{}), 1);
  ASSERT_EQ(status_events(d.path / "fresh").size(), 2u);
  EXPECT_EQ(status_events(d.path / "fresh")[1].first, "FAILURE");
  EXPECT_NE(status_events(d.path / "fresh")[1].second.find("h_broken.png"), std::string::npos);

  // Not a kiln model.
  std::ofstream(d.path / "fake.kiln") << "PK\3\4 a zip";
  fs::remove(in / "h_broken.png");
  expect_error<kiln::DataError>([&] { run_inference(options((d.path / "fake.kiln").string(), in, out)); },
                                {(d.path / "fake.kiln").string()});

  // An IDX labels file instead of the images file; an unknown file type.
  kiln::data::write_idx_labels((d.path / "t10k-labels-idx1-ubyte").string(), {1, 2, 3});
  expect_error<kiln::DataError>(
      [&] { run_inference(options(model, d.path / "t10k-labels-idx1-ubyte", out)); }, {"labels", "t10k-labels"});
  expect_error<kiln::DataError>([&] { run_inference(options(model, in.parent_path() / "fake.kiln", out)); },
                                {"fake.kiln", "not an image"});

  // A model without a stored spec needs -e.
  fs::create_directories(d.path / "nospec");
  const std::string bare = make_model(d.path / "nospec", "");
  expect_error<kiln::UsageError>([&] { run_inference(options(bare, in, out)); }, {bare, "-e"});
  // A spec for another channel count.
  std::ofstream(d.path / "rgb.yaml") << spec_yaml(0.5, 0.5, 4, "3,28,28");
  InferenceOptions rgb = options(model, in, out);
  rgb.run.spec_file = (d.path / "rgb.yaml").string();
  expect_error<kiln::UsageError>([&] { run_inference(rgb); }, {"3,28,28", "1,28,28"});
  // Missing options.
  InferenceOptions none = options(model, in, "");
  expect_error<kiln::UsageError>([&] { run_inference(none); }, {"-o"});
  EXPECT_EQ(kiln::read_file((out / "inference.csv").string()), "previous run\n");
}

TEST(Inference, CheckOptionsValidatesWithoutCreatingTheOutput) {
  TempDir d;
  const std::string model = make_model(d.path);
  write_png(d.path / "in" / "a.png", pattern(50), 1);
  const fs::path out = d.path / "new" / "out";
  check_inference_options(options(model, d.path / "in", out));
  EXPECT_FALSE(fs::exists(d.path / "new"));
  expect_error<kiln::DataError>([&] { check_inference_options(options(model, d.path / "missing", out)); },
                                {"missing"});
  InferenceOptions neg = options(model, d.path / "in", out);
  neg.batch_size = -1;
  expect_error<kiln::UsageError>([&] { check_inference_options(neg); }, {"batch_size"});
}
