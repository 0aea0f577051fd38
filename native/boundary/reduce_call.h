// The Node-API entry points of the reductions (global norms, the non-finite check).
#pragma once
#include <napi.h>

#include <cstddef>
#include <vector>

#include "drivers/tensor_batch.h"

namespace fusedoptim {

// reduce(kind, tensors, p, threads): Σx², Σ|x|, max|x|, Σ|x|^p or the
// non-finite flag over all elements of all tensors (see reduce_kind.h).
Napi::Value Reduce(const Napi::CallbackInfo& info);
// reduceAsync(kind, tensors, p, threads): the same on the libuv pool; returns a Promise<number>.
Napi::Value ReduceAsync(const Napi::CallbackInfo& info);

// The per-block storage of a reduction: where each tensor's fixed blocks
// start, and one result slot per block. Its vectors keep their capacity, so a
// reused one allocates nothing once warm.
struct ReduceBlocks {
  std::vector<std::size_t> block_prefix;
  std::vector<double> block_results;

  // Sizes the storage for tensors of these lengths.
  void fit(const std::vector<std::size_t>& lengths);
  ReduceScratch scratch();
};

}  // namespace fusedoptim
