// Element-wise float16/bfloat16 reductions for backends without 16-bit float types (MPI user ops, Gloo reduce
// functions): each element goes through float and back, so no full-tensor upcast copy is ever made.
#pragma once
#include <cstddef>

namespace kiln::collectives::detail {

struct HalfSum {
  template <typename T>
  static T apply(T a, T b) {
    return T(static_cast<float>(a) + static_cast<float>(b));
  }
};
struct HalfMax {
  template <typename T>
  static T apply(T a, T b) {  // returns one of the inputs: no rounding back from float
    return static_cast<float>(a) > static_cast<float>(b) ? a : b;
  }
};
struct HalfMin {
  template <typename T>
  static T apply(T a, T b) {
    return static_cast<float>(a) < static_cast<float>(b) ? a : b;
  }
};

// out[i] = Op(a[i], b[i]) for i < n; out may alias a or b.
template <typename T, typename Op>
void reduce_half(T* out, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = Op::apply(a[i], b[i]);
}

}  // namespace kiln::collectives::detail
