// LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training
// BERT in 76 minutes"), as timm's Lamb computes it (timm/optim/lamb.py with
// bias_correction=True, grad_averaging=True, trust_clip=False,
// always_adapt=True, max_grad_norm=None):
//
//   g ← s·∇θ                              (s: gradient scale, −1 folded in for maximize)
//   m ← β₁·m + (1 − β₁)·g
//   v ← β₂·v + (1 − β₂)·g²
//   u ← (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε) + λ·θ      (Adam's direction, decoupled decay)
//   r ← ‖θ‖ / ‖u‖   per tensor, 1 where either norm is 0 (or NaN)
//   θ ← θ − γ·(r·u)
//
// The norms need the whole tensor before any of it may move, so the kernel runs
// in two passes under apply_layerwise (multi_tensor_layerwise.h): first_pass
// updates m and v and sums θ² and u² per block; second_pass recomputes u from
// the new m, v and the untouched θ (the same operations, so the same bits) and
// applies it. The sums are taken in double, in kReduceLanes lanes per block
// merged by a fixed tree (lane_sums.h), so they do not depend on threads or
// vector width.
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "lane_sums.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename P, typename S>
struct Lamb {
  using T = P;
  // Buffers per tensor: param, grad, then the state: exp_avg, exp_avg_sq.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;
  // Runs under apply_layerwise, not apply_update (see isa_kernels.cc).
  static constexpr bool kLayerwise = true;

  FUSEDOPTIM_SCALARS(T, grad_scale, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction1,
                     bias_correction2, eps, weight_decay, lr);

  // u = (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε) + λθ
  static T direction(const Scalars& s, T m, T v, T p) {
    return (m / s.bias_correction1) / (std::sqrt(v / s.bias_correction2) + s.eps) + s.weight_decay * p;
  }

  // Element i of pass 1: m and v updated, θᵢ² and uᵢ² (in double) added to its lanes.
  static void moments_and_squares(const Scalars& s, const P* __restrict param, const P* __restrict grad,
                                  S* __restrict exp_avg, S* __restrict exp_avg_sq, std::size_t i, double& param_lane,
                                  double& update_lane) {
    const T g = grad[i] * s.grad_scale;
    const T m = s.beta1 * T(exp_avg[i]) + s.one_minus_beta1 * g;
    const T v = s.beta2 * T(exp_avg_sq[i]) + s.one_minus_beta2 * g * g;
    exp_avg[i] = S(m);
    exp_avg_sq[i] = S(v);
    const double p = double(param[i]);
    const double u = double(direction(s, m, v, param[i]));
    param_lane = param_lane + p * p;
    update_lane = update_lane + u * u;
  }

  // Pass 1 over one block (n <= kReduceBlock): the moments, and sums[0] = Σθ², sums[1] = Σu².
  static void first_pass(const Scalars& s, void* const* buf, std::size_t n, double* sums) {
    const P* __restrict param = static_cast<const P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    S* __restrict exp_avg = static_cast<S*>(buf[2]);
    S* __restrict exp_avg_sq = static_cast<S*>(buf[3]);
    paired_lane_sums(n, sums, [&](std::size_t i, double& param_lane, double& update_lane) {
      moments_and_squares(s, param, grad, exp_avg, exp_avg_sq, i, param_lane, update_lane);
    });
  }

  // r = ‖θ‖ / ‖u‖, or 1 where either is 0 or NaN (timm's torch.where on norm > 0).
  static T tensor_factor(const Scalars&, double param_sum_squares, double update_sum_squares, std::size_t) {
    const bool adapt = param_sum_squares > 0.0 && update_sum_squares > 0.0;
    return adapt ? T(std::sqrt(param_sum_squares) / std::sqrt(update_sum_squares)) : T(1);
  }

  // Pass 2: θ ← θ − γ·(r·u), u recomputed from the moments pass 1 wrote.
  static void second_pass(const Scalars& s, T ratio, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const S* __restrict exp_avg = static_cast<const S*>(buf[2]);
    const S* __restrict exp_avg_sq = static_cast<const S*>(buf[3]);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T u = direction(s, T(exp_avg[i]), T(exp_avg_sq[i]), param[i]);
      param[i] = param[i] - s.lr * (ratio * u);
    }
  }
};

FUSEDOPTIM_KERNELS_END
