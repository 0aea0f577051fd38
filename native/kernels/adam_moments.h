// The front Adam (adam.h), RAdam and NAdam share, one line each of their
// documented algorithms:
//
//   g ← s·∇θ + λ₂θ                    (λ₂ = λ for the L2 penalty, 0 when decoupled)
//   θ ← θ·(1 − γλ)                    (decoupled weight decay; factor 1 otherwise)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//
// The moments are stored; g, the decayed param and both moments are returned
// for the rest of the update. Inlined into the caller's vectorised loop.
#pragma once
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename T>
struct AdamFront {
  T g;  // the gradient, scaled, with its L2 term
  T p;  // the param after decoupled decay
  T m;  // the new first moment
  T v;  // the new second moment
};

// `Scalars` has grad_scale, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2;
// the moments are elements of state slots of S (state_slot.h).
template <typename T, typename S, typename Scalars, typename Element, typename SquareElement>
inline AdamFront<T> adam_front(const Scalars& s, T param, T grad, Element&& exp_avg, SquareElement&& exp_avg_sq) {
  const T g = grad * s.grad_scale + s.l2 * param;
  const T p = param * s.decay;
  const T m = s.beta1 * T(exp_avg) + s.one_minus_beta1 * g;
  const T v = s.beta2 * T(exp_avg_sq) + s.one_minus_beta2 * g * g;
  exp_avg = S(m);
  exp_avg_sq = S(v);
  return AdamFront<T>{g, p, m, v};
}

FUSEDOPTIM_KERNELS_END
