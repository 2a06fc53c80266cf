// TAO DetectNet_v2 specs → kiln: the experiment (train, retrain, evaluate), dataset_convert's kitti_config spec and
// the inference spec. Keys not listed map to the kiln key of the same name (kiln's schema keeps TAO's names and
// writes TAO's maps as lists of {key, value}).
#include "kiln/specs/detectnet_v2.h"
#include "profile.h"
#include "tao_detectnet_v2.pb.h"

namespace kiln::migrate::detail {
namespace {

bool is_kiln_model(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".kiln") == 0;
}

// TAO's TFRecords glob ("/data/tfrecords/kitti_trainval/*") becomes the folder kiln's dataset_convert writes
// shards into: the glob's folder.
Verdict write_shards(const TaoEntry& e, const std::string& kiln, Context& c) {
  std::string path = scalar_text(e.values.front());
  const size_t slash = path.find_last_of('/');
  if (path.find_first_of("*?[") != std::string::npos && slash != std::string::npos) path.resize(slash);
  c.out.set(kiln, e.subs, {Scalar{path}}, e.where.line);
  c.out.comment(kiln, e.subs, "TAO's TFRecords " + scalar_text(e.values.front()) +
                                  ": convert the KITTI data into this folder with kiln detectnet_v2 dataset_convert");
  return {Outcome::kChanged, kiln,
          "TFRecords become kiln shards: the glob's folder, which `kiln detectnet_v2 dataset_convert -o` must write"};
}

Verdict write_pretrained(const TaoEntry& e, const Verdict& rule, Context& c) {
  const std::string path = scalar_text(e.values.front());
  if (path.empty()) return rule;
  if (!is_kiln_model(path)) {
    return {Outcome::kUnsupported, "",
            "kiln loads kiln model files (.kiln); TAO's .hdf5/.tlt Keras weights cannot be read: train from scratch, "
            "or start from a model kiln trained (retrain after `kiln detectnet_v2 prune`)"};
  }
  write_entry(e, "model_config.pretrained_model_file", c.out);
  return rule;
}

std::vector<Rule> experiment_rules() {
  return {
      changed("dataset_config.data_sources[].tfrecords_path", "dataset_config.data_sources[].shards", "",
              [](const TaoEntry& e, const Verdict&, Context& c) {
                return write_shards(e, "dataset_config.data_sources[].shards", c);
              }),
      changed("dataset_config.validation_data_source.tfrecords_path", "dataset_config.validation_data_source.shards",
              "", [](const TaoEntry& e, const Verdict&, Context& c) {
                return write_shards(e, "dataset_config.validation_data_source.shards", c);
              }),
      Rule{"model_config.pretrained_model_file", {Outcome::kMapped, "model_config.pretrained_model_file", ""},
           write_pretrained},
      changed("model_config.load_graph", "", "kiln's pruned models always carry their layer widths; not needed"),
      unsupported("model_config.freeze_pretrained_layers", "use model_config.freeze_blocks"),
      unsupported("model_config.allow_loaded_model_modification", "TAO's Keras graph surgery has no kiln counterpart"),
      unsupported("model_config.training_precision.*", "mixed precision is not in kiln yet"),
      unsupported("model_config.use_pooling", "kiln's ResNet downsamples with strided convolutions"),
      unsupported("model_config.all_projections", "kiln's ResNet projects only where shapes change"),
      unsupported("model_config.activation.*", "kiln's networks use ReLU"),
      unsupported("training_config.visualizer.target_class_config{}.*",
                  "kiln's sample images draw boxes with bbox_handler_config's thresholds, as inference does"),
      unsupported("training_config.visualizer.wandb_config.*", "kiln does not log to Weights & Biases"),
      unsupported("training_config.visualizer.clearml_config.*", "kiln does not log to ClearML"),
      unsupported("training_config.enable_qat", "quantisation-aware training: kiln calibrates INT8 after training"),
      unsupported("dataset_export_config[].*", "kiln converts datasets with a spec of its own: import the "
                                               "dataset_convert spec file (kitti_config) instead"),
  };
}

// kiln's inference options live in the experiment spec's bbox_handler_config: the import of an inference spec is
// that group, validated on its own.
const specs::Schema& bbox_handler_schema() {
  static const specs::Schema schema = [] {
    specs::Schema s{"detectnet_v2_inference", {}};
    for (const auto& f : specs::detectnet_v2_schema().fields) {
      if (f.name == "bbox_handler_config") s.fields.push_back(f);
    }
    return s;
  }();
  return schema;
}

}  // namespace

