// The kernels are compiled once per instruction set (see isa_kernels.cc and
// binding.gyp). Every kernel template therefore lives in a namespace named after
// the instruction set, so that the AVX-512 instantiation of, say, Adam<float>
// can never be merged by the linker with the plain x86-64 one (same mangled
// name, different code: the classic way to SIGILL on an older CPU).
//
// FUSEDOPTIM_ISA is defined by the build (avx512, avx2, baseline).
#pragma once

#ifndef FUSEDOPTIM_ISA
#error "FUSEDOPTIM_ISA must be defined: kernels are compiled per instruction set"
#endif

#define FUSEDOPTIM_KERNELS_BEGIN \
  namespace fusedoptim {         \
  namespace FUSEDOPTIM_ISA {
#define FUSEDOPTIM_KERNELS_END \
  }                            \
  }
