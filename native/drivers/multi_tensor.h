// Multi-tensor apply: one parallel region walks all elements of all tensors.
//
// The elements of the whole batch are numbered 0..total-1 (tensor after
// tensor) and cut into chunks that the team's threads claim (team.h), so 1000
// small tensors cost one fork/join, not 1000. A chunk's thread walks the
// tensors the chunk overlaps and hands each overlapping segment to the
// kernel's vectorised loop. Small batches run on the calling thread: a
// parallel region costs microseconds, more than a few thousand elements of work.
#pragma once
#include <cstddef>
#include "kernels/kernel_namespace.h"
#include "team.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

// The last index t < count with start(t) <= position, for a non-decreasing
// start (so empty tensors, which share their successor's start, are skipped).
// Every chunk of the team starts with it, so it is a binary search.
template <typename Start>
inline std::size_t find_index(std::size_t count, std::size_t position, Start start) {
  std::size_t lo = 0, hi = count;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (start(mid) <= position) lo = mid; else hi = mid;
  }
  return lo;
}

// Index t such that prefix[t] <= position < prefix[t + 1] (skipping empty tensors).
inline std::size_t find_tensor(const std::size_t* prefix, std::size_t count, std::size_t position) {
  return find_index(count, position, [prefix](std::size_t t) { return prefix[t]; });
}

// Calls segment(tensor, begin, end) for every piece of [first, last) in tensor coordinates.
template <typename Segment>
inline void walk_range(const TensorBatch& b, std::size_t first, std::size_t last, Segment& segment) {
  if (first >= last) return;
  std::size_t t = find_tensor(b.element_prefix, b.count, first);
  std::size_t position = first;
  while (position < last && t < b.count) {
    const std::size_t tensor_start = b.element_prefix[t];
    const std::size_t tensor_end = b.element_prefix[t + 1];
    const std::size_t stop = last < tensor_end ? last : tensor_end;
    if (stop > position) segment(t, position - tensor_start, stop - tensor_start);
    position = tensor_end > position ? tensor_end : position;
    ++t;
  }
}

template <typename Segment>
inline void for_each_segment(const TensorBatch& b, int threads, Segment segment,
                             const TeamOptions& options = TeamOptions::for_kernels()) {
  auto chunk = [&](std::size_t first, std::size_t last) { walk_range(b, first, last, segment); };
  share_out(b.total, kChunkElements, b.total, threads, options, chunk);
}

// Runs Kernel::update over every tensor of the batch: params and gradients of
// element type P, state of element type S (Kernel's last kStateSlots buffers).
template <class Kernel, typename P, typename S>
void apply_update(const TensorBatch& b, const double* raw_scalars, int threads) {
  const typename Kernel::Scalars scalars(raw_scalars);
  constexpr int kFirstState = Kernel::kSlots - Kernel::kStateSlots;
  for_each_segment(b, threads, [&](std::size_t t, std::size_t begin, std::size_t end) {
    void* buffers[kMaxSlots];
    for (int s = 0; s < Kernel::kSlots; ++s) {
      char* base = static_cast<char*>(b.buffers[t * b.slots + s]);
      buffers[s] = base + begin * (s < kFirstState ? sizeof(P) : sizeof(S));
    }
    Kernel::update(scalars, buffers, end - begin);
  });
}

FUSEDOPTIM_KERNELS_END
