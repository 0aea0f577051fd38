// Element types a kernel's buffers can have, shared by the Node-API side (which
// reads them off the typed arrays) and the kernel table (which lists, per
// kernel, the (param type, state type) combinations it was instantiated for).
#pragma once
#include <cstdint>

namespace fusedoptim {

enum class DType : int {
  kFloat32 = 0,
  kFloat64 = 1,
  kBFloat16 = 2,  // stored in a Uint16Array
  kUint8 = 3,
};
constexpr int kDTypeCount = 4;

// The names lib/tensor.ts uses for the same types ('float32', ...).
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kBFloat16: return "bfloat16";
    case DType::kUint8: return "uint8";
  }
  return "?";
}

// The C++ element type of each DType, for the kernel table's instantiations.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };

}  // namespace fusedoptim
