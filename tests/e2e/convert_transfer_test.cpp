// dataset_convert → train from shards → retrain from that model with frozen blocks (-m, freeze_blocks).
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"
#include "kiln/runtime/model_file.h"

using namespace kiln::testing;

TEST(ConvertAndTransfer, ShardsTrainAndFrozenBlocksStayFixed) {
  TempDir dir("convert");
  const fs::path shards = dir.path / "shards";
  const auto convert = run_kiln("classification dataset_convert -d " + sample_spec("convert_fmnist_shards.yaml") +
                                " -o " + shards.string() + " source.max_samples=2000 num_shards=3");
  ASSERT_EQ(convert.code, 0) << convert.output;
  EXPECT_TRUE(fs::exists(shards / "index.json"));
  EXPECT_TRUE(fs::exists(shards / "shard-00002-of-00003.kshard"));
  EXPECT_NE(convert.output.find("Wrote 2000 records"), std::string::npos) << convert.output;

  const std::string spec = sample_spec("classification_lenet5_fmnist.yaml");
  const std::string from_shards = " dataset_config.train.type=shards dataset_config.train.root=" + shards.string() +
                                  " dataset_config.val.max_samples=500 train_config.n_epochs=1";
  const fs::path first = dir.path / "first";
  const auto train = run_kiln("classification train -e " + spec + " -r " + first.string() + from_shards);
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_NE(train.output.find("Data: 2000 training images"), std::string::npos) << train.output;

  const fs::path second = dir.path / "second";
  const auto retrain = run_kiln("classification train -e " + spec + " -r " + second.string() + " -m " +
                                (first / "model.kiln").string() + from_shards + " 'model_config.freeze_blocks=[0,1]'");
  ASSERT_EQ(retrain.code, 0) << retrain.output;
  EXPECT_NE(retrain.output.find("Pretrained weights: 10 loaded, 0 skipped"), std::string::npos) << retrain.output;

  const auto a = kiln::runtime::read_model_file((first / "model.kiln").string());
  const auto b = kiln::runtime::read_model_file((second / "model.kiln").string());
  for (const char* frozen : {"model/conv1.weight", "model/conv1.bias", "model/conv2.weight", "model/conv2.bias"})
    EXPECT_TRUE(at::equal(a.tensors.at(frozen), b.tensors.at(frozen))) << frozen << " changed while frozen";
  EXPECT_FALSE(at::equal(a.tensors.at("model/fc1.weight"), b.tensors.at("model/fc1.weight"))) << "fc1 did not train";
}

TEST(ConvertAndTransfer, CorruptShardIsADataErrorNamingIt) {
  TempDir dir("corrupt_shard");
  const fs::path shards = dir.path / "shards";
  ASSERT_EQ(run_kiln("classification dataset_convert -d " + sample_spec("convert_fmnist_shards.yaml") + " -o " +
                     shards.string() + " source.max_samples=300 num_shards=1").code, 0);
  const fs::path shard = shards / "shard-00000-of-00001.kshard";
  std::string bytes = slurp(shard);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(shard, std::ios::binary) << bytes;
  const auto r = run_kiln("classification train -e " + sample_spec("classification_lenet5_fmnist.yaml") + " -r " +
                          (dir.path / "out").string() + " dataset_config.train.type=shards dataset_config.train.root=" +
                          shards.string() + " train_config.n_epochs=1 train_config.batch_size_per_gpu=50");  // 6 batches read all 300
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("shard-00000-of-00001.kshard: record"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("checksum mismatch"), std::string::npos) << r.output;
}
