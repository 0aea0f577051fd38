// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"),
// with decoupled weight decay:
//
//   g ← s·∇θ                          (s: gradient scale, −1 folded in for maximize)
//   θ ← θ·(1 − γλ)
//   c ← β₁·m + (1 − β₁)·g
//   θ ← θ − γ·sign(c)
//   m ← β₂·m + (1 − β₂)·g
//
// sign(c) is ±1, and c itself where c is ±0 or NaN (so a NaN gradient
// propagates into the param, as torch.sign does).
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Lion {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg.
  static constexpr int kSlots = 3;
  static constexpr int kStateSlots = 1;

  FUSEDOPTIM_SCALARS(T, grad_scale, decay, lr, beta1, one_minus_beta1, beta2, one_minus_beta2);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> exp_avg = state_slot<S>(buf[2]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale;
      const T m = T(exp_avg[i]);
      const T c = s.beta1 * m + s.one_minus_beta1 * g;
      const T sign = c > T(0) ? T(1) : (c < T(0) ? T(-1) : c);
      param[i] = param[i] * s.decay - s.lr * sign;
      exp_avg[i] = S(s.beta2 * m + s.one_minus_beta2 * g);
    }
  }
};

FUSEDOPTIM_KERNELS_END
