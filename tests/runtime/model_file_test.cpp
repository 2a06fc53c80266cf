#include "kiln/runtime/model_file.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/networks/network.h"

namespace fs = std::filesystem;
using namespace kiln::runtime;

namespace {
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("kiln_mf_" + std::to_string(::getpid()) + "_" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

ModelFile sample() {
  ModelFile f;
  f.meta["kind"] = "model";
  f.meta["epoch"] = 3;
  f.tensors["model/w"] = at::randn({4, 5});
  f.tensors["model/steps"] = at::arange(7, at::kLong);
  f.tensors["half"] = at::randn({3}).to(at::kHalf);
  f.blobs["optimizer"] = std::string("\0\1binary\xff", 10);
  return f;
}

std::string slurp(const fs::path& p) { return kiln::read_file(p.string()); }
void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
}  // namespace

TEST(ModelFile, RoundTripsTensorsBlobsAndMeta) {
  TempDir d;
  const auto path = (d.path / "m.kiln").string();
  const ModelFile f = sample();
  write_model_file(path, f);
  const ModelFile g = read_model_file(path);
  EXPECT_EQ(g.meta, f.meta);
  ASSERT_EQ(g.tensors.size(), 3u);
  EXPECT_TRUE(at::equal(g.tensors.at("model/w"), f.tensors.at("model/w")));
  EXPECT_TRUE(at::equal(g.tensors.at("model/steps"), f.tensors.at("model/steps")));
  EXPECT_EQ(g.tensors.at("half").scalar_type(), at::kHalf);
  EXPECT_EQ(g.blobs.at("optimizer"), f.blobs.at("optimizer"));
}

TEST(ModelFile, RejectsForeignTruncatedAndCorruptFiles) {
  TempDir d;
  const auto path = d.path / "m.kiln";
  write_model_file(path.string(), sample());
  const std::string good = slurp(path);

  auto expect_data_error = [&](const std::string& content, const std::string& needle) {
    spit(path, content);
    try {
      read_model_file(path.string());
      ADD_FAILURE() << "no error for " << needle;
    } catch (const kiln::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_data_error("PK\3\4 this is a zip, not kiln", "not a kiln model file");
  expect_data_error(good.substr(0, good.size() / 2), "truncated");
  std::string flipped = good;
  flipped[good.size() - 40] ^= 0x10;
  expect_data_error(flipped, "checksum mismatch");
  EXPECT_THROW(read_model_file((d.path / "missing.kiln").string()), kiln::DataError);
}

TEST(ModelFile, CrashMidWriteLeavesThePreviousFileIntact) {
  TempDir d;
  const auto path = (d.path / "ckpt.kiln").string();
  ModelFile first = sample();
  write_model_file(path, first);

  // A child process dies (no cleanup, no exception unwinding) halfway through writing a new version.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    kiln::atomic_write_via(path, [](const std::string& tmp) {
      std::ofstream out(tmp, std::ios::binary);
      out << "KILNMDL1 half a checkpoint";
      out.flush();
      ::_exit(9);
    });
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 9);

  const ModelFile after = read_model_file(path);
  EXPECT_EQ(after.meta, first.meta);
  EXPECT_TRUE(at::equal(after.tensors.at("model/w"), first.tensors.at("model/w")));
}

TEST(ModelFile, FailedWriteRemovesTempAndKeepsOld) {
  TempDir d;
  const auto path = (d.path / "x.txt").string();
  kiln::atomic_write_string(path, "old");
  EXPECT_THROW(kiln::atomic_write(path, [](std::ostream& os) {
                 os << "partial";
                 throw kiln::Error("disk on fire");
               }),
               kiln::Error);
  EXPECT_EQ(slurp(path), "old");
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(d.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(ModelFile, TransferLoadsMatchingNamesAndShapes) {
  kiln::networks::Architecture a;
  a.arch = "lenet5";
  a.use_batch_norm = false;
  auto src = kiln::networks::create(a);
  ModelFile f;
  put_module_state(*src, f);

  a.num_classes = 5;  // a new head: fc3 changes shape
  auto dst = kiln::networks::create(a);
  f.tensors["model/extra.weight"] = at::zeros({1});
  f.tensors.erase("model/conv1.bias");
  const TransferReport r = transfer_module_state(*dst, f);
  EXPECT_EQ(r.loaded.size(), 7u);  // conv1.weight, conv2.*, fc1.*, fc2.*
  ASSERT_EQ(r.skipped_shape.size(), 2u);  // fc3.weight, fc3.bias
  EXPECT_EQ(r.missing, std::vector<std::string>{"conv1.bias"});
  EXPECT_EQ(r.unused, std::vector<std::string>{"extra.weight"});
  EXPECT_TRUE(at::equal(dst->named_parameters()["conv2.weight"], src->named_parameters()["conv2.weight"]));
  EXPECT_NE(r.table().find("7 loaded, 2 skipped"), std::string::npos) << r.table();
}
