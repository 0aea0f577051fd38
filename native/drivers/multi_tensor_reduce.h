// Multi-tensor reduction: blocks of kReduceBlock elements (fixed per tensor)
// are shared out among threads; each block's result goes to its own slot, and
// the slots are merged in block order afterwards. The result is therefore the
// same for any thread count (see kernels/norm.h for the order inside a block).
#pragma once
#include <cstddef>
#ifdef _OPENMP
#include <omp.h>
#endif
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
  const int team = team_size(b.total, threads);
  if (team <= 1) {
    reduce_blocks<T, K>(b, p, scratch, 0, scratch.block_count, &stop_flag);
  } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
    {
      const std::size_t members = std::size_t(omp_get_num_threads());
      const std::size_t me = std::size_t(omp_get_thread_num());
      const std::size_t n = scratch.block_count;
      reduce_blocks<T, K>(b, p, scratch, n * me / members, n * (me + 1) / members, &stop_flag);
    }
#else
    reduce_blocks<T, K>(b, p, scratch, 0, scratch.block_count, &stop_flag);
#endif
  }
  double total = initial;
  for (std::size_t block = 0; block < scratch.block_count; ++block) {
    total = Reduction<K>::merge(total, scratch.block_results[block]);
  }
  return total;
}

FUSEDOPTIM_KERNELS_END
