// Rprop (Riedmiller & Braun 1993), as torch.optim.Rprop documents and
// implements it, per element:
//
//   g ← s·∇θ                          (s: gradient scale, −1 folded in for maximize)
//   g·g_prev > 0:  η ← min(η·η₊, Γ_max)
//   g·g_prev < 0:  η ← max(η·η₋, Γ_min),  g ← 0   (a sign change: no step now,
//                                                  and no adaptation next time)
//   g·g_prev = 0:  η unchanged
//   θ ← θ − η·sign(g)
//   g_prev ← g
//
// Where g·g_prev is NaN, η becomes NaN (PyTorch's sign tensor stays NaN).
// sign(x) is ±1, and x itself where x is ±0 or NaN, as torch.sign.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Rprop {
  using T = P;
  // Buffers per tensor: param, grad, then the state: prev, step_size.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, eta_minus, eta_plus, step_size_min, step_size_max);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    S* __restrict prev = static_cast<S*>(buf[2]);
    S* __restrict step_size = static_cast<S*>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale;
      const T product = g * T(prev[i]);
      const T factor = product > T(0) ? s.eta_plus : (product < T(0) ? s.eta_minus : (product == T(0) ? T(1) : product));
      const T scaled = T(step_size[i]) * factor;
      const T eta = scaled < s.step_size_min ? s.step_size_min : (scaled > s.step_size_max ? s.step_size_max : scaled);
      const T kept = product < T(0) ? T(0) : g;
      const T sign = kept > T(0) ? T(1) : (kept < T(0) ? T(-1) : kept);
      step_size[i] = S(eta);
      prev[i] = S(kept);
      param[i] = param[i] - sign * eta;
    }
  }
};

FUSEDOPTIM_KERNELS_END
