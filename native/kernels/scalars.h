// A kernel's per-step scalars, declared once by name:
//
//   FUSEDOPTIM_SCALARS(T, grad_scale, lr, eps)
//
// declares, inside the kernel, `struct Scalars { T grad_scale, lr, eps; ... }`
// whose constructor reads field k from element k of the caller's Float64Array,
// and `Scalars::kNames` = {"grad_scale", "lr", "eps"} in the same order. The
// kernel table exports the names and lib/kernels/kernel_def.ts checks them, in
// camelCase, against the TypeScript declaration of the same kernel when it is
// first used: a scalar cannot be read at the wrong position, and its count is
// never typed by hand.
#pragma once

#define FUSEDOPTIM_EXPAND(x) x
#define FUSEDOPTIM_FOR_EACH_1(F, a) F(a)
#define FUSEDOPTIM_FOR_EACH_2(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_1(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_3(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_2(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_4(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_3(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_5(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_4(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_6(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_5(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_7(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_6(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_8(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_7(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_9(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_8(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_10(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_9(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_11(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_10(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_12(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_11(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_13(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_12(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_14(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_13(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_15(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_14(F, __VA_ARGS__))
#define FUSEDOPTIM_FOR_EACH_16(F, a, ...) F(a) FUSEDOPTIM_EXPAND(FUSEDOPTIM_FOR_EACH_15(F, __VA_ARGS__))
#define FUSEDOPTIM_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, NAME, ...) NAME
#define FUSEDOPTIM_FOR_EACH(F, ...)                                                                          \
  FUSEDOPTIM_EXPAND(FUSEDOPTIM_PICK(__VA_ARGS__, FUSEDOPTIM_FOR_EACH_16, FUSEDOPTIM_FOR_EACH_15,              \
                                    FUSEDOPTIM_FOR_EACH_14, FUSEDOPTIM_FOR_EACH_13, FUSEDOPTIM_FOR_EACH_12,   \
                                    FUSEDOPTIM_FOR_EACH_11, FUSEDOPTIM_FOR_EACH_10, FUSEDOPTIM_FOR_EACH_9,    \
                                    FUSEDOPTIM_FOR_EACH_8, FUSEDOPTIM_FOR_EACH_7, FUSEDOPTIM_FOR_EACH_6,      \
                                    FUSEDOPTIM_FOR_EACH_5, FUSEDOPTIM_FOR_EACH_4, FUSEDOPTIM_FOR_EACH_3,      \
                                    FUSEDOPTIM_FOR_EACH_2, FUSEDOPTIM_FOR_EACH_1)(F, __VA_ARGS__))

#define FUSEDOPTIM_SCALAR_FIELD(name) name = T_(raw[next++]);
#define FUSEDOPTIM_SCALAR_NAME(name) #name,

#define FUSEDOPTIM_SCALARS(T, ...)                                                              \
  struct Scalars {                                                                              \
    using T_ = T;                                                                               \
    T_ __VA_ARGS__;                                                                             \
    static constexpr const char* kNames[] = {FUSEDOPTIM_FOR_EACH(FUSEDOPTIM_SCALAR_NAME, __VA_ARGS__)}; \
    static constexpr int kCount = int(sizeof(kNames) / sizeof(kNames[0]));                    \
    explicit Scalars(const double* raw) {                                                       \
      int next = 0;                                                                             \
      FUSEDOPTIM_FOR_EACH(FUSEDOPTIM_SCALAR_FIELD, __VA_ARGS__)                                 \
    }                                                                                           \
  }
