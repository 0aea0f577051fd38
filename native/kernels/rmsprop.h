// RMSprop, as torch.optim.RMSprop documents it:
//
//   g ← s·∇θ + λθ
//   v ← α·v + (1 − α)·g²
//   if centered:  ḡ ← α·ḡ + (1 − α)·g ;  d ← √(v − ḡ²) + ε
//   else:                                 d ← √v + ε
//   if μ > 0:  b ← μ·b + g/d ;  θ ← θ − γ·b
//   else:      θ ← θ − γ·(g/d)
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S, bool kCentered, bool kMomentum>
struct RMSprop {
  using T = P;
  // Buffers per tensor: param, grad, then the state: square_avg, [grad_avg], [momentum_buffer].
  static constexpr int kSlots = 3 + (kCentered ? 1 : 0) + (kMomentum ? 1 : 0);
  static constexpr int kStateSlots = kSlots - 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, alpha, one_minus_alpha, eps, lr, momentum);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> square_avg = state_slot<S>(buf[2]);
    state_slot_t<S> grad_avg = state_slot<S>(kCentered ? buf[3] : nullptr);
    state_slot_t<S> momentum_buffer = state_slot<S>(kMomentum ? buf[kCentered ? 4 : 3] : nullptr);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T v = s.alpha * T(square_avg[i]) + s.one_minus_alpha * g * g;
      square_avg[i] = S(v);
      T avg;
      if (kCentered) {
        const T mean = s.alpha * T(grad_avg[i]) + s.one_minus_alpha * g;
        grad_avg[i] = S(mean);
        avg = std::sqrt(v - mean * mean) + s.eps;
      } else {
        avg = std::sqrt(v) + s.eps;
      }
      if (kMomentum) {
        const T b = s.momentum * T(momentum_buffer[i]) + g / avg;
        momentum_buffer[i] = S(b);
        param[i] = param[i] - s.lr * b;
      } else {
        param[i] = param[i] - s.lr * (g / avg);
      }
    }
  }
};

FUSEDOPTIM_KERNELS_END
