// Adafactor (Shazeer & Stern 2018), as torch.optim.Adafactor (PyTorch 2.5)
// documents and computes it, per param:
//
//   G ← s·∇θ                              (s: gradient scale, −1 folded in for maximize)
//   w ← t^τ                               (1 − β̂₂ₜ; τ = beta2_decay ≤ 0)
//   ρ ← min(γ, 1/√t),  α ← max(ε₂, RMS(θ))·ρ
//   θ ← θ·(1 − γλ)
//   matrix:  R ← lerp(R, mean_j G², w),  C ← lerp(C, mean_i G², w)
//            V̂ ← (R / max(mean_i R, ε₁))·C              (per matrix of the param)
//   vector:  V ← lerp(V, G², w),  V̂ ← V
//   U ← G / √max(V̂, ε₁²)
//   θ ← θ − α / max(1, RMS(U)/d) · U
//
// ε₁ is the machine epsilon of the param's type when the user leaves it null
// (machine_eps1 = 1), as PyTorch's eps=(None, 1e-3). lerp is torch.lerp's,
// two formulas split at w = 0.5, so w = 1 (the first step) gives G² exactly.
//
// RMS(θ) and RMS(U) need the whole tensor before any of it may move: the
// vector kernel runs under apply_layerwise (multi_tensor_layerwise.h: pass 1
// updates V and sums θ² and U², pass 2 recomputes U and moves θ), the matrix
// kernel under apply_factored (multi_tensor_factored.h: the row and column
// statistics, then the sums, then the move). Every sum is taken in double in
// an order fixed by the tensor's shape alone, so the results do not depend on
// threads or vector width; lib/kernels/adafactor.ts is the twin.
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>
#include "dispatch/kernel_table.h"
#include "kernel_namespace.h"
#include "lane_sums.h"
#include "scalars.h"

FUSEDOPTIM_KERNELS_BEGIN

// What the vector and matrix kernels share. `Scalars` has one_minus_beta2 (w),
// rho, eps1, machine_eps1, eps2, d and decay.
template <typename T>
struct AdafactorTerms {
  // torch.lerp: a + w·(b − a) below w = 0.5, b − (b − a)·(1 − w) from it.
  static T lerp(T a, T b, T w) { return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w); }

  template <class Scalars>
  static T eps1(const Scalars& s) {
    return s.machine_eps1 != T(0) ? std::numeric_limits<T>::epsilon() : s.eps1;
  }
  template <class Scalars>
  static T eps1_squared(const Scalars& s) {
    const T e = eps1(s);
    return e * e;
  }

  // U = G / √max(v̂, ε₁²): the clamp keeps NaN, as torch.clamp_ does. (PyTorch
  // multiplies G by rsqrt; a division is the same formula with one rounding
  // less, and one division less per element.)
  static T update(T g, T v, T eps1_squared) { return g / std::sqrt(v < eps1_squared ? eps1_squared : v); }

  // α / max(1, RMS(U)/d) from Σθ² and ΣU² over the tensor's n elements, in
  // double; a NaN RMS falls to the other operand, as Python's max does.
  template <class Scalars>
  static double step_factor(const Scalars& s, double param_sum_squares, double update_sum_squares, std::size_t n) {
    const double root_n = std::sqrt(double(n));
    const double param_rms = std::sqrt(param_sum_squares) / root_n;
    const double alpha = (param_rms > double(s.eps2) ? param_rms : double(s.eps2)) * double(s.rho);
    const double clip = std::sqrt(update_sum_squares) / (root_n * double(s.d));
    return alpha / (clip > 1.0 ? clip : 1.0);
  }

  // θ·(1 − γλ) − f·U
  template <class Scalars>
  static T apply(const Scalars& s, T param, T factor, T u) { return param * s.decay - factor * u; }
};

#define FUSEDOPTIM_ADAFACTOR_SCALARS(T) \
  FUSEDOPTIM_SCALARS(T, grad_scale, one_minus_beta2, rho, eps1, machine_eps1, eps2, d, decay)

// A param without a matrix shape: a full second moment V, the param's length.
template <typename P, typename S>
struct Adafactor {
  using T = P;
  using Terms = AdafactorTerms<T>;
  // Buffers per tensor: param, grad, then the state: variance.
  static constexpr int kSlots = 3;
  static constexpr int kStateSlots = 1;
  // Runs under apply_layerwise, not apply_update (see isa_kernels.cc).
  static constexpr bool kLayerwise = true;

  FUSEDOPTIM_ADAFACTOR_SCALARS(T);

