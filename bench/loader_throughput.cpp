// Loader throughput on 28x28 images, one worker, crop + flip + normalisation (the figure in docs/benchmarks.md).
// A benchmark, not a test: it prints img/s and asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "kiln/common/fs.h"
#include "kiln/data/loader.h"
#include "kiln/data/sampler.h"

using namespace kiln::data;

int main() {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  auto ds = open_idx(root + "train-images-idx3-ubyte.gz", root + "train-labels-idx1-ubyte.gz");

  DistributedSampler sampler(ds->size(), 0, 1, 1, true, false);
  LoaderOptions opts;
  opts.batch_size = 256;
  opts.num_workers = 1;
  opts.prefetch = 4;
  opts.augment.random_crop = true;
  opts.augment.crop_padding = 4;
  opts.augment.horizontal_flip = true;
  opts.augment.mean = {0.2860f};
  opts.augment.std = {0.3530f};
  double best = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    sampler.set_epoch(epoch);
    opts.epoch = epoch;
    const auto start = std::chrono::steady_clock::now();
    Loader loader(*ds, sampler.indices(), opts);
    size_t images = 0;
    while (auto b = loader.next()) images += static_cast<size_t>(b->images.size(0));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(images) / s);
    std::printf("epoch %d: %zu images in %.3f s = %.0f img/s\n", epoch, images, s, static_cast<double>(images) / s);
  }
  std::printf("{\"bench\": \"loader\", \"workers\": 1, \"images_per_s\": %.0f}\n", best);
  return 0;
}
