// Adadelta (Zeiler 2012), as torch.optim.Adadelta documents it:
//
//   g ← s·∇θ + λθ                     (s: gradient scale, −1 folded in for maximize)
//   v ← ρ·v + (1 − ρ)·g²
//   Δ ← √(u + ε) / √(v + ε) · g       (ε inside both roots)
//   u ← ρ·u + (1 − ρ)·Δ²
//   θ ← θ − γ·Δ                       (γ: PyTorch's lr, a multiplier on Δ, 1 by default)
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Adadelta {
  using T = P;
  // Buffers per tensor: param, grad, then the state: square_avg, acc_delta.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;

  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, rho, one_minus_rho, eps, lr);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    S* __restrict square_avg = static_cast<S*>(buf[2]);
    S* __restrict acc_delta = static_cast<S*>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T v = s.rho * T(square_avg[i]) + s.one_minus_rho * g * g;
      const T std_dev = std::sqrt(v + s.eps);
      const T delta = std::sqrt(T(acc_delta[i]) + s.eps) / std_dev * g;
      square_avg[i] = S(v);
      acc_delta[i] = S(s.rho * T(acc_delta[i]) + s.one_minus_rho * delta * delta);
      param[i] = param[i] - s.lr * delta;
    }
  }
};

FUSEDOPTIM_KERNELS_END
