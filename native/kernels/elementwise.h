// The gradient utilities that are elementwise updates over lists of tensors:
// the same multi-tensor machinery as the optimizers, one pass each.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

// acc ← acc + s·g  (gradient accumulation and averaging; also the in-place
// bandwidth probe of the benchmark, since it is the simplest read-read-write pass).
template <typename T>
struct Accumulate {
  static constexpr int kSlots = 2;  // acc, grad
  struct Scalars {
    T scale;
    explicit Scalars(const double* s) : scale(T(s[0])) {}
  };
  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict acc = buf[0];
    const T* __restrict grad = buf[1];
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) acc[i] = acc[i] + s.scale * grad[i];
  }
};

// g ← s·g  (clip_grad_norm_'s in-place scaling).
template <typename T>
struct Scale {
  static constexpr int kSlots = 1;
  struct Scalars {
    T scale;
    explicit Scalars(const double* s) : scale(T(s[0])) {}
  };
  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict g = buf[0];
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) g[i] = g[i] * s.scale;
  }
};

// g ← clamp(g, lo, hi), NaN kept (torch.clamp semantics).
template <typename T>
struct Clamp {
  static constexpr int kSlots = 1;
  struct Scalars {
    T lo, hi;
    explicit Scalars(const double* s) : lo(T(s[0])), hi(T(s[1])) {}
  };
  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict g = buf[0];
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T x = g[i];
      g[i] = x < s.lo ? s.lo : (x > s.hi ? s.hi : x);
    }
  }
};

FUSEDOPTIM_KERNELS_END
