// Tiny scalar helpers used inside vectorised loops. Written here instead of
// taken from <algorithm> so that no std:: template is instantiated with
// ISA-specific flags (see kernel_namespace.h), and so that NaN behaves as in
// PyTorch: it propagates.
#pragma once
#include <cmath>
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

// max(a, b) that returns NaN if either is NaN (torch.maximum semantics).
// The JavaScript reference kernel uses the same expression, so the two agree
// bit for bit, signed zeros included.
template <typename T>
inline T max_nan(T a, T b) {
  return (a != a || a > b) ? a : b;
}

template <typename T>
inline T abs_value(T x) {
  return x < T(0) ? -x : x;
}

FUSEDOPTIM_KERNELS_END
