// Multi-tensor apply in blocks: like apply_update (multi_tensor.h), one
// parallel region over all tensors, but the work is shared out in whole blocks
// of Driver::kBlock elements counted from each tensor's start, so a block never
// straddles two threads (the chunks the team claims, team.h, are whole
// blocks). The compact-state drivers (kernels/compact_state.h) need that: an
// 8-bit block is requantized with the largest magnitude of its own elements,
// and a stochastic rounding draws by element position. Either way every block
// is computed alone, so the result is the same for any number of threads.
#pragma once
#include <cstddef>
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
  auto chunk = [&](std::size_t first, std::size_t last) { walk_blocks<Driver>(b, scalars, first, last); };
  share_out(total, blocks_per_chunk(Driver::kBlock), b.total, threads, TeamOptions::for_kernels(), chunk);
}

FUSEDOPTIM_KERNELS_END
