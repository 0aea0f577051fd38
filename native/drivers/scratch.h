// Working memory for kernels that need more than their buffers (LAMB's
// per-block partial norms). It is compiled once, outside the per-ISA kernel
// libraries: a std::vector instantiated under -mavx512f in isa_kernels.cc could
// be merged by the linker with the baseline copy and run on a CPU without
// AVX-512 (see kernels/kernel_namespace.h), so the kernels call this instead.
#pragma once
#include <cstddef>

namespace fusedoptim {

// At least `bytes` bytes of the calling thread's scratch memory, aligned for a
// double, valid until its next call on this thread. It only grows, so a warm
// step allocates nothing.
void* thread_scratch(std::size_t bytes);

}  // namespace fusedoptim
