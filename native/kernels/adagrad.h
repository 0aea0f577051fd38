// Adagrad, as torch.optim.Adagrad documents it:
//
//   g ← s·∇θ + λθ
//   γ̃ ← γ / (1 + (t − 1)·η)           (η: lr_decay; computed by the caller)
//   Σ ← Σ + g²
//   θ ← θ − γ̃ · g / (√Σ + ε)
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename T>
struct Adagrad {
  // Buffers per tensor: param, grad, sum.
  static constexpr int kSlots = 3;

  // scalars: [grad_scale, weight_decay, clr, eps]
  struct Scalars {
    T grad_scale, weight_decay, clr, eps;
    explicit Scalars(const double* s) : grad_scale(T(s[0])), weight_decay(T(s[1])), clr(T(s[2])), eps(T(s[3])) {}
  };

  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict param = buf[0];
    const T* __restrict grad = buf[1];
    T* __restrict sum = buf[2];
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T acc = sum[i] + g * g;
      sum[i] = acc;
      const T std_dev = std::sqrt(acc) + s.eps;
      param[i] = param[i] - s.clr * (g / std_dev);
    }
  }
};

FUSEDOPTIM_KERNELS_END
