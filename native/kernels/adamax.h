// Adamax (Kingma & Ba 2015, §7.1), as torch.optim.Adamax documents it:
//
//   g ← s·∇θ + λθ                     (s: gradient scale, −1 folded in for maximize)
//   m ← β₁·m + (1 − β₁)·g
//   u ← max(β₂·u, |g| + ε)
//   θ ← θ − (γ / (1 − β₁ᵗ)) · m / u
//
// γ / (1 − β₁ᵗ) (PyTorch's clr) is a per-step scalar computed by the caller.
// The max propagates NaN, as torch.maximum does.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalar_math.h"
#include "scalars.h"
#include "state_slot.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Adamax {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg, exp_inf.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, beta1, one_minus_beta1, beta2, eps, clr);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    state_slot_t<S> exp_avg = state_slot<S>(buf[2]);
    state_slot_t<S> exp_inf = state_slot<S>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T m = s.beta1 * T(exp_avg[i]) + s.one_minus_beta1 * g;
      const T u = max_nan(s.beta2 * T(exp_inf[i]), abs_value(g) + s.eps);
      exp_avg[i] = S(m);
      exp_inf[i] = S(u);
      param[i] = param[i] - s.clr * (m / u);
    }
  }
};

FUSEDOPTIM_KERNELS_END
