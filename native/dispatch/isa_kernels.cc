// The kernel table for one instruction set. This file is compiled three times
// (binding.gyp: kernels_avx512, kernels_avx2, kernels_baseline), each time with
// FUSEDOPTIM_ISA naming the namespace and the matching -m flags, so the same
// source becomes three sets of machine code; dispatch.cc picks one at load.
//
// Registering a kernel is one row below (and its header included): the row
// takes its slots and scalar names from the kernel itself.
#include "kernel_table.h"
#include "kernels/adafactor.h"
#include "kernels/adagrad.h"
#include "kernels/adam.h"
#include "kernels/compact_state.h"
#include "kernels/elementwise.h"
#include "kernels/lamb.h"
#include "kernels/lion.h"
#include "kernels/norm.h"
#include "kernels/rmsprop.h"
#include "kernels/sgd.h"
#include "kernels/adamax.h"
#include "kernels/radam.h"
#include "kernels/nadam.h"
#include "kernels/adadelta.h"
#include "kernels/rprop.h"
#include "kernels/asgd.h"
#include "kernels/schedule_free.h"
#include "drivers/multi_tensor.h"
#include "drivers/multi_tensor_blocks.h"
#include "drivers/multi_tensor_factored.h"
#include "drivers/multi_tensor_layerwise.h"
#include "drivers/multi_tensor_reduce.h"

#define FUSEDOPTIM_STRINGIFY2(x) #x
#define FUSEDOPTIM_STRINGIFY(x) FUSEDOPTIM_STRINGIFY2(x)

FUSEDOPTIM_KERNELS_BEGIN

