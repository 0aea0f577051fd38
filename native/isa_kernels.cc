// The kernel table for one instruction set. This file is compiled three times
// (binding.gyp: kernels_avx512, kernels_avx2, kernels_baseline), each time with
// FUSEDOPTIM_ISA naming the namespace and the matching -m flags, so the same
// source becomes three sets of machine code; dispatch.cc picks one at load.
#include "kernel_table.h"
#include "kernels/adagrad.h"
#include "kernels/adam.h"
#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "kernels/rmsprop.h"
#include "kernels/sgd.h"
#include "multi_tensor.h"
#include "multi_tensor_reduce.h"

#define FUSEDOPTIM_STRINGIFY2(x) #x
#define FUSEDOPTIM_STRINGIFY(x) FUSEDOPTIM_STRINGIFY2(x)

FUSEDOPTIM_KERNELS_BEGIN

namespace {

// One table row: a kernel template instantiated for float and double.
template <template <typename> class Kernel>
constexpr UpdateKernel row(const char* name, int scalar_count) {
  return UpdateKernel{name, Kernel<float>::kSlots, scalar_count,
                      {&apply_update<Kernel<float>, float>, &apply_update<Kernel<double>, double>}};
}

template <typename T> using SgdPlain = Sgd<T, SgdMomentum::kNone>;
template <typename T> using SgdHeavyBall = Sgd<T, SgdMomentum::kHeavyBall>;
template <typename T> using SgdNesterov = Sgd<T, SgdMomentum::kNesterov>;
template <typename T> using RMSpropPlain = RMSprop<T, false, false>;
template <typename T> using RMSpropCentered = RMSprop<T, true, false>;
template <typename T> using RMSpropMomentum = RMSprop<T, false, true>;
template <typename T> using RMSpropCenteredMomentum = RMSprop<T, true, true>;
template <typename T> using AdamPlain = Adam<T, false>;
template <typename T> using AdamAmsgrad = Adam<T, true>;

template <ReduceKind K>
constexpr ReduceFn reduce_float() { return &apply_reduce<float, K>; }
template <ReduceKind K>
constexpr ReduceFn reduce_double() { return &apply_reduce<double, K>; }

}  // namespace

const KernelTable& kernel_table() {
  // Order and scalar counts follow UpdateKind; lib/native.ts checks them at load.
  static const KernelTable table = {
      FUSEDOPTIM_STRINGIFY(FUSEDOPTIM_ISA),
      {
          row<SgdPlain>("sgd", 6),
          row<SgdHeavyBall>("sgd_momentum", 6),
          row<SgdNesterov>("sgd_nesterov", 6),
          row<Adagrad>("adagrad", 4),
          row<RMSpropPlain>("rmsprop", 7),
          row<RMSpropCentered>("rmsprop_centered", 7),
          row<RMSpropMomentum>("rmsprop_momentum", 7),
          row<RMSpropCenteredMomentum>("rmsprop_centered_momentum", 7),
          row<AdamPlain>("adam", 10),
          row<AdamAmsgrad>("adam_amsgrad", 10),
          row<Accumulate>("accumulate", 1),
          row<Scale>("scale", 1),
          row<Clamp>("clamp", 2),
      },
      {
          {reduce_float<ReduceKind::kSumSquares>(), reduce_double<ReduceKind::kSumSquares>()},
          {reduce_float<ReduceKind::kSumAbs>(), reduce_double<ReduceKind::kSumAbs>()},
          {reduce_float<ReduceKind::kMaxAbs>(), reduce_double<ReduceKind::kMaxAbs>()},
          {reduce_float<ReduceKind::kSumPow>(), reduce_double<ReduceKind::kSumPow>()},
          {reduce_float<ReduceKind::kNonFinite>(), reduce_double<ReduceKind::kNonFinite>()},
      },
  };
  return table;
}

FUSEDOPTIM_KERNELS_END
