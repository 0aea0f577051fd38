// RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
// Beyond"), as torch.optim.RAdam documents and implements it:
//
//   g, θ·(1 − γλ), m, v               as Adam's (adam_moments.h)
//   m̂ ← m / (1 − β₁ᵗ)
//   ρₜ > 5:  θ ← θ − m̂·γ·(√(1 − β₂ᵗ) / (√v + ε))·rₜ
//   else:    θ ← θ − m̂·γ                (the un-rectified, SGD-with-momentum step)
//
// ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), ρ∞ = 2/(1 − β₂) − 1 and the rectification
// rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)) are per-step scalars
// computed by the caller; so is the switch (`rectified` is 1 when ρₜ > 5, else
// 0), which picks one of two loops for the whole call.
#pragma once
#include <cmath>
#include <cstddef>
#include "adam_moments.h"
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct RAdam {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg, exp_avg_sq.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction1, lr,
                     bias_correction2_sqrt, eps, rect, rectified);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    if (s.rectified != T(0)) {
      run<true>(s, buf, n);
    } else {
      run<false>(s, buf, n);
    }
  }

 private:
  template <bool kRectified>
  static void run(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> exp_avg = state_slot<S>(buf[2]);
    state_slot_t<S> exp_avg_sq = state_slot<S>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const AdamFront<T> f = adam_front<T, S>(s, T(param[i]), T(grad[i]), exp_avg[i], exp_avg_sq[i]);
      const T step = (f.m / s.bias_correction1) * s.lr;
      if (kRectified) {
        const T adaptive = s.bias_correction2_sqrt / (std::sqrt(f.v) + s.eps);
        param[i] = f.p - step * adaptive * s.rect;
      } else {
        param[i] = f.p - step;
      }
    }
  }
};

FUSEDOPTIM_KERNELS_END
