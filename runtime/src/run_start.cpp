#include "kiln/runtime/run_start.h"

#include <ATen/ATen.h>

#include "kiln/common/log.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/train_step.h"

namespace kiln::runtime {

// A pruned model, or a checkpoint of its retraining, carries its own layer widths: they replace the spec's defaults
// when the network is the same, so retraining is `train -m pruned.kiln` as in TAO.
void adopt_layer_widths(networks::Architecture& arch, const ModelFile& file, const std::string& path) {
  if (!file.meta.contains("architecture")) return;
  const auto stored = networks::Architecture::from_json(file.meta.at("architecture"));
  if (stored.arch != arch.arch || stored.n_layers != arch.n_layers || stored.base_width != arch.base_width) return;
  networks::Architecture unpruned = stored;
  unpruned.channels.clear();  // the factory fills in the defaults
  const auto defaults = networks::create(unpruned)->architecture().channels;
  if (stored.channels == defaults || stored.channels == arch.channels) return;
  arch.channels = stored.channels;
  log::info("Layer widths from " + path + " (a pruned model): " + stored.summary());
}

std::vector<at::Tensor> module_buffers(networks::Network& net) {
  std::vector<at::Tensor> out;
  for (auto& b : net.named_buffers()) out.push_back(b.value());
  return out;
}

RunStart start_run(const ResultsLayout& results, const std::string& pretrained, networks::Architecture arch,
                   const std::vector<int64_t>& freeze_blocks, const OptimizerConfig& optimizer, double initial_lr,
                   uint64_t seed) {
  at::manual_seed(seed);
  RunStart r;
  if (auto point = resume_point(results)) {
    r.latest = std::move(point->path);
    r.source = std::move(point->file);
  } else if (!pretrained.empty()) {
    r.source = read_model_file(pretrained);
  }
  if (r.source) adopt_layer_widths(arch, *r.source, r.latest ? *r.latest : pretrained);
  r.net = networks::create(arch);
  r.params = trainable_parameters(*r.net, freeze_blocks);
  r.optimizer = make_optimizer(optimizer, r.params, initial_lr);
  if (!r.latest && r.source) {
    log::info("Loading pretrained weights from " + pretrained);
    log::info(transfer_module_state(*r.net, *r.source).table());
  }
  return r;
}

void move_run_to(RunStart& run, c10::Device device) {
  if (device.is_cpu()) return;
  run.net->to(device);  // the parameters keep their identity, so the optimizer still holds them
  move_optimizer_state(*run.optimizer, device);
}

bool uses_channels_last(const std::string& memory_format) { return memory_format != "contiguous"; }

void to_channels_last(RunStart& run) {
  at::NoGradGuard no_grad;
  for (auto& p : run.net->parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
}

std::unique_ptr<collectives::GradientReducer> make_reducer(Distributed& dist, networks::Network& net,
                                                           const std::vector<at::Tensor>& params,
                                                           const DataParallelConfig& dp) {
  if (!dist.comm()) return nullptr;
  collectives::ReducerOptions ro;
  ro.buckets.first_bucket_bytes = static_cast<size_t>(dp.first_bucket_mb * (1 << 20));
  ro.buckets.bucket_bytes = static_cast<size_t>(dp.bucket_mb * (1 << 20));
  const std::string& comp = dp.gradient_compression;
  ro.compression = comp == "fp16"   ? collectives::Compression::kFp16
                   : comp == "bf16" ? collectives::Compression::kBf16
                                    : collectives::Compression::kNone;
  auto reducer = std::make_unique<collectives::GradientReducer>(*dist.comm(), params, ro);
  std::vector<at::Tensor> state_tensors = net.parameters();
  for (const auto& b : module_buffers(net)) state_tensors.push_back(b);
  reducer->broadcast(state_tensors, 0);  // every replica starts from rank 0's weights
  return reducer;
}

}  // namespace kiln::runtime
