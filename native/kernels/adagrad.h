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
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Adagrad {
  using T = P;
  // Buffers per tensor: param, grad, then the state: sum.
  static constexpr int kSlots = 3;
  static constexpr int kStateSlots = 1;

  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, clr, eps);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> sum = state_slot<S>(buf[2]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T acc = T(sum[i]) + g * g;
      sum[i] = S(acc);
      const T std_dev = std::sqrt(acc) + s.eps;
      param[i] = param[i] - s.clr * (g / std_dev);
    }
  }
};

FUSEDOPTIM_KERNELS_END
