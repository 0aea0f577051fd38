// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), as
// torch.optim.NAdam documents and implements it:
//
//   g ← s·∇θ + λ₂θ                    (λ₂ = λ for the L2 penalty, 0 when decoupled)
//   θ ← θ·(1 − γλ)                    (decoupled weight decay; factor 1 otherwise)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//   d ← √(v / (1 − β₂ᵗ)) + ε
//   θ ← θ − c_g·g/d − c_m·m/d
//
// with μₜ = β₁(1 − ½·0.96^(tψ)) and the running product Πₜ = μ₁⋯μₜ (kept per
// param by the caller), c_g = γ(1 − μₜ)/(1 − Πₜ) and c_m = γμₜ₊₁/(1 − Πₜμₜ₊₁):
// per-step scalars computed by the caller, in double precision.
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"

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
    S* __restrict exp_avg = static_cast<S*>(buf[2]);
    S* __restrict exp_avg_sq = static_cast<S*>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.l2 * param[i];
      const T p = param[i] * s.decay;
      const T m = s.beta1 * T(exp_avg[i]) + s.one_minus_beta1 * g;
      const T v = s.beta2 * T(exp_avg_sq[i]) + s.one_minus_beta2 * g * g;
      exp_avg[i] = S(m);
      exp_avg_sq[i] = S(v);
      const T denom = std::sqrt(v / s.bias_correction2) + s.eps;
      param[i] = p - s.grad_coef * (g / denom) - s.avg_coef * (m / denom);
    }
  }
};

FUSEDOPTIM_KERNELS_END
