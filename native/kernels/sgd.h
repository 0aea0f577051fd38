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
// in the order the JavaScript reference (lib/kernels/sgd.ts) does it.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

enum class SgdMomentum { kNone, kHeavyBall, kNesterov };

template <typename P, typename S, SgdMomentum kMomentum>
struct Sgd {
  using T = P;
  // Buffers per tensor: param, grad, and the momentum buffer (state) when there is momentum.
  static constexpr int kSlots = kMomentum == SgdMomentum::kNone ? 2 : 3;
  static constexpr int kStateSlots = kSlots - 2;

  // On the first step buffer_decay = 0 and grad_weight = 1, so b ← 0·b + 1·g = g
  // (PyTorch's clone of the gradient) without a branch; afterwards they are
  // μ and 1 − τ.
  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, lr, momentum, buffer_decay, grad_weight);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> momentum_buffer = state_slot<S>(kMomentum == SgdMomentum::kNone ? nullptr : buf[2]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      if (kMomentum != SgdMomentum::kNone) {
        const T b = s.buffer_decay * T(momentum_buffer[i]) + s.grad_weight * g;
        momentum_buffer[i] = S(b);
        g = kMomentum == SgdMomentum::kNesterov ? g + s.momentum * b : b;
      }
      param[i] = param[i] - s.lr * g;
    }
  }
};

FUSEDOPTIM_KERNELS_END
