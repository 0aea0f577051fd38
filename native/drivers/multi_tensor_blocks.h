// Multi-tensor apply in blocks: like apply_update (multi_tensor.h), one
// parallel region over all tensors, but the work is shared out in whole blocks
// of Driver::kBlock elements counted from each tensor's start, so a block never
// straddles two threads. The compact-state drivers (kernels/compact_state.h)
// need that: an 8-bit block is requantized with the largest magnitude of its
// own elements, and a stochastic rounding draws by element position. Either
// way every block is computed alone, so the result is the same for any number
// of threads.
#pragma once
#include <cstddef>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/kernel_namespace.h"
#include "multi_tensor.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

inline std::size_t blocks_of(std::size_t length, std::size_t block) { return (length + block - 1) / block; }

// Calls Driver::update_blocks for every tensor's share of blocks [first, last)
// of the batch (blocks numbered tensor after tensor).
template <class Driver>
void walk_blocks(const TensorBatch& b, const typename Driver::Scalars& s, std::size_t first, std::size_t last) {
  std::size_t before = 0;  // blocks in tensors before t
  for (std::size_t t = 0; t < b.count && before < last; ++t) {
    const std::size_t n = b.lengths[t];
    const std::size_t count = blocks_of(n, Driver::kBlock);
    const std::size_t lo = first > before ? first - before : 0;
    const std::size_t hi = last - before < count ? last - before : count;
    if (lo < hi) Driver::update_blocks(s, b.buffers + t * std::size_t(b.slots), t, n, lo, hi);
    before += count;
  }
}

template <class Driver>
void apply_blocks(const TensorBatch& b, const double* raw_scalars, int threads) {
  const typename Driver::Scalars scalars(raw_scalars);
  std::size_t total = 0;
  for (std::size_t t = 0; t < b.count; ++t) total += blocks_of(b.lengths[t], Driver::kBlock);
  const int team = team_size(b.total, threads);
  if (team <= 1) {
    walk_blocks<Driver>(b, scalars, 0, total);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
  {
    const std::size_t members = std::size_t(omp_get_num_threads());
    const std::size_t me = std::size_t(omp_get_thread_num());
    walk_blocks<Driver>(b, scalars, total * me / members, total * (me + 1) / members);
  }
#else
  walk_blocks<Driver>(b, scalars, 0, total);
#endif
}

FUSEDOPTIM_KERNELS_END
