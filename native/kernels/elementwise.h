// The gradient utilities that are elementwise updates over lists of tensors:
// the same multi-tensor machinery as the optimizers, one pass each. They keep
// no state (kStateSlots = 0): every buffer has the element type P.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

// acc ← acc + s·g  (gradient accumulation and averaging; also the in-place
// bandwidth probe of the benchmark, since it is the simplest read-read-write pass).
template <typename P, typename>
struct Accumulate {
  using T = P;
  static constexpr int kSlots = 2;  // acc, grad
  static constexpr int kStateSlots = 0;
  FUSEDOPTIM_SCALARS(T, scale);
  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict acc = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) acc[i] = acc[i] + s.scale * grad[i];
  }
};

// g ← s·g  (clip_grad_norm_'s in-place scaling).
template <typename P, typename>
struct Scale {
  using T = P;
  static constexpr int kSlots = 1;
  static constexpr int kStateSlots = 0;
  FUSEDOPTIM_SCALARS(T, scale);
  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict g = static_cast<P*>(buf[0]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) g[i] = g[i] * s.scale;
  }
};

// g ← clamp(g, lo, hi), NaN kept (torch.clamp semantics).
template <typename P, typename>
struct Clamp {
  using T = P;
  static constexpr int kSlots = 1;
  static constexpr int kStateSlots = 0;
  FUSEDOPTIM_SCALARS(T, lo, hi);
  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict g = static_cast<P*>(buf[0]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T x = g[i];
      g[i] = x < s.lo ? s.lo : (x > s.hi ? s.hi : x);
    }
  }
};

FUSEDOPTIM_KERNELS_END
