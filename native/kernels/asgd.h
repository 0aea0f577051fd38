// ASGD (Polyak & Juditsky 1992, averaged SGD), as torch.optim.ASGD implements it:
//
//   g ← s·∇θ + λ₂θ                    (s: gradient scale, −1 folded in for maximize; λ₂: weight decay)
//   θ ← θ·(1 − λη) − η·g
//   ā ← ā + μ·(θ − ā)                 (μ ≠ 1)
//   ā ← θ                             (μ = 1, before averaging starts at t0)
//
// η and μ are the param's numbers the previous step left (η = γ/(1 + λγt)^α,
// μ = 1/max(1, t − t0)), computed by the caller; 1 − λη is a per-step scalar
// too. μ = 1 picks the copy loop for the whole call, as PyTorch tests mu != 1.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Asgd {
  using T = P;
  // Buffers per tensor: param, grad, then the state: ax.
  static constexpr int kSlots = 3;
  static constexpr int kStateSlots = 1;

  FUSEDOPTIM_SCALARS(T, grad_scale, weight_decay, decay, eta, mu);

  static void update(const Scalars& s, void* const* buf, std::size_t n) {
    if (s.mu != T(1)) {
      run<true>(s, buf, n);
    } else {
      run<false>(s, buf, n);
    }
  }

 private:
  template <bool kAveraging>
  static void run(const Scalars& s, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    S* __restrict ax = static_cast<S*>(buf[2]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale + s.weight_decay * param[i];
      const T p = param[i] * s.decay - s.eta * g;
      param[i] = p;
      if (kAveraging) {
        const T a = T(ax[i]);
        ax[i] = S(a + (p - a) * s.mu);
      } else {
        ax[i] = S(p);
      }
    }
  }
};

FUSEDOPTIM_KERNELS_END
