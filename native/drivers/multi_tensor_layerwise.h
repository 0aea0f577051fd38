// Layer-wise (per tensor) updates, LAMB's and Adafactor's (for vectors): one native call, two passes.
//
//   pass 1, over reduction blocks: the kernel updates the state of a block and
//           returns two partial sums for it (LAMB: Σθ² and Σu²);
//   between: per tensor, its blocks' sums are merged in block order and the
//           kernel turns the two totals (and the tensor's length) into the
//           tensor's factor (LAMB's trust ratio, Adafactor's α / max(1, RMS(U)/d));
//   pass 2, over elements: the kernel applies the update scaled by its tensor's factor.
//
// Deterministic for any thread count or instruction set, as the reductions of
// multi_tensor_reduce.h are: blocks of kReduceBlock elements fixed per tensor,
// kReduceLanes lanes inside a block merged by a fixed tree (the kernel's job,
// see Lamb::first_pass), and block results merged in block order on one thread.
#pragma once
#include <cstddef>
#include "kernels/kernel_namespace.h"
#include "multi_tensor.h"
#include "reduce_kind.h"
#include "scratch.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

// Buffers of tensor t moved `offset` elements in (state slots have type S).
template <class Kernel, typename P, typename S>
inline void offset_buffers(const TensorBatch& b, std::size_t t, std::size_t offset, void** out) {
  constexpr int kFirstState = Kernel::kSlots - Kernel::kStateSlots;
  for (int s = 0; s < Kernel::kSlots; ++s) {
    char* base = static_cast<char*>(b.buffers[t * b.slots + s]);
    out[s] = base + offset * (s < kFirstState ? sizeof(P) : sizeof(S));
  }
}

// Pass 1 over blocks [first, last) of the batch; block_prefix[t] is the first block of tensor t.
template <class Kernel, typename P, typename S>
void layerwise_first_pass(const TensorBatch& b, const typename Kernel::Scalars& scalars, const std::size_t* block_prefix,
                          double* block_sums, std::size_t first, std::size_t last) {
  if (first >= last) return;
  std::size_t t = find_tensor(block_prefix, b.count, first);
  for (std::size_t block = first; block < last; ++block) {
    while (block_prefix[t + 1] <= block) ++t;
    const std::size_t begin = (block - block_prefix[t]) * kReduceBlock;
    const std::size_t left = b.lengths[t] - begin;
    void* buffers[kMaxSlots];
    offset_buffers<Kernel, P, S>(b, t, begin, buffers);
    Kernel::first_pass(scalars, buffers, left < kReduceBlock ? left : kReduceBlock, block_sums + 2 * block);
  }
}

template <class Kernel, typename P, typename S>
void apply_layerwise(const TensorBatch& b, const double* raw_scalars, int threads) {
  using T = typename Kernel::T;
  const typename Kernel::Scalars scalars(raw_scalars);
  // Scratch: two sums per block, one factor per tensor, then block_prefix
  // (count + 1 entries; doubles first keeps both aligned).
  static_assert(sizeof(std::size_t) == sizeof(double), "scratch layout");
  std::size_t block_count = 0;
  for (std::size_t t = 0; t < b.count; ++t) block_count += (b.lengths[t] + kReduceBlock - 1) / kReduceBlock;
  double* block_sums = static_cast<double*>(thread_scratch(sizeof(double) * (2 * block_count + b.count + b.count + 1)));
  double* factors = block_sums + 2 * block_count;
  std::size_t* block_prefix = reinterpret_cast<std::size_t*>(factors + b.count);
  block_prefix[0] = 0;
  for (std::size_t t = 0; t < b.count; ++t) {
    block_prefix[t + 1] = block_prefix[t] + (b.lengths[t] + kReduceBlock - 1) / kReduceBlock;
  }

  auto first_pass = [&](std::size_t first, std::size_t last) {
    layerwise_first_pass<Kernel, P, S>(b, scalars, block_prefix, block_sums, first, last);
  };
  share_out(block_count, blocks_per_chunk(kReduceBlock), b.total, threads, TeamOptions::for_kernels(), first_pass);

  for (std::size_t t = 0; t < b.count; ++t) {
    double first = 0.0, second = 0.0;
    for (std::size_t block = block_prefix[t]; block < block_prefix[t + 1]; ++block) {
      first = first + block_sums[2 * block];
      second = second + block_sums[2 * block + 1];
    }
    factors[t] = double(Kernel::tensor_factor(scalars, first, second, b.lengths[t]));
  }

  for_each_segment(b, threads, [&](std::size_t t, std::size_t begin, std::size_t end) {
    void* buffers[kMaxSlots];
    offset_buffers<Kernel, P, S>(b, t, begin, buffers);
    Kernel::second_pass(scalars, T(factors[t]), buffers, end - begin);
  });
}

FUSEDOPTIM_KERNELS_END
