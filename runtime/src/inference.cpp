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
// Here: the options and spec, the staging of annotated images, and run_inference() itself; the inputs and their
// Dataset are in inference_inputs.cpp, the drawing in annotate.cpp.
#include "kiln/runtime/inference.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <sstream>

#include "inference_inputs.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/runtime/annotate.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/data/dataset.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/experiment.h"
#include "kiln/data/loader.h"
#include "kiln/runtime/report.h"
#include "kiln/specs/classification.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {

using detail::InferenceDataset;
using detail::open_inputs;

constexpr int kTopK = 5;
constexpr const char* kCsvName = "inference.csv";
constexpr const char* kImagesDir = "images";

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

StatusLog start_inference_status(const std::string& out_dir, const std::string& message) {
  StatusLog status((fs::path(out_dir) / "status.json").string());
  status.write(StatusLog::Status::kStarted, message);
  return status;
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
  std::optional<StatusLog> status;  // <out>/status.json on rank 0 once the run starts, as TAO's inference writes it
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
    if (dist->is_root()) status = start_inference_status(out, "Starting inference.");
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
    if (status) status->write(StatusLog::Status::kSuccess, kInferenceSuccess);
  } catch (const std::exception& e) {
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    if (dist) dist->abort_job(log::cat("rank ", opts.run.rank.rank, " failed: ", e.what()), exit_code_of(e));
    if (created_out) remove_if_empty(out);
    throw;
  }
}

}  // namespace kiln::runtime
