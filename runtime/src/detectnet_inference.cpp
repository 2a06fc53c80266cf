// `kiln detectnet_v2 inference` (detectnet.h): images → KITTI labels with confidences + drawings of the boxes.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "kiln/runtime/detection_overlay.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/detection/augment.h"
#include "kiln/detection/image_io.h"
#include "kiln/detection/postprocess.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/inference.h"
#include "kiln/runtime/report.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {

namespace kd = kiln::detection;

constexpr const char* kLabelsDir = "labels";
constexpr const char* kDrawingsDir = "images_annotated";  // TAO's name

std::string with_extension(const std::string& rel, const std::string& ext) {
  fs::path p(rel);
  p.replace_extension(ext);
  return p.generic_string();
}

// The spec's settings, checked on the launcher before any rank starts. Only the spec's own keys are read: its data
// paths (the training machine's) need not exist here.
struct DetectionInferenceSpec {
  DetectnetConfig cfg;
  DetectionOutputs outputs;
};

DetectionInferenceSpec load_inference_spec(const DetectnetInferenceOptions& opts) {
  if (opts.run.model_path.empty()) throw UsageError("detectnet_v2 inference needs a model: -m model.kiln");
  if (opts.input.empty()) throw UsageError("detectnet_v2 inference needs its input: -i <image or folder>");
  if (opts.output_dir.empty()) throw UsageError("detectnet_v2 inference needs an output directory: -o <dir>");
  if (opts.batch_size < 0) throw UsageError(log::cat("--batch_size must be positive, got ", opts.batch_size));
  const specs::Spec spec =
      specs::load_spec(detectnet_schema_without_path_checks(), opts.run.spec_file, opts.run.overrides);
  DetectnetConfig cfg = DetectnetConfig::from_spec(spec);
  DetectionOutputs outputs = DetectionOutputs::from_spec(spec, cfg.classes);
  return {std::move(cfg), std::move(outputs)};
}

std::vector<InferenceItem> image_inputs(const DetectnetInferenceOptions& opts) {
  auto items = list_inference_inputs(opts.input, opts.output_dir);
  for (const auto& it : items)
    if (it.idx_index >= 0) throw UsageError(opts.input + ": detection runs on image files, not IDX records");
  return items;
}

// One input image after detection: its boxes in its own pixels, and the image for drawing.
struct DetectedImage {
  std::vector<kd::KittiObject> objects;
  std::vector<int> class_ids;
  RgbImage original;
};

// Images [b0, b1) of `items` through the network in one batch.
std::vector<DetectedImage> detect_batch(networks::Network& net, const DetectnetConfig& cfg, const c10::Device& device,
                                        const std::vector<InferenceItem>& items, size_t b0, size_t b1) {
  const int channels = cfg.augment.preprocessing.output_channels;
  const int64_t plane = static_cast<int64_t>(cfg.grid.input_width) * cfg.grid.input_height;
  at::Tensor images = at::empty({static_cast<int64_t>(b1 - b0), channels, cfg.grid.input_height,
                                 cfg.grid.input_width}, at::kFloat);
  std::vector<kd::SampleTransform> transforms;
  std::vector<DetectedImage> out(b1 - b0);
  for (size_t i = b0; i < b1; ++i) {
    const std::string bytes = read_file(items[i].source);
    kd::ImageInfo info;
    const std::vector<uint8_t> px = kd::decode_image(bytes, items[i].source, channels, &info);
    const kd::SampleTransform t = kd::draw_transform(cfg.augment, info.width, info.height, 0, /*train=*/false);
    kd::warp_image(px.data(), info.width, info.height, channels, t,
                   images.data_ptr<float>() + static_cast<int64_t>(i - b0) * channels * plane);
    transforms.push_back(t);
    out[i - b0].original = {info.height, info.width, kd::decode_image(bytes, items[i].source, 3, nullptr)};
  }
  const at::Tensor outputs = net.forward(images.to(device)).to(at::kCPU).contiguous();
  const auto heads = networks::split_detectnet_heads(outputs, static_cast<int>(cfg.classes.size()));
  const at::Tensor cov = heads.cov.contiguous(), bbox = heads.bbox.contiguous();
  for (size_t r = 0; r < out.size(); ++r) {
    const kd::SampleTransform& t = transforms[r];
    const auto found = kd::detections_from_grids(cfg.grid, cov[static_cast<int64_t>(r)].data_ptr<float>(),
                                                 bbox[static_cast<int64_t>(r)].data_ptr<float>(), cfg.clustering);
    for (const kd::Detection& d : found) {
      kd::KittiObject o;
      o.type = cfg.classes[static_cast<size_t>(d.class_id)];
      // Back from network pixels to the image's own (the evaluation transform is a plain resize).
      o.box = {d.box.x1 / t.resize_x, d.box.y1 / t.resize_y, d.box.x2 / t.resize_x, d.box.y2 / t.resize_y};
      o.score = d.confidence;
      out[r].objects.push_back(o);
      out[r].class_ids.push_back(d.class_id);
    }
  }
  return out;
}

// A rank's output files, staged in a hidden folder of the output directory and moved into place by publish() only
// when every rank has finished, so a failed run leaves nothing half-written. The folder goes away in every case.
class StagedOutputs {
 public:
  StagedOutputs(const std::string& output_dir, int rank)
      : out_(output_dir), dir_(out_ / (".kiln-detect.rank" + std::to_string(rank) + ".tmp")) {
    fs::remove_all(dir_);
  }
  ~StagedOutputs() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  StagedOutputs(const StagedOutputs&) = delete;
  StagedOutputs& operator=(const StagedOutputs&) = delete;

