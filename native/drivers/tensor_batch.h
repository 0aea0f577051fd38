// A batch of tensors as the kernels see it: raw pointers and lengths, already
// checked by the Node-API side (args.cc). No Node-API types here: the kernels
// are plain C++ and could run anywhere.
#pragma once
#include <cstddef>

namespace fusedoptim {

// The most buffers one tensor carries through a kernel (RMSprop centered with
// momentum and 8-bit state: param, grad, then codes, block scales and code
// map for each of square_avg, grad_avg and momentum_buffer).
constexpr int kMaxSlots = 11;

// `count` tensors, each with `slots` buffers of equal length: buffer `s` of
// tensor `t` is buffers[t * slots + s], with lengths[t] elements.
// element_prefix[t] is the number of elements in tensors 0..t-1 (count + 1 entries).
struct TensorBatch {
  std::size_t count = 0;
  int slots = 0;
  void* const* buffers = nullptr;
  const std::size_t* lengths = nullptr;
  const std::size_t* element_prefix = nullptr;
  std::size_t total = 0;
  // For a kernel with row and column statistics (SlotKind::kRows, kCols):
  // per tensor, the (matrices, rows, cols) of its param (factored_shape.h);
  // null for every other kernel.
  const std::size_t* dims = nullptr;
};

// What a reduction needs besides the tensors: block_prefix[t] is the number of
// reduction blocks in tensors 0..t-1 (count + 1 entries), and block_results has
// one slot per block for the partial results.
struct ReduceScratch {
  const std::size_t* block_prefix = nullptr;
  double* block_results = nullptr;
  std::size_t block_count = 0;
};

}  // namespace fusedoptim
