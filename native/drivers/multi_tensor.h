// Multi-tensor apply: one parallel region walks all elements of all tensors.
//
// The elements of the whole batch are numbered 0..total-1 (tensor after
// tensor) and cut into one contiguous range per thread, so 1000 small tensors
// cost one fork/join, not 1000. Each thread then walks the tensors its range
// overlaps and hands each overlapping segment to the kernel's vectorised loop.
// Small batches run on the calling thread: a parallel region costs microseconds,
// more than a few thousand elements of work.
#pragma once
#include <cstddef>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/kernel_namespace.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

// Below this many elements per thread a parallel region costs more than it saves.
constexpr std::size_t kMinElementsPerThread = 16384;
// Thread ranges start on multiples of this (a 64-byte line of float32) so two
// threads rarely write the same cache line.
constexpr std::size_t kRangeGranule = 16;

inline int team_size(std::size_t work, int threads) {
  const std::size_t useful = work / kMinElementsPerThread;
  if (threads <= 1 || useful <= 1) return 1;
  return useful < std::size_t(threads) ? int(useful) : threads;
}

// Index t such that prefix[t] <= position < prefix[t + 1] (skipping empty tensors).
inline std::size_t find_tensor(const std::size_t* prefix, std::size_t count, std::size_t position) {
  std::size_t lo = 0, hi = count;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (prefix[mid] <= position) lo = mid; else hi = mid;
  }
  return lo;
}

inline std::size_t range_start(std::size_t total, int team, int member) {
  if (member >= team) return total;
  const std::size_t start = (total / std::size_t(team)) * std::size_t(member);
  return start - start % kRangeGranule;
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
inline void for_each_segment(const TensorBatch& b, int threads, Segment segment) {
  const int team = team_size(b.total, threads);
  if (team <= 1) {
    walk_range(b, 0, b.total, segment);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
  {
    const int members = omp_get_num_threads();
    const int me = omp_get_thread_num();
    walk_range(b, range_start(b.total, members, me), range_start(b.total, members, me + 1), segment);
  }
#else
  walk_range(b, 0, b.total, segment);
#endif
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
