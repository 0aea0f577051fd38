// What a reduction computes, shared by the Node-API side and the kernels.
// The numeric values are part of the addon's interface (lib/native.ts).
#pragma once
#include <cstddef>

namespace fusedoptim {

enum class ReduceKind : int {
  kSumSquares = 0,  // Σ x²        (2-norm before the square root)
  kSumAbs = 1,      // Σ |x|       (1-norm)
  kMaxAbs = 2,      // max |x|     (∞-norm)
  kSumPow = 3,      // Σ |x|^p     (p-norm before the 1/p power)
  kNonFinite = 4,   // NaN if any element is NaN or ±Inf, else 0
};
constexpr int kReduceKindCount = 5;

// Elements per reduction block and accumulator lanes per block: fixed, so
// results do not depend on threads or SIMD width. Mirrored in lib/kernels/reduce.ts.
constexpr std::size_t kReduceBlock = 16384;
constexpr int kReduceLanes = 16;

}  // namespace fusedoptim
