// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD
// documents it:
//
//   g ← s·∇θ + λθ                      (s: gradient scale, −1 folded in for maximize)
//   if μ ≠ 0:
//     b ← μ·b + (1 − τ)·g              (first step: b ← g, see the scalars)
//     g ← g + μ·b   if nesterov   else   g ← b
//   θ ← θ − γ·g
//
// Every per-step number is computed once by the caller (lib/optim/sgd.ts) and
// arrives in `scalars`; the loop below only does the per-element arithmetic,
// in the order the JavaScript reference (lib/backend/js/sgd.ts) does it.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

enum class SgdMomentum { kNone, kHeavyBall, kNesterov };

template <typename T, SgdMomentum kMomentum>
struct Sgd {
  // Buffers per tensor: param, grad, and the momentum buffer when there is momentum.
  static constexpr int kSlots = kMomentum == SgdMomentum::kNone ? 2 : 3;

  // scalars: [grad_scale, weight_decay, lr, momentum, buffer_decay, grad_weight]
  // On the first step buffer_decay = 0 and grad_weight = 1, so b ← 0·b + 1·g = g
  // (PyTorch's clone of the gradient) without a branch; afterwards they are
  // μ and 1 − τ.
  struct Scalars {
    T grad_scale, weight_decay, lr, momentum, buffer_decay, grad_weight;
    explicit Scalars(const double* s)
        : grad_scale(T(s[0])), weight_decay(T(s[1])), lr(T(s[2])), momentum(T(s[3])),
          buffer_decay(T(s[4])), grad_weight(T(s[5])) {}
  };

  static void update(const Scalars& s, T* const* buf, std::size_t n) {
    T* __restrict param = buf[0];
    const T* __restrict grad = buf[1];
    T* __restrict momentum_buffer = kMomentum == SgdMomentum::kNone ? nullptr : buf[2];
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      if (kMomentum != SgdMomentum::kNone) {
        const T b = s.buffer_decay * momentum_buffer[i] + s.grad_weight * g;
        momentum_buffer[i] = b;
        g = kMomentum == SgdMomentum::kNesterov ? g + s.momentum * b : b;
      }
      param[i] = param[i] - s.lr * g;
    }
  }
};

FUSEDOPTIM_KERNELS_END
