#include "kiln/runtime/mixed_precision.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "kiln/common/log.h"
#include "kiln/common/torch_compat.h"

namespace kiln::runtime {

AmpConfig read_amp(const specs::Spec& spec, const std::string& group) {
  AmpConfig c;
  c.group = group;
  c.enabled = spec.get_bool(group + ".enabled");
  c.dtype = spec.get_string(group + ".dtype");
  c.initial_loss_scale = spec.get_float(group + ".initial_loss_scale");
  c.growth_interval = spec.get_int(group + ".loss_scale_growth_interval");
  c.dtype_at = spec.location(group + ".dtype");
  return c;
}

bool cpu_has_bf16() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
  }
  return false;
}

LossScaler::LossScaler(double initial_scale, int64_t growth_interval)
    : scale_(initial_scale), growth_interval_(growth_interval) {}

at::Tensor LossScaler::scale_loss(const at::Tensor& loss) const { return loss * scale_; }

bool LossScaler::unscale_and_update(const std::vector<at::Tensor>& params) {
  at::NoGradGuard no_grad;
  const double inverse = 1.0 / scale_;
  std::vector<at::Tensor> overflowed;  // one flag per gradient, on its device: read once, one sync per step
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    at::Tensor g = p.mutable_grad();
    g.mul_(inverse);
    overflowed.push_back(g.isfinite().logical_not().any());
  }
  if (!overflowed.empty() && at::stack(overflowed).any().item<bool>()) {
    scale_ *= 0.5;
    clean_steps_ = 0;
    ++skipped_;
    log::info(log::cat("fp16 gradients overflowed: step skipped (", skipped_, " so far), loss scale now ", scale_));
    return false;
  }
  if (++clean_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    clean_steps_ = 0;
  }
  return true;
}

nlohmann::json LossScaler::state() const { return {{"loss_scale", scale_}, {"clean_steps", clean_steps_}}; }

void LossScaler::restore(const nlohmann::json& state) {
  scale_ = state.value("loss_scale", scale_);
  clean_steps_ = state.value("clean_steps", int64_t{0});
}

MixedPrecision::MixedPrecision(c10::DeviceType device, at::ScalarType dtype, std::optional<LossScaler> scaler)
    : enabled_(true), device_(device), dtype_(dtype), scaler_(std::move(scaler)) {}

MixedPrecision MixedPrecision::from_config(const AmpConfig& config, c10::Device device) {
  if (!config.enabled) return {};
  const bool cuda = device.is_cuda();
  const std::string dtype = config.dtype == "auto" ? (cuda ? "fp16" : "bf16") : config.dtype;
  if (dtype == "fp16" && !cuda)
    throw specs::SpecError({{config.dtype_at, config.group + ".dtype",
                             "fp16 autocast needs a GPU: on a CPU LibTorch's autocast computes in bf16 (dtype: bf16 "
                             "or auto)"}});
  if (dtype == "bf16" && !cuda && !cpu_has_bf16())
    log::warn(config.group + ": this CPU has no bfloat16 instructions (AVX512-BF16 or AMX): bf16 autocast is emulated "
                             "and likely slower than float32");
  if (dtype == "fp16")
    return {device.type(), at::kHalf, LossScaler(config.initial_loss_scale, config.growth_interval)};
  return {device.type(), at::kBFloat16, std::nullopt};
}

std::string MixedPrecision::describe() const {
  if (!enabled_) return "off (float32)";
  std::string s = log::cat(dtype_ == at::kHalf ? "fp16" : "bf16", " autocast on ", c10::DeviceTypeName(device_, true),
                           ", float32 weights");
  if (scaler_) s += log::cat(", dynamic loss scaling from ", scaler_->scale());
  return s;
}

MixedPrecision::Region::Region(const MixedPrecision& amp) : active_(amp.enabled_), device_(amp.device_) {
  if (!active_) return;
  was_enabled_ = torch_compat::autocast_enabled(device_);
  was_dtype_ = torch_compat::autocast_dtype(device_);
  torch_compat::set_autocast(device_, true, amp.dtype_);
  at::autocast::increment_nesting();
}

MixedPrecision::Region::~Region() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  torch_compat::set_autocast(device_, was_enabled_, was_dtype_);
}

}  // namespace kiln::runtime
