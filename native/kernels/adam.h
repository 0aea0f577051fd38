// Adam and AdamW, as torch.optim.Adam / AdamW document them:
//
//   g ← s·∇θ + λ₂θ                    (λ₂ = λ for Adam's L2 penalty, 0 for AdamW)
//   θ ← θ·(1 − γλ)                    (AdamW's decoupled decay; factor 1 for Adam)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//   v̂ ← max(v̂_max, v) if amsgrad else v
//   θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
//
// The bias corrections are per-step scalars computed once by the caller, in
// double precision, exactly as PyTorch arranges them (step_size and
// bias_correction2_sqrt).
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalar_math.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename T, bool kAmsgrad>
struct Adam {
  // Buffers per tensor: param, grad, exp_avg, exp_avg_sq, [max_exp_avg_sq].
  static constexpr int kSlots = kAmsgrad ? 5 : 4;

  // scalars: [grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2,
  //           bias_correction2_sqrt, eps, step_size]
  struct Scalars {
    T grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, step_size;
    explicit Scalars(const double* s)
        : grad_scale(T(s[0])), l2(T(s[1])), decay(T(s[2])), beta1(T(s[3])), one_minus_beta1(T(s[4])),
          beta2(T(s[5])), one_minus_beta2(T(s[6])), bias_correction2_sqrt(T(s[7])), eps(T(s[8])),
          step_size(T(s[9])) {}
  };

  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict param = buf[0];
    const T* __restrict grad = buf[1];
    T* __restrict exp_avg = buf[2];
    T* __restrict exp_avg_sq = buf[3];
    T* __restrict max_exp_avg_sq = kAmsgrad ? buf[4] : nullptr;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.l2 * param[i];
      const T p = param[i] * s.decay;
      const T m = s.beta1 * exp_avg[i] + s.one_minus_beta1 * g;
      const T v = s.beta2 * exp_avg_sq[i] + s.one_minus_beta2 * g * g;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      T v_hat = v;
      if (kAmsgrad) {
        v_hat = max_nan(v, max_exp_avg_sq[i]);
        max_exp_avg_sq[i] = v_hat;
      }
      const T denom = std::sqrt(v_hat) / s.bias_correction2_sqrt + s.eps;
      param[i] = p - s.step_size * (m / denom);
    }
  }
};

FUSEDOPTIM_KERNELS_END