  void write(const std::string& sub, const std::string& rel, const std::string& bytes) const {
    const fs::path to = dir_ / sub / rel;
    fs::create_directories(to.parent_path());
    atomic_write_string(to.string(), bytes);
  }

  void publish() const {
    if (!fs::exists(dir_)) return;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      const fs::path to = out_ / fs::relative(e.path(), dir_);
      fs::create_directories(to.parent_path());
      fs::rename(e.path(), to);
    }
  }

 private:
  fs::path out_, dir_;
};

void stage_image(const StagedOutputs& staged, const InferenceItem& item, const DetectedImage& image,
                 const DetectionOutputs& outputs) {
  if (outputs.labels) {
    std::string lines;
    for (const kd::KittiObject& o : image.objects) lines += kd::format_kitti_object(o, /*with_score=*/true) + "\n";
    staged.write(kLabelsDir, with_extension(item.annotated, ".txt"), lines);
  }
  if (outputs.drawings)
    staged.write(kDrawingsDir, item.annotated,
                 encode_png(draw_detections(image.original, image.objects, image.class_ids, outputs)));
}

size_t count_drawn(const DetectedImage& image, const DetectionOutputs& outputs) {
  size_t n = 0;
  for (size_t i = 0; i < image.objects.size(); ++i)
    n += outputs.drawn(image.class_ids[i], image.objects[i].score);
  return n;
}

void report(const DetectnetInferenceOptions& opts, const DetectionOutputs& outputs, size_t images, double found,
            double drawn) {
  const fs::path out(opts.output_dir);
  std::string where;
  if (outputs.labels) where += ": KITTI labels (every box) in " + (out / kLabelsDir).string();
  if (outputs.drawings)
    where += log::cat(outputs.labels ? "; " : ": ", static_cast<int64_t>(drawn),
                      " boxes at or above the drawing threshold drawn in ", (out / kDrawingsDir).string());
  log::info(log::cat("Detected ", static_cast<int64_t>(found), " objects in ", images, " images", where));
}

}  // namespace

void check_detectnet_inference(const DetectnetInferenceOptions& opts) {
  (void)load_inference_spec(opts);
  (void)image_inputs(opts);
}

void run_detectnet_inference(const DetectnetInferenceOptions& opts) {
  std::optional<Distributed> dist;
  std::optional<StatusLog> status;  // <out>/status.json (rank 0), as TAO's DetectNet_v2 inference writes it
  try {
    const DetectionInferenceSpec setup = load_inference_spec(opts);
    const DetectnetConfig& cfg = setup.cfg;
    LoadedModel model = load_model(opts.run.model_path);
    if (model.net->architecture().arch != "detectnet_v2")
      throw UsageError(opts.run.model_path + " is a " + model.net->architecture().arch + " model, not detectnet_v2");
    if (model.class_names != cfg.classes)
      throw UsageError(opts.run.model_path + ": its classes differ from the spec's target classes");
    const auto items = image_inputs(opts);

    dist.emplace(opts.run.rank, select_device(opts.run.device, opts.run.rank));
    if (!dist->is_root()) log::set_level(log::Level::kWarn);
    configure_threads(opts.run.threads, opts.run.rank);
    ensure_writable_dir(opts.output_dir);
    if (dist->is_root()) status = start_inference_status(opts.output_dir, "Starting DetectNet_v2 Inference");
    const StagedOutputs staged(opts.output_dir, dist->rank());
    const auto [first, last] = contiguous_shard(items.size(), dist->rank(), dist->world_size());
    const auto batch = static_cast<size_t>(opts.batch_size > 0 ? opts.batch_size : cfg.batch_size);
    networks::Network& net = *model.net;
    net.to(dist->device());
    net.eval();
    at::NoGradGuard no_grad;
    log::info(log::cat("Detecting in ", items.size(), " images from ", opts.input, " with ", opts.run.model_path,
                       dist->world_size() > 1 ? log::cat(" on ", dist->world_size(), " ranks") : std::string()));
    std::optional<Progress> progress;
    if (dist->is_root()) progress.emplace("Inference", static_cast<int64_t>(last - first), "image");
    at::Tensor counts = at::zeros({2}, at::kDouble);  // objects found, objects drawn
    for (size_t b0 = first; b0 < last; b0 += batch) {
      throw_if_interrupted();
      dist->check();
      const size_t b1 = std::min(last, b0 + batch);
      const auto detected = detect_batch(net, cfg, dist->device(), items, b0, b1);
      for (size_t i = b0; i < b1; ++i) {
        const DetectedImage& image = detected[i - b0];
        stage_image(staged, items[i], image, setup.outputs);
        counts[0] += static_cast<double>(image.objects.size());
        counts[1] += static_cast<double>(count_drawn(image, setup.outputs));
      }
      if (progress) progress->update(static_cast<int64_t>(b1 - first));
    }
    if (progress) progress->finish();

    // Every rank finished its share (the sum completes only then): publish the staged files.
    dist->sum(counts);
    staged.publish();
    dist->barrier();
    report(opts, setup.outputs, items.size(), counts[0].item<double>(), counts[1].item<double>());
    if (status) status->write(StatusLog::Status::kSuccess, kInferenceSuccess);
  } catch (const std::exception& e) {
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    if (dist) dist->abort_job(log::cat("rank ", opts.run.rank.rank, " failed: ", e.what()), exit_code_of(e));
    throw;
  }
}

}  // namespace kiln::runtime
