// Automatic mixed precision (docs/mixed_precision.md): the forward pass and the loss run under LibTorch's autocast, so
// convolutions and matrix products compute in a 16-bit float (bf16 or fp16) while the weights, their gradients, the
// optimizer state and checkpoints stay float32. fp16 adds dynamic loss scaling, as TAO's AMP (TensorFlow's
// LossScaleOptimizer) and PyTorch's GradScaler do: the loss is multiplied by a scale before backward, the gradients
// are divided by it before the step, a step whose gradients overflowed is skipped and halves the scale, and the
// scale doubles after `growth_interval` clean steps.
#pragma once
#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kiln/specs/spec.h"

namespace kiln::runtime {

// train_config.amp / training_config.amp.
struct AmpConfig {
  bool enabled = false;
  std::string dtype = "auto";  // auto | bf16 | fp16
  double initial_loss_scale = 65536.0;
  int64_t growth_interval = 2000;
  std::string group;        // "train_config.amp", for messages
  specs::Location dtype_at;  // where the spec sets dtype (or the spec file), for messages
};
AmpConfig read_amp(const specs::Spec& spec, const std::string& group);

// Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16, from /proc/cpuinfo): without them CPU autocast
// in bf16 is emulated and slower than float32.
bool cpu_has_bf16();

// Dynamic loss scaling for fp16. Every rank holds the same scale and sees the same averaged gradients, so every rank
// takes the same decision without talking to the others.
class LossScaler {
 public:
  LossScaler(double initial_scale, int64_t growth_interval);

  double scale() const { return scale_; }
  at::Tensor scale_loss(const at::Tensor& loss) const;
  // After backward (and the reducer): divides every gradient by the scale. Returns false when any gradient holds an
  // inf or NaN: the caller skips the optimizer step. Then updates the scale (halved on overflow; doubled after
  // growth_interval steps in a row without one).
  bool unscale_and_update(const std::vector<at::Tensor>& params);
  int64_t skipped_steps() const { return skipped_; }

  nlohmann::json state() const;                // for checkpoints
  void restore(const nlohmann::json& state);  // what state() wrote

 private:
  double scale_;
  int64_t growth_interval_;
  int64_t clean_steps_ = 0;  // steps since the last overflow or growth
  int64_t skipped_ = 0;      // steps skipped in this process, for the log
};

// A run's mixed precision: off, or autocast on one device type in one 16-bit type, with a LossScaler for fp16.
class MixedPrecision {
 public:
  MixedPrecision() = default;  // off
  MixedPrecision(c10::DeviceType device, at::ScalarType dtype, std::optional<LossScaler> scaler);
  // What `config` asks for on `device`: off when not enabled; auto → fp16 with loss scaling on CUDA, bf16 on a CPU.
  // fp16 on a CPU is a SpecError naming the key; bf16 on a CPU without bf16 instructions logs a warning.
  static MixedPrecision from_config(const AmpConfig& config, c10::Device device);

  bool enabled() const { return enabled_; }
  at::ScalarType dtype() const { return dtype_; }
  LossScaler* scaler() { return scaler_ ? &*scaler_ : nullptr; }
  const LossScaler* scaler() const { return scaler_ ? &*scaler_ : nullptr; }
  std::string describe() const;  // e.g. "bf16 autocast on cpu" or "off (float32)"

  // Autocast on while it lives (nothing when off), as PyTorch's `with torch.autocast(...)`: the previous state comes
  // back afterwards, and the cache of casted weights is cleared when the outermost region ends, so a weight the
  // optimizer changed is cast again.
  class Region {
   public:
    explicit Region(const MixedPrecision& amp);
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

   private:
    bool active_ = false;
    c10::DeviceType device_ = c10::DeviceType::CPU;
    bool was_enabled_ = false;
    at::ScalarType was_dtype_ = at::kFloat;
  };
  Region autocast() const { return Region(*this); }

 private:
  bool enabled_ = false;
  c10::DeviceType device_ = c10::DeviceType::CPU;
  at::ScalarType dtype_ = at::kFloat;
  std::optional<LossScaler> scaler_;
};

}  // namespace kiln::runtime
