// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), as
// torch.optim.NAdam documents and implements it:
//
//   g, θ·(1 − γλ), m, v               as Adam's (adam_moments.h)
//   d ← √(v / (1 − β₂ᵗ)) + ε
//   θ ← θ − c_g·g/d − c_m·m/d
//
// with μₜ = β₁(1 − ½·0.96^(tψ)) and the running product Πₜ = μ₁⋯μₜ (kept per
// param by the caller), c_g = γ(1 − μₜ)/(1 − Πₜ) and c_m = γμₜ₊₁/(1 − Πₜμₜ₊₁):
// per-step scalars computed by the caller, in double precision.
#pragma once
#include <cmath>
#include <cstddef>
#include "adam_moments.h"
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct NAdam {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg, exp_avg_sq.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2, eps,
                     grad_coef, avg_coef);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> exp_avg = state_slot<S>(buf[2]);
    state_slot_t<S> exp_avg_sq = state_slot<S>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const AdamFront<T> f = adam_front<T, S>(s, T(param[i]), T(grad[i]), exp_avg[i], exp_avg_sq[i]);
      const T denom = std::sqrt(f.v / s.bias_correction2) + s.eps;
      param[i] = f.p - s.grad_coef * (f.g / denom) - s.avg_coef * (f.m / denom);
    }
  }
};

FUSEDOPTIM_KERNELS_END
