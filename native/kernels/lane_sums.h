// Sums whose order does not depend on threads or vector width (the rule of
// multi_tensor_reduce.h, for kernels that reduce while they update): element
// i of a block goes to lane i mod kReduceLanes, in double, and the lanes are
// merged by a fixed halving tree. lib/kernels/lane_sums.ts is the twin.
#pragma once
#include <cstddef>
#include "kernel_namespace.h"
#include "../reduce_kind.h"

FUSEDOPTIM_KERNELS_BEGIN

// lanes[0] + ... + lanes[kReduceLanes − 1], by the halving tree (norm.h's).
inline double fold_lanes(double* lanes) {
  for (int width = kReduceLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] = lanes[j] + lanes[j + width];
  }
  return lanes[0];
}

// Two sums over elements 0..n−1 of a block: element(i, first_lane,
// second_lane) adds element i's terms to its lanes (and may update state as
// it goes); whole groups of lanes run as one vector loop, then the tail.
// sums[0], sums[1] receive the folded totals.
template <typename Element>
inline void paired_lane_sums(std::size_t n, double* sums, Element element) {
  double first[kReduceLanes], second[kReduceLanes];
  for (int j = 0; j < kReduceLanes; ++j) first[j] = second[j] = 0.0;
  std::size_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes) {
#pragma omp simd
    for (int j = 0; j < kReduceLanes; ++j) element(i + j, first[j], second[j]);
  }
  for (int j = 0; i + j < n; ++j) element(i + j, first[j], second[j]);
  sums[0] = fold_lanes(first);
  sums[1] = fold_lanes(second);
}

FUSEDOPTIM_KERNELS_END
