// TAO classification (makenet) experiment spec → kiln's classification spec. Keys not listed map to the kiln key of
// the same name (kiln's schema keeps TAO's names).
#include <cmath>

#include "kiln/specs/classification.h"
#include "profile.h"
#include "tao_classification.pb.h"

namespace kiln::migrate::detail {
namespace {

const char* kNoTaoWeights =
    "kiln loads kiln model files (.kiln); TAO's .tlt/.hdf5 Keras weights cannot be read: train from scratch, or "
    "start from a model kiln trained";

// TAO's model_config.arch names that kiln builds.
Verdict write_arch(const TaoEntry& e, const Verdict& rule, Context& c) {
  const std::string arch = scalar_text(e.values.front());
  if (arch != "resnet" && arch != "mobilenet_v2") {
    return {Outcome::kUnsupported, "", "kiln builds resnet, mobilenet_v2 and lenet5; not '" + arch + "'"};
  }
  write_entry(e, "model_config.arch", c.out);
  return rule;
}

Verdict write_n_layers(const TaoEntry& e, const Verdict& rule, Context& c) {
  int64_t n = std::get<int64_t>(e.values.front());
  if (n == 0) n = 18;  // TAO's default
  if (n != 10 && n != 18 && n != 34) {
    return {Outcome::kUnsupported, "", "kiln's ResNet has 10, 18 or 34 layers; not " + std::to_string(n)};
  }
  c.out.set("model_config.n_layers", {}, {Scalar{n}}, e.where.line);
  return rule;
}

Verdict write_pretrained(const TaoEntry& e, const Verdict& rule, Context& c) {
  const std::string path = scalar_text(e.values.front());
  if (path.empty()) return rule;
  if (path.size() < 5 || path.compare(path.size() - 5, 5, ".kiln") != 0) return {Outcome::kUnsupported, "", kNoTaoWeights};
  write_entry(e, "train_config.pretrained_model_path", c.out);
  return rule;
}

Verdict write_folder(const std::string& source, const TaoEntry& e, Context& c) {
  c.out.set("dataset_config." + source + ".type", {}, {Scalar{std::string("image_folder")}}, e.where.line);
  c.out.set("dataset_config." + source + ".root", {}, e.values, e.where.line);
  return {Outcome::kChanged, "dataset_config." + source + ".root",
          "a folder of class folders, as TAO's: a source of `type: image_folder`"};
}

Verdict write_eval_path(const TaoEntry& e, const Verdict& rule, Context& c) {
  const TaoEntry* val = c.find("train_config.val_dataset_path");
  if (!val) return write_folder("val", e, c);
  if (val->values == e.values) return {Outcome::kChanged, "dataset_config.val.root", "the same folder as val_dataset_path"};
  return rule;
}

Verdict write_eval_workers(const TaoEntry& e, const Verdict& rule, Context& c) {
  if (!c.find("train_config.n_workers")) write_entry(e, "train_config.n_workers", c.out);
  return rule;
}

int channels_of(const Context& c) {
  const TaoEntry* size = c.find("model_config.input_image_size");
  return size && scalar_text(size->values.front()).rfind("1", 0) == 0 ? 1 : 3;
}

// TAO's preprocess_mode as kiln's mean/std of pixels scaled to [0, 1], RGB order (TAO's caffe mode feeds BGR).
void write_normalisation(Context& c, std::string mode, int line, const std::string& comment) {
  const int channels = channels_of(c);
  std::vector<double> mean, std;
  if (mode == "tf") {  // x / 127.5 - 1
    mean.assign(channels, 0.5);
    std.assign(channels, 0.5);
  } else if (mode == "torch") {  // x / 255, then ImageNet's mean and std
    mean = channels == 1 ? std::vector<double>{0.449} : std::vector<double>{0.485, 0.456, 0.406};
    std = channels == 1 ? std::vector<double>{0.226} : std::vector<double>{0.229, 0.224, 0.225};
  } else {  // caffe (TAO's default): x - mean of 0-255 pixels, no scaling
    std::map<std::string, double> means{{"r", 123.68}, {"g", 116.779}, {"b", 103.939}, {"l", 117.3786}};
    for (const auto& e : c.entries) {
      if (e.pattern == "train_config.image_mean{}") means[e.subs.front()] = std::get<double>(e.values.front());
    }
    const std::vector<std::string> order = channels == 1 ? std::vector<std::string>{"l"}
                                                         : std::vector<std::string>{"r", "g", "b"};
    for (const auto& ch : order) mean.push_back(std::round(means[ch] / 255.0 * 1e6) / 1e6);
    std.assign(channels, std::round(1.0 / 255.0 * 1e8) / 1e8);
  }
  std::vector<Scalar> m(mean.begin(), mean.end()), s(std.begin(), std.end());
  c.out.set("dataset_config.image_mean", {}, m, line);
  c.out.set("dataset_config.image_std", {}, s, line);
  if (!comment.empty()) c.out.comment("dataset_config.image_mean", {}, comment);
}

Verdict write_preprocess(const TaoEntry& e, const Verdict& rule, Context& c) {
  const std::string mode = scalar_text(e.values.front());
  if (mode != "tf" && mode != "torch" && mode != "caffe" && !mode.empty()) {
    return {Outcome::kUnsupported, "", "TAO's modes are caffe, tf and torch; not '" + mode + "'"};
  }
  write_normalisation(c, mode, e.where.line, "TAO's preprocess_mode '" + mode + "' (" + rule.note + ")");
  return rule;
}

// The caffe means are written with the normalisation (write_normalisation), not entry by entry at image_mean.
Verdict written_with_preprocess_mode(const TaoEntry&, const Verdict& rule, Context&) { return rule; }

void finish(Context& c) {
  if (c.find("train_config.preprocess_mode")) return;
  write_normalisation(c, "caffe", 0,
                      "TAO's default preprocess_mode, caffe: 0-255 means subtracted, no scaling (as mean/255, std "
                      "1/255 of [0, 1] pixels)");
  c.defaults.push_back("dataset_config.image_mean");
  c.defaults.push_back("dataset_config.image_std");
}

std::vector<Rule> rules() {
  const std::string no_lr =
      "the rate comes from lr_config, which overrides this value every step in TAO as in kiln; not written";
  return {
    Rule{"model_config.arch", {Outcome::kMapped, "model_config.arch", ""}, write_arch},
    Rule{"model_config.n_layers", {Outcome::kMapped, "model_config.n_layers", "0 is TAO's 18"},
         write_n_layers},
    unsupported("model_config.resize_interpolation_method", "kiln resizes bilinearly"),
    unsupported("model_config.retain_head", "pretrained TAO heads cannot be loaded (.hdf5)"),
    unsupported("model_config.use_pooling", "kiln's ResNet downsamples with strided convolutions"),
    unsupported("model_config.all_projections", "kiln's ResNet projects only where shapes change"),
    unsupported("model_config.freeze_bn", "batch-norm statistics always train"),
    unsupported("model_config.batch_norm_config.*", "PyTorch's batch-norm momentum and epsilon are used"),
    unsupported("model_config.activation.*", "kiln's networks use ReLU (ReLU6 in MobileNetV2)"),
    unsupported("model_config.byom_model", "bring-your-own-model (.tltb) files cannot be read"),
    changed("train_config.train_dataset_path", "dataset_config.train.root", "",
            [](const TaoEntry& e, const Verdict&, Context& c) { return write_folder("train", e, c); }),
    changed("train_config.val_dataset_path", "dataset_config.val.root", "",
            [](const TaoEntry& e, const Verdict&, Context& c) { return write_folder("val", e, c); }),
    Rule{"train_config.pretrained_model_path", {Outcome::kMapped, "train_config.pretrained_model_path", ""},
         write_pretrained},
    changed("train_config.optimizer.sgd.lr", "", no_lr),
    changed("train_config.optimizer.adam.lr", "", no_lr),
    unsupported("train_config.optimizer.sgd.decay", "Keras' per-step decay; kiln's rate follows lr_config"),
    unsupported("train_config.optimizer.adam.decay", "Keras' per-step decay; kiln's rate follows lr_config"),
    unsupported("train_config.optimizer.rmsprop.*", "kiln's optimizers are SGD and Adam"),
    changed("train_config.enable_random_crop", "dataset_config.augmentation.enable_random_crop",
            "TAO crops a random area and aspect ratio and resizes back; kiln pads by crop_padding pixels "
            "and crops to the input size"),
    unsupported("train_config.enable_center_crop", "kiln evaluates whole images (no centre crop)"),
    unsupported("train_config.enable_color_augmentation", "kiln has no colour augmentation for classifiers"),
    changed("train_config.preprocess_mode", "dataset_config.image_mean",
            "as kiln's image_mean/image_std of [0, 1] pixels, RGB order: tf = 0.5/0.5, torch = ImageNet's "
            "mean/std, caffe = mean/255 with std 1/255",
            write_preprocess),
    changed("train_config.image_mean{}", "dataset_config.image_mean",
            "caffe mode's 0-255 channel means, divided by 255 into image_mean (RGB order)",
            written_with_preprocess_mode),
    unsupported("train_config.mixup_alpha", "kiln has no mixup"),
    unsupported("train_config.model_parallelism", "kiln trains data-parallel only"),
    renamed("train_config.disable_horizontal_flip", "dataset_config.augmentation.disable_horizontal_flip"),
    unsupported("train_config.visualizer.weight_histograms",
                "kiln's TensorBoard logs hold scalars and sample images, no weight histograms"),
    unsupported("train_config.visualizer.wandb_config.*", "kiln does not log to Weights & Biases"),
    unsupported("train_config.visualizer.clearml_config.*", "kiln does not log to ClearML"),
    changed("eval_config.eval_dataset_path", "dataset_config.val.root",
            "kiln evaluates dataset_config.val, which val_dataset_path already sets: evaluate this folder "
            "with `dataset_config.val.root=PATH` on the command line",
            write_eval_path),
    changed("eval_config.model_path", "", "a flag, not a key: kiln classification evaluate -m MODEL "
                                          "(a .kiln file; TAO's .tlt/.hdf5 cannot be read)"),
    changed("eval_config.n_workers", "train_config.n_workers",
            "kiln's loaders use train_config.n_workers for evaluation too (written unless that is set)",
            write_eval_workers),
    unsupported("eval_config.enable_center_crop", "kiln evaluates whole images (no centre crop)"),
  };
}

}  // namespace

Profile classification_profile() {
  return Profile{Network::kClassification, Kind::kTrain, kiln::tao::classification::Experiment::descriptor(),
                 &specs::classification_schema(),
                 "kiln classification train -e THIS.yaml -r RESULTS (and evaluate, prune, export, inference)",
                 rules(),
                 {
                     TaoDefault{"model_config.use_batch_norm", {Scalar{false}}, "TAO's is false, kiln's true"},
                     TaoDefault{"dataset_config.augmentation.disable_horizontal_flip", {Scalar{false}},
                                "TAO flips by default, kiln does not"},
                 },
                 finish};
}

}  // namespace kiln::migrate::detail