namespace {

// A (param type, state type) combination a row instantiates its kernel for.
template <typename P, typename S>
struct Types {};

// The driver that runs a kernel over a batch: apply_layerwise for a kernel
// that declares kLayerwise (two passes and a per-tensor factor: LAMB,
// Adafactor's vectors), apply_factored for one that declares kFactored (row
// and column statistics: Adafactor's matrices), apply_update (one
// elementwise pass) for every other.
// (Overloads ranked by Rank<N>: the most specific one that compiles wins.)
template <int N>
struct Rank : Rank<N - 1> {};
template <>
struct Rank<0> {};
template <class K, typename P, typename S>
constexpr auto driver_of(Rank<2>) -> decltype(K::kLayerwise, UpdateFn()) {
  return &apply_layerwise<K, P, S>;
}
template <class K, typename P, typename S>
constexpr auto driver_of(Rank<1>) -> decltype(K::kFactored, UpdateFn()) {
  return &apply_factored<K, P, S>;
}
template <class K, typename P, typename S>
constexpr UpdateFn driver_of(Rank<0>) {
  return &apply_update<K, P, S>;
}

// A kernel's slot roles (kRoles), or null for the plain layout.
template <class K>
constexpr auto roles_of(int) -> decltype(K::kRoles, static_cast<const SlotRole*>(nullptr)) {
  return K::kRoles;
}
template <class K>
constexpr const SlotRole* roles_of(long) {
  return nullptr;
}

template <template <typename, typename> class Kernel, typename Pair>
struct VariantOf;
template <template <typename, typename> class Kernel, typename P, typename S>
struct VariantOf<Kernel, Types<P, S>> {
  static constexpr KernelVariant make() {
    return KernelVariant{DTypeOf<P>::value, DTypeOf<S>::value, driver_of<Kernel<P, S>, P, S>(Rank<2>())};
  }
};

// A row instantiated for each of `Pairs` (Types<P, S>...).
template <template <typename, typename> class Kernel, typename... Pairs>
constexpr UpdateKernel row_of(const char* name) {
  static_assert(sizeof...(Pairs) <= kMaxVariants, "raise kMaxVariants");
  using Shape = Kernel<float, float>;
  return UpdateKernel{name,
                      Shape::kSlots,
                      Shape::kStateSlots,
                      roles_of<Shape>(0),
                      Shape::Scalars::kCount,
                      Shape::Scalars::kNames,
                      int(sizeof...(Pairs)),
                      {VariantOf<Kernel, Pairs>::make()...}};
}

// A row whose state has the param's element type: float32 and float64.
template <template <typename, typename> class Kernel>
constexpr UpdateKernel row(const char* name) {
  return row_of<Kernel, Types<float, float>, Types<double, double>>(name);
}

// A row of a compact-state driver (compact_state.h): float32 params, state
// stored as S.
template <class Driver, typename S>
constexpr UpdateKernel driver_row(const char* name) {
  return UpdateKernel{name,
                      Driver::kSlots,
                      Driver::kStateSlots,
                      Driver::kRoles,
                      Driver::Scalars::kCount,
                      Driver::Scalars::kNames,
                      1,
                      {KernelVariant{DType::kFloat32, DTypeOf<S>::value, &Driver::apply}}};
}

// The compact-state rows of a kernel: bfloat16 rounded to nearest and
// stochastically, and 8-bit: "<name>_bf16", "<name>_bf16_sr", "<name>_int8".
#define FUSEDOPTIM_COMPACT_ROWS(Kernel, name)                                          \
  driver_row<Bf16State<Kernel, false>, std::uint16_t>(name "_bf16"),                   \
      driver_row<Bf16State<Kernel, true>, std::uint16_t>(name "_bf16_sr"),             \
      driver_row<Blockwise8<Kernel>, std::uint8_t>(name "_int8")

template <typename P, typename S> using SgdPlain = Sgd<P, S, SgdMomentum::kNone>;
template <typename P, typename S> using SgdHeavyBall = Sgd<P, S, SgdMomentum::kHeavyBall>;
template <typename P, typename S> using SgdNesterov = Sgd<P, S, SgdMomentum::kNesterov>;
template <typename P, typename S> using RMSpropPlain = RMSprop<P, S, false, false>;
template <typename P, typename S> using RMSpropCentered = RMSprop<P, S, true, false>;
template <typename P, typename S> using RMSpropMomentum = RMSprop<P, S, false, true>;
template <typename P, typename S> using RMSpropCenteredMomentum = RMSprop<P, S, true, true>;
template <typename P, typename S> using AdamPlain = Adam<P, S, false>;
template <typename P, typename S> using AdamAmsgrad = Adam<P, S, true>;
template <typename P, typename S> using ScheduleFreeAdamW = ScheduleFree<P, S, true>;
template <typename P, typename S> using ScheduleFreeSgd = ScheduleFree<P, S, false>;

template <ReduceKind K>
constexpr ReduceFn reduce_float() { return &apply_reduce<float, K>; }
template <ReduceKind K>
constexpr ReduceFn reduce_double() { return &apply_reduce<double, K>; }

const UpdateKernel kUpdateKernels[] = {
    row<SgdPlain>("sgd"),
    row<SgdHeavyBall>("sgd_momentum"),
    row<SgdNesterov>("sgd_nesterov"),
    row<Adagrad>("adagrad"),
    row<RMSpropPlain>("rmsprop"),
    row<RMSpropCentered>("rmsprop_centered"),
    row<RMSpropMomentum>("rmsprop_momentum"),
    row<RMSpropCenteredMomentum>("rmsprop_centered_momentum"),
    // Adam also keeps float32 moments for float64 params (half the state, and
    // the same arithmetic in double).
    row_of<AdamPlain, Types<float, float>, Types<double, double>, Types<double, float>>("adam"),
    row_of<AdamAmsgrad, Types<float, float>, Types<double, double>, Types<double, float>>("adam_amsgrad"),
    row<Lion>("lion"),
    row<Lamb>("lamb"),
    row<Accumulate>("accumulate"),
    row<Scale>("scale"),
    row<Clamp>("clamp"),
    FUSEDOPTIM_COMPACT_ROWS(SgdHeavyBall, "sgd_momentum"),
    FUSEDOPTIM_COMPACT_ROWS(SgdNesterov, "sgd_nesterov"),
    FUSEDOPTIM_COMPACT_ROWS(Adagrad, "adagrad"),
    FUSEDOPTIM_COMPACT_ROWS(RMSpropPlain, "rmsprop"),
    FUSEDOPTIM_COMPACT_ROWS(RMSpropCentered, "rmsprop_centered"),
    FUSEDOPTIM_COMPACT_ROWS(RMSpropMomentum, "rmsprop_momentum"),
    FUSEDOPTIM_COMPACT_ROWS(RMSpropCenteredMomentum, "rmsprop_centered_momentum"),
    FUSEDOPTIM_COMPACT_ROWS(AdamPlain, "adam"),
    FUSEDOPTIM_COMPACT_ROWS(AdamAmsgrad, "adam_amsgrad"),
    FUSEDOPTIM_COMPACT_ROWS(Lion, "lion"),
    row<Adamax>("adamax"),
    row<RAdam>("radam"),
    row<NAdam>("nadam"),
    FUSEDOPTIM_COMPACT_ROWS(Adamax, "adamax"),
    FUSEDOPTIM_COMPACT_ROWS(RAdam, "radam"),
    FUSEDOPTIM_COMPACT_ROWS(NAdam, "nadam"),
    row<Adadelta>("adadelta"),
    row<Rprop>("rprop"),
    row<Asgd>("asgd"),
    row<Adafactor>("adafactor"),
    row<AdafactorFactored>("adafactor_factored"),
    row<ScheduleFreeAdamW>("schedule_free_adamw"),
    FUSEDOPTIM_COMPACT_ROWS(ScheduleFreeAdamW, "schedule_free_adamw"),
    row<ScheduleFreeSgd>("schedule_free_sgd"),
    row<ScheduleFreeSwitch>("schedule_free_switch"),
};

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table = {
      FUSEDOPTIM_STRINGIFY(FUSEDOPTIM_ISA),
      kUpdateKernels,
      int(sizeof(kUpdateKernels) / sizeof(kUpdateKernels[0])),
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
