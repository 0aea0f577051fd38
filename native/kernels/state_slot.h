// How a kernel reads and writes its state, whatever stores it:
//
//   state_slot_t<S> m = state_slot<S>(buf[k]);
//   T(m[i])           the element's value
//   m[i] = S(x)       its new value
//
// For S = float or double the slot is the buffer itself (a restrict pointer:
// the loops read as they always did). The compact storages of compact_state.h
// (bfloat16 rounded to nearest or stochastically, 8-bit codes) specialise
// SlotOf: their S is a tag that carries the new value to the store, their slot
// a small view whose [i] widens on read and rounds on write, so one kernel
// template serves every storage and the state never leaves registers.
#pragma once
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

template <typename S>
struct SlotOf {
  using type = S* __restrict;
  static S* view(void* buffer) { return static_cast<S*>(buffer); }
};

template <typename S>
using state_slot_t = typename SlotOf<S>::type;

// A slot's view of `buffer` (null for a slot the kernel's variant does not have).
template <typename S>
inline auto state_slot(void* buffer) {
  return SlotOf<S>::view(buffer);
}

FUSEDOPTIM_KERNELS_END
