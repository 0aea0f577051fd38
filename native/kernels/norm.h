// Reductions over all elements of all gradients: the pieces of a global norm
// (sum of squares, sum of |x|, max |x|, sum of |x|^p) and the non-finite check.
//
// Deterministic by construction, whatever the thread count or instruction set:
//  - every tensor is cut into blocks of kReduceBlock elements (boundaries depend
//    only on the tensor's length);
//  - inside a block, element j of each group of kReduceLanes goes to
//    accumulator j (independent lanes, so 8-, 4- or 2-wide vectors all compute
//    the same numbers), and the lanes are merged by a fixed halving tree;
//  - the caller merges block results in block order.
// Float32 inputs are widened to double before any arithmetic. The JavaScript
// reference (lib/kernels/reduce.ts) follows the same recipe, so native and JS
// agree bit for bit for norms 1, 2 and infinity.
#pragma once
#include <cmath>
#include <cstddef>
#include "kernel_namespace.h"
#include "scalar_math.h"
#include "../reduce_kind.h"

FUSEDOPTIM_KERNELS_BEGIN

template <ReduceKind K>
struct Reduction;

template <>
struct Reduction<ReduceKind::kSumSquares> {
  static double element(double x, double) { return x * x; }
  static double merge(double a, double b) { return a + b; }
};
template <>
struct Reduction<ReduceKind::kSumAbs> {
  static double element(double x, double) { return abs_value(x); }
  static double merge(double a, double b) { return a + b; }
};
template <>
struct Reduction<ReduceKind::kMaxAbs> {
  static double element(double x, double) { return abs_value(x); }
  static double merge(double a, double b) { return max_nan(a, b); }
};
template <>
struct Reduction<ReduceKind::kSumPow> {
  static double element(double x, double p) { return std::pow(abs_value(x), p); }
  static double merge(double a, double b) { return a + b; }
};
// x·0 is 0 for every finite x and NaN for ±Inf and NaN: summing it flags any
// non-finite element without a branch in the loop.
template <>
struct Reduction<ReduceKind::kNonFinite> {
  static double element(double x, double) { return x * 0.0; }
  static double merge(double a, double b) { return a + b; }
};

// Reduces one block (n <= kReduceBlock elements).
template <typename T, ReduceKind K>
double reduce_block(const T* __restrict x, std::size_t n, double p) {
  using R = Reduction<K>;
  double lane[kReduceLanes];
  for (int j = 0; j < kReduceLanes; ++j) lane[j] = 0.0;
  std::size_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes) {
    for (int j = 0; j < kReduceLanes; ++j) lane[j] = R::merge(lane[j], R::element(double(x[i + j]), p));
  }
  for (int j = 0; i + j < n; ++j) lane[j] = R::merge(lane[j], R::element(double(x[i + j]), p));
  for (int width = kReduceLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) lane[j] = R::merge(lane[j], lane[j + width]);
  }
  return lane[0];
}

FUSEDOPTIM_KERNELS_END
