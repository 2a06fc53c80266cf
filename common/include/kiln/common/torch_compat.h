// What differs between the LibTorch APIs kiln builds against: 1.13 (Debian 12) and 2.x (Debian 13's 2.6), in one
// place, so the same sources compile against both (docs/libtorch2.md; tools/check_libtorch2.sh builds and tests the
// 2.x side). Header-only and for the modules that use LibTorch: kiln_common itself neither includes it nor links
// LibTorch (like third_party_begin.h and stb).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

#include <variant>

namespace kiln::torch_compat {

// The alternatives of torch::nn's option variants (Conv2dOptions::padding(): explicit sizes, kValid or kSame;
// padding_mode()): c10::variant, PyTorch's copy of std::variant, up to LibTorch 2.1, std::variant since c10::variant
// was removed (2.2). Unqualified, the call parses as a template through std::get_if, and argument-dependent lookup
// adds c10::get_if for a c10::variant, so each version gets its own function without naming the version that
// switched.
template <class T, class Variant>
const T* get_if(const Variant* v) noexcept {
  using std::get_if;
  return get_if<T>(v);
}

namespace detail {
template <class Options>
auto classic_tcpstore(Options& o, int) -> decltype(void(o.useLibUV = false)) {
  o.useLibUV = false;
}
template <class Options>
void classic_tcpstore(Options&, long) {}
}  // namespace detail

// c10d::TCPStoreOptions for a store served and reached by the classic backend on every version. LibTorch 2.x has a
// second one, on libuv, behind TCPStoreOptions::useLibUV (true by default since 2.4); Debian builds LibTorch without
// libuv, and a TCPStore asked for it then throws ("use_libuv was requested but PyTorch was built without libuv
// support"). The few hundred bytes kiln exchanges through torchrun's store need neither. The field is set where it
// exists (the overload taking int), and 1.13, which has none, is left as it is.
template <class Options>
void use_classic_tcpstore(Options& o) {
  detail::classic_tcpstore(o, 0);
}

// Autocast's thread-local switch and 16-bit type for one device type (CPU or CUDA). LibTorch 2.4 made them
// functions of the device type (set_autocast_enabled(kCPU, …)) and deprecated the per-device ones that 1.13 has
// (set_cpu_enabled, and set_enabled for CUDA), which a later release may drop: the one version test in this header.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocast_enabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
inline at::ScalarType autocast_dtype(c10::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
inline void set_autocast(c10::DeviceType type, bool enabled, at::ScalarType dtype) {
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
inline bool autocast_enabled(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline at::ScalarType autocast_dtype(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
inline void set_autocast(c10::DeviceType type, bool enabled, at::ScalarType dtype) {
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace kiln::torch_compat