  // Element i of pass 1: V updated, θᵢ² and Uᵢ² (in double) added to its lanes.
  static void variance_and_squares(const Scalars& s, T eps1_squared, const P* __restrict param,
                                   const P* __restrict grad, S* __restrict variance, std::size_t i, double& param_lane,
                                   double& update_lane) {
    const T g = grad[i] * s.grad_scale;
    const T v = Terms::lerp(T(variance[i]), g * g, s.one_minus_beta2);
    variance[i] = S(v);
    const double p = double(param[i]);
    const double u = double(Terms::update(g, v, eps1_squared));
    param_lane = param_lane + p * p;
    update_lane = update_lane + u * u;
  }

  // Pass 1 over one block (n <= kReduceBlock): V, and sums[0] = Σθ², sums[1] = ΣU².
  static void first_pass(const Scalars& s, void* const* buf, std::size_t n, double* sums) {
    const P* __restrict param = static_cast<const P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    S* __restrict variance = static_cast<S*>(buf[2]);
    const T eps1_squared = Terms::eps1_squared(s);
    paired_lane_sums(n, sums, [&](std::size_t i, double& param_lane, double& update_lane) {
      variance_and_squares(s, eps1_squared, param, grad, variance, i, param_lane, update_lane);
    });
  }

  static T tensor_factor(const Scalars& s, double param_sum_squares, double update_sum_squares, std::size_t n) {
    return T(Terms::step_factor(s, param_sum_squares, update_sum_squares, n));
  }

  // Pass 2: θ ← θ·(1 − γλ) − f·U, U recomputed from the V pass 1 wrote.
  static void second_pass(const Scalars& s, T factor, void* const* buf, std::size_t n) {
    P* __restrict param = static_cast<P*>(buf[0]);
    const P* __restrict grad = static_cast<const P*>(buf[1]);
    const S* __restrict variance = static_cast<const S*>(buf[2]);
    const T eps1_squared = Terms::eps1_squared(s);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T g = grad[i] * s.grad_scale;
      param[i] = Terms::apply(s, param[i], factor, Terms::update(g, T(variance[i]), eps1_squared));
    }
  }
};

// A param of matrix shape: row statistics R and column statistics C per
// matrix (SlotKind::kRows, kCols). The passes and their order are
// apply_factored's; these are the formulas it runs.
template <typename P, typename S>
struct AdafactorFactored {
  using T = P;
  using Terms = AdafactorTerms<T>;
  // Buffers per tensor: param, grad, then the state: row_var, col_var.
  static constexpr int kSlots = 4;
  static constexpr int kStateSlots = 2;
  // Runs under apply_factored (see isa_kernels.cc).
  static constexpr bool kFactored = true;
  static constexpr SlotRole kRoles[] = {{SlotKind::kParam, 0}, {SlotKind::kParam, 0}, {SlotKind::kRows, 0}, {SlotKind::kCols, 0}};

  FUSEDOPTIM_ADAFACTOR_SCALARS(T);

  // G², in double, for the row and column sums.
  static double squared_gradient(const Scalars& s, P grad) {
    const double g = double(T(grad * s.grad_scale));
    return g * g;
  }

  // R or C ← lerp(R or C, mean G², w), the mean from a sum over `count` elements.
  static S statistic(const Scalars& s, S old, double sum, std::size_t count) {
    return S(Terms::lerp(T(old), T(sum / double(count)), s.one_minus_beta2));
  }

  // max(mean_i R, ε₁), the mean from Σ_i R over `rows`.
  static T row_mean(const Scalars& s, double sum, std::size_t rows) {
    const T mean = T(sum / double(rows));
    const T eps1 = Terms::eps1(s);
    return mean < eps1 ? eps1 : mean;
  }

  // R / mean, once per row: V̂ = (R / mean)·C is PyTorch's R·C / mean with
  // the division taken per row instead of per element.
  static T scaled_row(S row, T row_mean) { return T(row) / row_mean; }

  // U = G / √max((R / mean)·C, ε₁²)
  static T update(const Scalars& s, P grad, T eps1_squared, T scaled_row, S col) {
    const T g = grad * s.grad_scale;
    return Terms::update(g, scaled_row * T(col), eps1_squared);
  }

  static T eps1_squared(const Scalars& s) { return Terms::eps1_squared(s); }

  static T tensor_factor(const Scalars& s, double param_sum_squares, double update_sum_squares, std::size_t n) {
    return T(Terms::step_factor(s, param_sum_squares, update_sum_squares, n));
  }

  static P apply(const Scalars& s, P param, T factor, T u) { return Terms::apply(s, param, factor, u); }
};

#undef FUSEDOPTIM_ADAFACTOR_SCALARS

FUSEDOPTIM_KERNELS_END
