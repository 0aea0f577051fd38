// Reading and checking arguments at the Node-API boundary. The TypeScript side
// validates first and gives the friendlier messages; this is the second line,
// there because a native addon must never trust its caller: every element type
// and length is read from the typed arrays themselves, never from numbers
// passed alongside them, and anything wrong becomes a JavaScript exception
// with a stable `code`, never a crash.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>
#include <vector>

#include "dtype.h"
#include "dispatch/kernel_table.h"
#include "drivers/tensor_batch.h"

namespace fusedoptim {

// The most threads a call may ask for.
constexpr int kMaxThreads = 1024;

// Throws a JavaScript TypeError or RangeError carrying `code`.
[[noreturn]] void throw_type_error(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void throw_range_error(Napi::Env env, const char* code, const std::string& message);

// The buffers of a batch resolved to raw pointers, and the storage that a
// TensorBatch view points into.
struct ResolvedBatch {
  std::vector<void*> buffers;
  std::vector<std::size_t> lengths;
  std::vector<std::size_t> element_prefix;
  // (matrices, rows, cols) per tensor, for a kernel with row and column statistics; else empty.
  std::vector<std::size_t> dims;
  int slots = 0;
  // The element type of the params and gradients (the first slots of each
  // tensor), and of the state (its last `state_slots`); the param's when there
  // is no state.
  DType param_dtype = DType::kFloat32;
  DType state_dtype = DType::kFloat32;

  bool is_double() const { return param_dtype == DType::kFloat64; }

  TensorBatch view() const;
};

// How a batch is laid out: `slots` buffers per tensor, the last `state_slots`
// of them state; `roles` (null for that plain layout) gives each slot's role
// when some have fixed types and lengths of their own (8-bit state).
struct BatchLayout {
  int slots = 1;
  int state_slots = 0;
  const SlotRole* roles = nullptr;
};

// Reads `value` as a flat Array of typed arrays: buffer s of tensor t at index
// t * slots + s, the `slots` buffers of a tensor of equal length. The param
// and gradient slots hold Float32Arrays or Float64Arrays, all of one type; the
// state slots Float32Array, Float64Array, Uint16Array (bfloat16) or
// Uint8Array, all of one type; block-scale and table slots (layout.roles)
// Float32Arrays of ceil(length / block) and of the table's own length. Throws on anything else, including detached
// buffers. Each element is read exactly once, and all of them before any is
// resolved, so a getter cannot detach or swap a buffer after it was checked,
// nor spoil `out` by calling the addon again. `owners`, if given, receives a
// new Array of the typed arrays resolved: what an asynchronous call must keep
// alive.
ResolvedBatch read_batch(Napi::Env env, const Napi::Value& value, BatchLayout layout, const char* name,
                         Napi::Array* owners = nullptr);
// The same into `out`, whose vectors keep their capacity: a synchronous call
// reuses one per thread and allocates nothing once warm.
void read_batch_into(Napi::Env env, const Napi::Value& value, BatchLayout layout, const char* name,
                     ResolvedBatch& out, Napi::Array* owners = nullptr);

// A Float64Array of exactly `count` elements.
const double* read_scalars(Napi::Env env, const Napi::Value& value, int count, const char* name);

// A thread count in [1, kMaxThreads].
int read_threads(Napi::Env env, const Napi::Value& value);

// An integer in [min, max].
int read_int(Napi::Env env, const Napi::Value& value, int min, int max, const char* name);

// A number (any double, NaN rejected).
double read_number(Napi::Env env, const Napi::Value& value, const char* name);

}  // namespace fusedoptim
