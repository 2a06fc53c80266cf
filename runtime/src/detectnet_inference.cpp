// `kiln detectnet_v2 inference` (detectnet.h): images → KITTI labels with confidences + images with boxes drawn.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <optional>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/runtime/annotate.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/detection/augment.h"
#include "kiln/detection/postprocess.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/inference.h"
#include "kiln/runtime/report.h"
#include "kiln/specs/detectnet_v2.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {

namespace kd = kiln::detection;

// Ten colours that read on most backgrounds, one per class (cycled).
constexpr Rgb kPalette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
                            {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}};

std::string with_extension(const std::string& rel, const std::string& ext) {
  fs::path p(rel);
  p.replace_extension(ext);
  return p.generic_string();
}

}  // namespace

void run_detectnet_inference(const DetectnetInferenceOptions& opts) {
  std::optional<Distributed> dist;
  std::optional<StatusLog> status;  // <out>/status.json (rank 0), as TAO's DetectNet_v2 inference writes it
  fs::path staging;
  try {
    const specs::Spec spec = specs::load_spec(specs::detectnet_v2_schema(), opts.run.spec_file, opts.run.overrides);
    DetectnetConfig cfg = DetectnetConfig::from_spec(spec);
    if (opts.run.model_path.empty()) throw UsageError("detectnet_v2 inference needs a model: -m model.kiln");
    if (opts.input.empty() || opts.output_dir.empty()) throw UsageError("detectnet_v2 inference needs -i and -o");
    LoadedModel model = load_model(opts.run.model_path);
    if (model.net->architecture().arch != "detectnet_v2")
      throw UsageError(opts.run.model_path + " is a " + model.net->architecture().arch + " model, not detectnet_v2");
    if (model.class_names != cfg.classes)
      throw UsageError(opts.run.model_path + ": its classes differ from the spec's target classes");
    const auto items = list_inference_inputs(opts.input, opts.output_dir);
    for (const auto& it : items)
      if (it.idx_index >= 0) throw UsageError(opts.input + ": detection runs on image files, not IDX records");

    dist.emplace(opts.run.rank, select_device(opts.run.device, opts.run.rank));
    if (!dist->is_root()) log::set_level(log::Level::kWarn);
    configure_threads(opts.run.threads, opts.run.rank);
    ensure_writable_dir(opts.output_dir);
    if (dist->is_root()) status = start_inference_status(opts.output_dir, "Starting DetectNet_v2 Inference");
    staging = fs::path(opts.output_dir) / (".kiln-detect.rank" + std::to_string(dist->rank()) + ".tmp");
    fs::remove_all(staging);
    const auto [first, last] = contiguous_shard(items.size(), dist->rank(), dist->world_size());
    const int64_t batch = opts.batch_size > 0 ? opts.batch_size : cfg.batch_size;
    const int C = static_cast<int>(cfg.classes.size());
    const int channels = cfg.augment.preprocessing.output_channels;
    const int64_t plane = static_cast<int64_t>(cfg.grid.input_width) * cfg.grid.input_height;
    networks::Network& net = *model.net;
    net.to(dist->device());
    net.eval();
    at::NoGradGuard no_grad;
    log::info(log::cat("Detecting in ", items.size(), " images from ", opts.input, " with ", opts.run.model_path,
                       dist->world_size() > 1 ? log::cat(" on ", dist->world_size(), " ranks") : std::string()));
    std::optional<Progress> progress;
    if (dist->is_root()) progress.emplace("Inference", static_cast<int64_t>(last - first), "image");
    size_t objects = 0;
    for (size_t b0 = first; b0 < last; b0 += static_cast<size_t>(batch)) {
      throw_if_interrupted();
      dist->check();
      const size_t b1 = std::min(last, b0 + static_cast<size_t>(batch));
      at::Tensor images = at::empty({static_cast<int64_t>(b1 - b0), channels, cfg.grid.input_height,
                                     cfg.grid.input_width}, at::kFloat);
      std::vector<kd::SampleTransform> transforms;
      std::vector<RgbImage> originals;
      for (size_t i = b0; i < b1; ++i) {
        const std::string bytes = read_file(items[i].source);
        kd::ImageInfo info;
        const std::vector<uint8_t> px = kd::decode_image(bytes, items[i].source, channels, &info);
        const kd::SampleTransform t = kd::draw_transform(cfg.augment, info.width, info.height, 0, /*train=*/false);
        kd::warp_image(px.data(), info.width, info.height, channels, t,
                       images.data_ptr<float>() + static_cast<int64_t>(i - b0) * channels * plane);
        transforms.push_back(t);
        RgbImage rgb{info.height, info.width, kd::decode_image(bytes, items[i].source, 3, nullptr)};
        originals.push_back(std::move(rgb));
      }
      const at::Tensor out = net.forward(images.to(dist->device())).to(at::kCPU).contiguous();
      const auto heads = networks::split_detectnet_heads(out, C);
      const at::Tensor cov = heads.cov.contiguous(), bbox = heads.bbox.contiguous();
      for (size_t i = b0; i < b1; ++i) {
        const int64_t r = static_cast<int64_t>(i - b0);
        const auto found = kd::detections_from_grids(cfg.grid, cov[r].data_ptr<float>(), bbox[r].data_ptr<float>(),
                                                     cfg.clustering);
        const kd::SampleTransform& t = transforms[static_cast<size_t>(r)];
        RgbImage& img = originals[static_cast<size_t>(r)];
        std::string labels;
        for (const kd::Detection& d : found) {
          kd::KittiObject o;
          o.type = cfg.classes[static_cast<size_t>(d.class_id)];
          // Back from network pixels to the image's own (the evaluation transform is a plain resize).
          o.box = {d.box.x1 / t.resize_x, d.box.y1 / t.resize_y, d.box.x2 / t.resize_x, d.box.y2 / t.resize_y};
          o.score = d.confidence;
          labels += kd::format_kitti_object(o, /*with_score=*/true) + "\n";
          char caption[96];
          std::snprintf(caption, sizeof caption, "%s %.2f", o.type.c_str(), static_cast<double>(d.confidence));
          draw_box(img, static_cast<int>(o.box.x1), static_cast<int>(o.box.y1), static_cast<int>(o.box.x2 + 0.5f),
                   static_cast<int>(o.box.y2 + 0.5f), kPalette[static_cast<size_t>(d.class_id) % 10], caption);
        }
        objects += found.size();
        const std::string label_rel = with_extension(items[i].annotated, ".txt");
        fs::create_directories((staging / "labels" / label_rel).parent_path());
        fs::create_directories((staging / "images" / items[i].annotated).parent_path());
        atomic_write_string((staging / "labels" / label_rel).string(), labels);
        atomic_write_string((staging / "images" / items[i].annotated).string(), encode_png(img));
      }
      if (progress) progress->update(static_cast<int64_t>(b1 - first));
    }
    if (progress) progress->finish();

    // Every rank finished its share (the sum completes only then): publish the staged files.
    at::Tensor found = at::tensor({static_cast<double>(objects)}, at::kDouble);
    dist->sum(found);
    for (const char* sub : {"labels", "images"}) {
      const fs::path from = staging / sub;
      if (!fs::exists(from)) continue;
      for (const auto& e : fs::recursive_directory_iterator(from)) {
        if (!e.is_regular_file()) continue;
        const fs::path to = fs::path(opts.output_dir) / sub / fs::relative(e.path(), from);
        fs::create_directories(to.parent_path());
        fs::rename(e.path(), to);
      }
    }
    fs::remove_all(staging);
    dist->barrier();
    log::info(log::cat("Detected ", static_cast<int64_t>(found.item<double>()), " objects in ", items.size(),
                       " images: KITTI labels in ", (fs::path(opts.output_dir) / "labels").string(),
                       ", drawn boxes in ", (fs::path(opts.output_dir) / "images").string()));
    if (status) status->write(StatusLog::Status::kSuccess, kInferenceSuccess);
  } catch (const std::exception& e) {
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    std::error_code ec;
    if (!staging.empty()) fs::remove_all(staging, ec);
    if (dist) dist->abort_job(log::cat("rank ", opts.run.rank.rank, " failed: ", e.what()));
    throw;
  }
}

}  // namespace kiln::runtime
