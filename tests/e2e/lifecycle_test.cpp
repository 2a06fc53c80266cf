// The model lifecycle through the CLI on a slice of Fashion-MNIST: train → prune → retrain on 2 ranks → evaluate →
// export (fp32, fp16, int8 QDQ + calibration cache + DeepStream files) → inference on 1 and 2 ranks, plus the bad
// inputs of each step. Each exported model is run by onnxruntime inside `kiln export` and compared with LibTorch.
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"

using namespace kiln::testing;

namespace {
const std::string kSpec = sample_spec("classification_lenet5_fmnist.yaml");
const std::string kSlice =
    " dataset_config.train.max_samples=3000 dataset_config.val.max_samples=600 train_config.n_epochs=2";
const std::string kTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream cols(line);
    for (std::string cell; std::getline(cols, cell, ',');) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// Accuracy from the output of `kiln evaluate` (evaluation/metrics.json).
double evaluated_accuracy(const fs::path& model, const fs::path& results, int ranks) {
  const auto r = run_kiln("classification evaluate -e " + kSpec + " -m " + model.string() + " -r " + results.string() +
                          " dataset_config.val.max_samples=600" +
                          (ranks > 1 ? " --num_processes " + std::to_string(ranks) : ""));
  EXPECT_EQ(r.code, 0) << r.output;
  return nlohmann::json::parse(slurp(results / "evaluation" / "metrics.json"))["top1_accuracy"].get<double>();
}
}  // namespace

TEST(Lifecycle, TrainPruneRetrainExportInfer) {
  TempDir dir("lifecycle");
  const fs::path base = dir.path / "base", pruned = dir.path / "pruned" / "lenet5_pruned.kiln";
  const fs::path retrain = dir.path / "retrain", exported = dir.path / "export";

  auto r = run_kiln("classification train -e " + kSpec + " -r " + base.string() + kSlice);
  ASSERT_EQ(r.code, 0) << r.output;
  const double base_acc = evaluated_accuracy(base / "model.kiln", base, 1);

  // Prune hard: LeNet5's filters are similar in norm, so a high threshold is what removes some.
  r = run_kiln("classification prune -m " + (base / "model.kiln").string() + " -o " + pruned.string() +
               " -pth 0.7 -nf 4 -pg 2 -n max -eq union");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Pruning ratio (pruned/original): 0."), std::string::npos) << r.output;
  const auto prune_event = last_event(pruned.parent_path());
  EXPECT_EQ(prune_event["status"], "SUCCESS");
  const double ratio = prune_event["kpi"]["pruning_ratio"].get<double>();
  EXPECT_LT(ratio, 0.8) << r.output;

  // Retrain on 2 ranks with the pruned model as pretrained weights: its widths come from the file, not the spec.
  r = run_kiln("classification train -e " + kSpec + " -r " + retrain.string() + " -m " + pruned.string() + kSlice +
               " --num_processes 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(a pruned model)"), std::string::npos) << r.output;
  const double retrain_acc = evaluated_accuracy(retrain / "model.kiln", retrain, 2);
  EXPECT_GT(retrain_acc, base_acc - 0.1) << "retraining should recover most of the accuracy";

  // Export: each data type is run in onnxruntime by export itself (a mismatch would fail it).
  for (const char* type : {"fp32", "fp16"}) {
    const fs::path onnx = exported / (std::string("model_") + type + ".onnx");
    r = run_kiln("classification export -m " + (retrain / "model.kiln").string() + " -o " + onnx.string() +
                 " --data_type " + type);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("max |logit difference|"), std::string::npos) << r.output;
    EXPECT_GT(fs::file_size(onnx), 1000u);
  }
  // Without onnxruntime (no node_modules where KILN_ORT_DIR points) the export is checked by the ONNX checker only:
  // a warning, not a failure.
  fs::create_directories(dir.path / "no_ort");
  r = run_shell("KILN_ORT_DIR=" + (dir.path / "no_ort").string() + " " + KILN_BIN + " classification export -m " +
                (retrain / "model.kiln").string() + " -o " + (dir.path / "no_ort" / "m.onnx").string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("onnxruntime (node + onnxruntime-node"), std::string::npos) << r.output;
  EXPECT_EQ(last_event(dir.path / "no_ort")["status"], "SUCCESS") << r.output;

  const fs::path int8 = exported / "model_int8.onnx";
  r = run_kiln("classification export -m " + (retrain / "model.kiln").string() + " -o " + int8.string() +
               " --data_type int8 --batches 4 --batch_size 32 --gen_ds_config --eval_images 600");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ev = last_event(exported);
  const double int8_acc = ev["kpi"]["int8_accuracy"].get<double>(), fp32_acc = ev["kpi"]["fp32_accuracy"].get<double>();
  EXPECT_NEAR(int8_acc, fp32_acc, 0.03) << r.output;
  EXPECT_NEAR(fp32_acc, retrain_acc, 1e-9) << "export's FP32 accuracy is evaluate's on the same 600 images";
  const std::string cache = slurp(exported / "cal.bin");
  EXPECT_EQ(cache.rfind("TRT-8601-EntropyCalibration2\n", 0), 0u) << cache;
  EXPECT_NE(cache.find("\ninput: "), std::string::npos) << cache;
  const std::string ds = slurp(exported / "nvinfer_config.txt");
  for (const char* line : {"onnx-file=model_int8.onnx\n", "labelfile-path=labels.txt\n", "int8-calib-file=cal.bin\n",
                           "network-type=1\n", "num-detected-classes=10\n", "infer-dims=1;28;28\n"})
    EXPECT_NE(ds.find(line), std::string::npos) << line << "\n" << ds;
  EXPECT_EQ(slurp(exported / "labels.txt").substr(0, 8), "t_shirt\n");

  // Inference on 1 and 2 ranks: the same rows (batches split differently, so the last digit of a confidence may move).
  r = run_kiln("classification inference -m " + (retrain / "model.kiln").string() + " -i " + kTestImages + " -o " +
               (dir.path / "inf1").string() + " --batch_size 500");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_kiln("classification inference -m " + (retrain / "model.kiln").string() + " -i " + kTestImages + " -o " +
               (dir.path / "inf2").string() + " --batch_size 500 --num_processes 2");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string csv = slurp(dir.path / "inf1" / "inference.csv");
  const auto one = csv_rows(csv), two = csv_rows(slurp(dir.path / "inf2" / "inference.csv"));
  ASSERT_EQ(one.size(), 10001u);
  ASSERT_EQ(two.size(), one.size());
  int label_flips = 0;
  for (size_t i = 1; i < one.size(); ++i) {
    ASSERT_EQ(one[i].at(0), two[i].at(0)) << "row " << i;
    label_flips += one[i].at(1) != two[i].at(1);  // only a near tie could flip
    EXPECT_NEAR(std::stod(one[i].at(2)), std::stod(two[i].at(2)), 2e-4) << "row " << i;
  }
  EXPECT_LE(label_flips, 2);
  EXPECT_EQ(csv.rfind("path,label,confidence,top5\n" + kTestImages + "#0,", 0), 0u) << csv.substr(0, 200);
}

