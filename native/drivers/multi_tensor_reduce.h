// Multi-tensor reduction: blocks of kReduceBlock elements (fixed per tensor)
// are claimed by the team's threads (team.h); each block's result goes to its
// own slot, and the slots are merged in block order afterwards. The result is therefore the
// same for any thread count (see kernels/norm.h for the order inside a block).
#pragma once
#include <cstddef>
#include "kernels/kernel_namespace.h"
#include "kernels/norm.h"
#include "multi_tensor.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename T, ReduceKind K>
void reduce_blocks(const TensorBatch& b, double p, const ReduceScratch& scratch, std::size_t first, std::size_t last,
                   volatile int* stop_flag) {
  if (first >= last) return;
  std::size_t t = find_tensor(scratch.block_prefix, b.count, first);
  for (std::size_t block = first; block < last; ++block) {
    while (scratch.block_prefix[t + 1] <= block) ++t;
    if (K == ReduceKind::kNonFinite && *stop_flag) {
      scratch.block_results[block] = 0.0;  // a NaN was already found elsewhere: skip the reading
      continue;
    }
    const std::size_t in_tensor = block - scratch.block_prefix[t];
    const std::size_t begin = in_tensor * kReduceBlock;
    const std::size_t left = b.lengths[t] - begin;
    const T* x = static_cast<const T*>(b.buffers[t * b.slots]) + begin;
    const double result = reduce_block<T, K>(x, left < kReduceBlock ? left : kReduceBlock, p);
    scratch.block_results[block] = result;
    if (K == ReduceKind::kNonFinite && result != result) *stop_flag = 1;
  }
}

template <typename T, ReduceKind K>
double apply_reduce(const TensorBatch& b, double p, int threads, const ReduceScratch& scratch, double initial) {
  volatile int stop_flag = 0;  // benign race: only ever set to 1, read as a hint to skip work
  auto chunk = [&](std::size_t first, std::size_t last) { reduce_blocks<T, K>(b, p, scratch, first, last, &stop_flag); };
  share_out(scratch.block_count, blocks_per_chunk(kReduceBlock), b.total, threads, TeamOptions::for_kernels(), chunk);
  double total = initial;
  for (std::size_t block = 0; block < scratch.block_count; ++block) {
    total = Reduction<K>::merge(total, scratch.block_results[block]);
  }
  return total;
}

FUSEDOPTIM_KERNELS_END
