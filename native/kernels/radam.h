// RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
// Beyond"), as torch.optim.RAdam documents and implements it:
//
//   g ← s·∇θ + λ₂θ                    (λ₂ = λ for the L2 penalty, 0 when decoupled)
//   θ ← θ·(1 − γλ)                    (decoupled weight decay; factor 1 otherwise)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
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
#include "kernel_namespace.h"
#include "scalars.h"

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
      const T step = (m / s.bias_correction1) * s.lr;
      if (kRectified) {
        const T adaptive = s.bias_correction2_sqrt / (std::sqrt(v) + s.eps);
        param[i] = p - step * adaptive * s.rect;
      } else {
        param[i] = p - step;
      }
    }
  }
};

FUSEDOPTIM_KERNELS_END
