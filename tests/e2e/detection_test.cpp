// DetectNet_v2 through the CLI on a few synthetic scenes: synth_kitti → dataset_convert (train and val) → train on
// 2 ranks with validation → resume (a rerun finishes at once) → evaluate; and a target class without objects stops
// the run before training, naming the class. Accuracy is not the point here (a few steps); the plumbing is.
#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"

using namespace kiln::testing;

namespace {

const std::string kSpec = sample_spec("detectnet_v2_synth.yaml");

}  // namespace

TEST(Detection, SynthConvertTrainOnTwoRanksResumeEvaluate) {
  TempDir dir("detection");
  const fs::path synth = dir.path / "synth", run = dir.path / "run";
  const std::string small = small_synth_detection(dir.path, 48, 4) +
                            " training_config.num_epochs=2"
                            " training_config.batch_size_per_gpu=4 training_config.checkpoint_interval=1"
                            " evaluation_config.first_validation_epoch=1"
                            " evaluation_config.validation_period_during_training=1";
  ASSERT_FALSE(HasFailure()) << "the synthetic scenes or their shards were not made";
  auto r = run_kiln("detectnet_v2 train -e " + kSpec + " -r " + run.string() + small + " --num_processes 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Execution status: PASS"), std::string::npos);
  ASSERT_TRUE(fs::exists(run / "model.kiln"));
  const auto done = last_event(run);
  EXPECT_EQ(done["status"], "SUCCESS");
  EXPECT_EQ(done["epoch"], 2);
  EXPECT_TRUE(done["kpi"].contains("mean average precision"));  // TAO's name, in percent
  const auto metrics = nlohmann::json::parse(slurp(run / "evaluation" / "metrics.json"));
  ASSERT_EQ(metrics["classes"].size(), 10u);
  int with_truth = 0;
  for (const auto& c : metrics["classes"]) with_truth += c["ground_truth"].get<int>() > 0;
  EXPECT_GT(with_truth, 3);  // the validation scenes hold objects of several classes, all of them scored
  EXPECT_TRUE(fs::exists(run / "evaluation" / "pr_curves.png"));
  EXPECT_TRUE(fs::exists(run / "training_curves.png"));
  EXPECT_NE(slurp(run / "training_history.csv").find("epoch,train_loss,mAP,lr,seconds,images_per_s\n1,"),
            std::string::npos);

  // A rerun resumes from the last checkpoint: nothing left to train.
  r = run_kiln("detectnet_v2 train -e " + kSpec + " -r " + run.string() + small);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Resuming from"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch 1/2"), std::string::npos) << r.output;

  // Evaluate reads only the validation shards: the training shards may be gone (another machine's data).
  const std::string no_training_data = " \"dataset_config.data_sources=[{shards: " + (dir.path / "gone").string() + "}]\"";
  r = run_kiln("detectnet_v2 evaluate -e " + kSpec + " -m " + (run / "model.kiln").string() + " -r " +
               (dir.path / "eval").string() + small + no_training_data);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mAP"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(slurp(dir.path / "eval" / "evaluation" / "metrics.json"))["classes"].size(), 10u);
  const auto evaluated = last_event(dir.path / "eval");  // TAO's evaluate events and names
  EXPECT_EQ(evaluated["status"], "SUCCESS");
  EXPECT_TRUE(evaluated["kpi"].contains("mean average precision")) << evaluated.dump();
  EXPECT_FALSE(evaluated["categorical"]["average_precision"].empty()) << evaluated.dump();

  // ... but not the validation shards it scores: exit 2 naming the key, before any rank starts.
  r = run_kiln("detectnet_v2 evaluate -e " + kSpec + " -m " + (run / "model.kiln").string() + " -r " +
               (dir.path / "eval2").string() + small + " dataset_config.validation_data_source.shards=" +
               (dir.path / "gone").string() + " --num_processes 2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("dataset_config.validation_data_source.shards: path does not exist: " +
                          (dir.path / "gone").string()),
            std::string::npos)
      << r.output;

  // Inference on the validation images, 2 ranks, with none of the spec's data present: one KITTI label file (16
  // fields: the confidence last) and one drawn image per input, as TAO lays them out; nothing staged is left behind.
  const fs::path inferred = dir.path / "inferred";
  r = run_kiln("detectnet_v2 inference -e " + kSpec + " -m " + (run / "model.kiln").string() + " -i " +
               (synth / "val" / "images").string() + " -o " + inferred.string() + small + no_training_data +
               " dataset_config.validation_data_source.shards=" + (dir.path / "gone").string() +
               " --num_processes 2");
  ASSERT_EQ(r.code, 0) << r.output;
  size_t images = 0, labels = 0;
  for (const auto& e : fs::directory_iterator(synth / "val" / "images")) {
    ++images;
    const std::string stem = e.path().stem().string();
    EXPECT_TRUE(fs::exists(inferred / "images_annotated" / (stem + ".png"))) << stem;
    if (!fs::exists(inferred / "labels" / (stem + ".txt"))) continue;
    ++labels;
    std::istringstream lines(slurp(inferred / "labels" / (stem + ".txt")));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string x; fields >> x;) f.push_back(x);
      EXPECT_EQ(f.size(), 16u) << line;
    }
  }
  EXPECT_EQ(labels, images);
  EXPECT_EQ(images, 12u);  // 25 % of 48
  for (const auto& e : fs::directory_iterator(inferred))
    EXPECT_EQ(e.path().filename().string().find(".kiln-detect"), std::string::npos) << e.path();
  // TAO's inference events, written once (rank 0).
  std::istringstream events(slurp(inferred / "status.json"));
  std::vector<std::string> statuses;
  for (std::string line; std::getline(events, line);) statuses.push_back(nlohmann::json::parse(line)["status"]);
  EXPECT_EQ(statuses, (std::vector<std::string>{"STARTED", "SUCCESS"}));

  // Prune (the backbone; both heads keep their widths) and retrain the pruned widths from the pruned weights.
  const fs::path pruned = dir.path / "pruned.kiln";
  r = run_kiln("detectnet_v2 prune -m " + (run / "model.kiln").string() + " -o " + pruned.string() +
               " -pth 0.99 -nf 2 -pg 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("output_bbox"), std::string::npos) << r.output;
  const auto ratio = last_event(dir.path)["kpi"]["pruning_ratio"].get<double>();
  EXPECT_LT(ratio, 0.9);
  r = run_kiln("detectnet_v2 train -e " + kSpec + " -r " + (dir.path / "retrain").string() + " -m " +
               pruned.string() + small + " training_config.num_epochs=1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(a pruned model)"), std::string::npos) << r.output;

  // The trouser class's only source is "jeans", which the data does not have: exit 3 naming it, no training, and the
  // real trousers show up as left out.
  r = run_kiln("detectnet_v2 train -e " + kSpec + " -r " + (dir.path / "bad").string() + small +
               " \"dataset_config.target_class_mapping={t_shirt: t_shirt, jeans: trouser, pullover: pullover, "
               "dress: dress, coat: coat, sandal: sandal, shirt: shirt, sneaker: sneaker, bag: bag, "
               "ankle_boot: ankle_boot}\"");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("dataset_config.data_sources: no objects of target class(es) trouser in "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("objects left out by the class mapping: trouser ("), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "bad" / "model.kiln"));
}
