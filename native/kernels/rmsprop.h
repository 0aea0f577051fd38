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

FUSEDOPTIM_KERNELS_BEGIN

template <typename T, bool kCentered, bool kMomentum>
struct RMSprop {
  // Buffers per tensor: param, grad, square_avg, [grad_avg], [momentum_buffer].
  static constexpr int kSlots = 3 + (kCentered ? 1 : 0) + (kMomentum ? 1 : 0);

  // scalars: [grad_scale, weight_decay, alpha, one_minus_alpha, eps, lr, momentum]
  struct Scalars {
    T grad_scale, weight_decay, alpha, one_minus_alpha, eps, lr, momentum;
    explicit Scalars(const double* s)
        : grad_scale(T(s[0])), weight_decay(T(s[1])), alpha(T(s[2])), one_minus_alpha(T(s[3])), eps(T(s[4])),
          lr(T(s[5])), momentum(T(s[6])) {}
  };

  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict param = buf[0];
    const T* __restrict grad = buf[1];
    T* __restrict square_avg = buf[2];
    T* __restrict grad_avg = kCentered ? buf[3] : nullptr;
    T* __restrict momentum_buffer = kMomentum ? buf[kCentered ? 4 : 3] : nullptr;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T v = s.alpha * square_avg[i] + s.one_minus_alpha * g * g;
      square_avg[i] = v;
      T avg;
      if (kCentered) {
        const T mean = s.alpha * grad_avg[i] + s.one_minus_alpha * g;
        grad_avg[i] = mean;
        avg = std::sqrt(v - mean * mean) + s.eps;
      } else {
        avg = std::sqrt(v) + s.eps;
      }
      if (kMomentum) {
        const T b = s.momentum * momentum_buffer[i] + g / avg;
        momentum_buffer[i] = b;
        param[i] = param[i] - s.lr * b;
      } else {
        param[i] = param[i] - s.lr * (g / avg);
      }
    }
  }
};

FUSEDOPTIM_KERNELS_END
