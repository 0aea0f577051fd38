// Adam and AdamW, as torch.optim.Adam / AdamW document them:
//
//   g ← s·∇θ + λ₂θ                    (λ₂ = λ for Adam's L2 penalty, 0 for AdamW)
//   θ ← θ·(1 − γλ)                    (AdamW's decoupled decay; factor 1 for Adam)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//   v̂ ← max(v̂_max, v) if amsgrad else v
//   θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
//
// The first four lines are adam_front (adam_moments.h), shared with RAdam and
// NAdam. The bias corrections are per-step scalars computed once by the
// caller, in double precision, exactly as PyTorch arranges them (step_size and
// bias_correction2_sqrt).
#pragma once
#include <cmath>
#include <cstddef>
#include "adam_moments.h"
#include "kernel_namespace.h"
#include "scalar_math.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

// P: the param's (and gradient's) element type, in which the arithmetic runs;
// S: the state's.
template <typename P, typename S, bool kAmsgrad>
struct Adam {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg, exp_avg_sq, [max_exp_avg_sq].
  static constexpr int kSlots = kAmsgrad ? 5 : 4;
  static constexpr int kStateSlots = kSlots - 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2,
                     bias_correction2_sqrt, eps, step_size);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> exp_avg = state_slot<S>(buf[2]);
    state_slot_t<S> exp_avg_sq = state_slot<S>(buf[3]);
    state_slot_t<S> max_exp_avg_sq = state_slot<S>(kAmsgrad ? buf[4] : nullptr);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const AdamFront<T> f = adam_front<T, S>(s, T(param[i]), T(grad[i]), exp_avg[i], exp_avg_sq[i]);
      T v_hat = f.v;
      if (kAmsgrad) {
        v_hat = max_nan(f.v, T(max_exp_avg_sq[i]));
        max_exp_avg_sq[i] = S(v_hat);
      }
      const T denom = std::sqrt(v_hat) / s.bias_correction2_sqrt + s.eps;
      param[i] = f.p - s.step_size * (f.m / denom);
    }
  }
};

FUSEDOPTIM_KERNELS_END