Profile detectnet_v2_train_profile() {
  return Profile{Network::kDetectNetV2, Kind::kTrain, kiln::tao::detectnet_v2::Experiment::descriptor(),
                 &specs::detectnet_v2_schema(),
                 "kiln detectnet_v2 train -e THIS.yaml -r RESULTS (and evaluate, prune, export, inference)",
                 experiment_rules(),
                 {}};
}

Profile detectnet_v2_convert_profile() {
  return Profile{
      Network::kDetectNetV2, Kind::kConvert, kiln::tao::detectnet_v2::DatasetExport::descriptor(),
      &specs::detectnet_v2_convert_schema(), "kiln detectnet_v2 dataset_convert -d THIS.yaml -o SHARDS_FOLDER",
      {
          changed("image_directory_path", "", "kiln reads the images under kitti_config.root_directory_path"),
          Rule{"kitti_config.partition_mode", {Outcome::kMapped, "kitti_config.partition_mode", ""},
               [](const TaoEntry& e, const Verdict& rule, Context& c) {
                 if (scalar_text(e.values.front()) != "random") {
                   return Verdict{Outcome::kUnsupported, "",
                                  "kiln partitions at random; TAO's sequence mode (whole sequences per fold) is not "
                                  "supported"};
                 }
                 write_entry(e, rule.kiln, c.out);
                 return rule;
               }},
          unsupported("kitti_config.point_clouds_dir", "kiln converts 2D images and labels only"),
          unsupported("kitti_config.calibrations_dir", "kiln converts 2D images and labels only"),
          unsupported("kitti_config.kitti_sequence_to_frames_file", "kiln partitions at random (partition_mode: random)"),
          unsupported("coco_config.*", "kiln converts KITTI-format data"),
          unsupported("sample_modifier_config.*", "kiln does not duplicate or filter samples while converting"),
      },
      {TaoDefault{"kitti_config.num_partitions", {Scalar{int64_t{2}}}, "TAO's random partition has 2 folds"}}};
}

Profile detectnet_v2_inference_profile() {
  const std::string model = "kiln reads it from the model file (-m)";
  return Profile{
      Network::kDetectNetV2, Kind::kInference, kiln::tao::detectnet_v2::Inference::descriptor(),
      &bbox_handler_schema(),
      "paste bbox_handler_config into the experiment spec; kiln detectnet_v2 inference -e EXPERIMENT.yaml -m "
      "MODEL.kiln -i IMAGES -r OUT",
      {
          changed("inferencer_config.tlt_config.model", "",
                  "a flag, not a key: -m MODEL (a .kiln file; TAO's .tlt cannot be read)"),
          unsupported("inferencer_config.tensorrt_config.*", "kiln runs its own model file (export writes ONNX and "
                                                             "INT8 caches for TensorRT)"),
          changed("inferencer_config.target_classes", "", model),
          changed("inferencer_config.image_width", "", model),
          changed("inferencer_config.image_height", "", model),
          changed("inferencer_config.image_channels", "", model),
          changed("inferencer_config.stride", "", model),
          changed("inferencer_config.batch_size", "", "a flag: --batch_size N"),
          changed("inferencer_config.gpu_index", "", "a flag: --gpus"),
          unsupported("inferencer_config.input_nodes", "TAO's graph node names have no kiln counterpart"),
          unsupported("inferencer_config.output_nodes", "TAO's graph node names have no kiln counterpart"),
          unsupported("bbox_handler_config.classwise_bbox_handler_config{}.clustering_config.*",
                      "kiln clusters with the experiment spec's postprocessing_config (the same keys)"),
          unsupported("bbox_handler_config.classwise_bbox_handler_config{}.confidence_model",
                      "kiln's confidence is the coverage (NMS) or summed coverage (DBSCAN)"),
          unsupported("bbox_handler_config.classwise_bbox_handler_config{}.output_map",
                      "kiln names classes as the model file does"),
          unsupported("bbox_handler_config.postproc_classes", "kiln post-processes every class of the model"),
      },
      {}};
}

}  // namespace kiln::migrate::detail