TEST(Lifecycle, BadInputsAreClearAndLeaveNothingBehind) {
  TempDir dir("lifecycle_bad");
  const fs::path model = dir.path / "m" / "model.kiln";
  auto r = run_kiln("classification train -e " + kSpec + " -r " + model.parent_path().string() +
                    " dataset_config.train.max_samples=300 dataset_config.val.max_samples=100 train_config.n_epochs=1");
  ASSERT_EQ(r.code, 0) << r.output;

  r = run_kiln("classification prune -m " + model.string() + " -o " + (dir.path / "p" / "x.kiln").string() + " -pth 1.5");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("-pth/--pruning_threshold must be in [0, 1], got 1.5"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "p" / "x.kiln"));
  r = run_kiln("classification prune -m " + model.string() + " -o " + (dir.path / "p" / "x.kiln").string() +
               " -el conv9");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no layer named 'conv9'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "p" / "x.kiln"));

  const fs::path not_a_model = dir.path / "notes.txt";
  std::ofstream(not_a_model) << "hello";
  r = run_kiln("classification export -m " + not_a_model.string() + " -o " + (dir.path / "e" / "x.onnx").string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find(not_a_model.string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "e" / "x.onnx"));

  // Truncated model file.
  const std::string bytes = slurp(model);
  const fs::path cut = dir.path / "cut.kiln";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  r = run_kiln("classification prune -m " + cut.string() + " -o " + (dir.path / "p2" / "x.kiln").string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "p2" / "x.kiln"));

  // Exporting into a directory that cannot be written.
  fs::create_directories(dir.path / "ro");
  fs::permissions(dir.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) {  // root writes anywhere
    r = run_kiln("classification export -m " + model.string() + " -o " + (dir.path / "ro" / "x.onnx").string());
    EXPECT_EQ(r.code, 2) << r.output;
  }
  r = run_kiln("classification export -m " + model.string() + " -o /proc/kiln/x.onnx");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/proc/kiln"), std::string::npos) << r.output;
  fs::permissions(dir.path / "ro", fs::perms::owner_all);

  r = run_kiln("classification inference -m " + model.string() + " -i " + (dir.path / "missing").string() + " -o " +
               (dir.path / "inf").string());
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
}
