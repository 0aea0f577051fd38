// Schedule-Free AdamW and SGD (Defazio et al. 2024, "The Road Less
// Scheduled"), as facebookresearch/schedule_free steps a single tensor
// (foreach=False). A param holds y, the point the gradient is taken at; the
// state z is the base sequence; x, the average the model is evaluated at, is
// never stored: x = (y − (1 − β)·z) / β. Per step, with c = weight / Σ weight
// (the caller's ckp1) and γ the warmed-up lr:
//
//   g ← s·∇f(y)
//   v ← β₂·v + (1 − β₂)·g²                     (AdamW only)
//   u ← g / (√(v / (1 − β₂ᵏ⁺¹)) + ε)           (AdamW; SGD: u ← g)
//   u ← u + λ·y                                  (weight decay at y; skipped when λ = 0)
//   y ← lerp(y, z, c)
//   y ← y + γ·(β·(1 − c) − 1)·u                  (the caller's y_step)
//   z ← z − γ·u
//
// β is β₁ for AdamW and the momentum for SGD. lerp is PyTorch's: a + w·(b − a)
// for |w| < 0.5, else b − (b − a)·(1 − w), so that w = 1 (the first step)
// gives z exactly. The gradient is read, never written (the package divides
// p.grad in place).
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

// torch.lerp's formula for one element.
template <typename T>
inline T lerp_torch(T a, T b, T w) {
  return std::abs(w) < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// P: the param's element type; S: the state's (v; z stays P: it is a point,
// not a moment, so compact storage never touches it).
template <typename P, typename S, bool kAdaptive>
struct ScheduleFree {
  using T = P;
  // Buffers per tensor: param (y), grad, z, then the state: exp_avg_sq (AdamW only).
  static constexpr int kSlots = kAdaptive ? 4 : 3;
  static constexpr int kStateSlots = kAdaptive ? 1 : 0;

  FUSEDOPTIM_SCALARS(T, grad_scale, beta2, one_minus_beta2, bias_correction2, eps, decay, ckp1, y_step, lr);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict y = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    P* __restrict z = static_cast<P*>(buf[2]);
    state_slot_t<S> exp_avg_sq = state_slot<S>(kAdaptive ? buf[3] : nullptr);
    const bool decays = s.decay != T(0);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale;
      T u = g;
      if (kAdaptive) {
        const T v = s.beta2 * T(exp_avg_sq[i]) + s.one_minus_beta2 * g * g;
        exp_avg_sq[i] = S(v);
        u = g / (std::sqrt(v / s.bias_correction2) + s.eps);
      }
      const T at = y[i];
      if (decays) u = u + s.decay * at;
      const T zi = z[i];
      y[i] = lerp_torch(at, zi, s.ckp1) + s.y_step * u;
      z[i] = zi - s.lr * u;
    }
  }
};

// train() / eval(): the params move between y and x, y ← lerp(y, z, w), with
// w = 1 − β to enter y from x and w = 1 − 1/β to return to x.
template <typename P, typename S>
struct ScheduleFreeSwitch {
  using T = P;
  // Buffers per tensor: param, z.
  static constexpr int kSlots = 2;
  static constexpr int kStateSlots = 0;

  FUSEDOPTIM_SCALARS(T, weight);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict z = static_cast<const P*>(buf[1]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) param[i] = lerp_torch(param[i], z[i], s.weight);
  }
};

FUSEDOPTIM_KERNELS_END
