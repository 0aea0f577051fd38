#include "args.h"

#include <cmath>
#include <string>

#include "drivers/factored_shape.h"

namespace fusedoptim {

namespace {

void throw_with_code(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  throw error;
}

std::string element(const char* name, std::size_t index) {
  return std::string(name) + "[" + std::to_string(index) + "]";
}

}  // namespace

void throw_type_error(Napi::Env env, const char* code, const std::string& message) {
  throw_with_code(Napi::TypeError::New(env, message), code);
  __builtin_unreachable();
}

void throw_range_error(Napi::Env env, const char* code, const std::string& message) {
  throw_with_code(Napi::RangeError::New(env, message), code);
  __builtin_unreachable();
}

TensorBatch ResolvedBatch::view() const {
  TensorBatch b;
  b.count = lengths.size();
  b.slots = slots;
  b.buffers = buffers.data();
  b.lengths = lengths.data();
  b.element_prefix = element_prefix.data();
  b.total = element_prefix.empty() ? 0 : element_prefix.back();
  b.dims = dims.empty() ? nullptr : dims.data();
  return b;
}

ResolvedBatch read_batch(Napi::Env env, const Napi::Value& value, BatchLayout layout, const char* name,
                         Napi::Array* owners) {
  ResolvedBatch out;
  read_batch_into(env, value, layout, name, out, owners);
  return out;
}

namespace {

[[noreturn]] void throw_not_a_tensor(Napi::Env env, const char* name, std::size_t i) {
  throw_type_error(env, "ERR_INVALID_ARG_TYPE", element(name, i) + ": expected a Float32Array or Float64Array");
}

[[noreturn]] void throw_not_state(Napi::Env env, const char* name, std::size_t i) {
  throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                   element(name, i) + ": expected a Float32Array, Float64Array, Uint16Array (bfloat16) or Uint8Array");
}

// The DType a typed array holds, if it is one of ours.
bool dtype_of(napi_typedarray_type type, DType* out) {
  switch (type) {
    case napi_float32_array: *out = DType::kFloat32; return true;
    case napi_float64_array: *out = DType::kFloat64; return true;
    case napi_uint16_array: *out = DType::kBFloat16; return true;
    case napi_uint8_array: *out = DType::kUint8; return true;
    default: return false;
  }
}

const char* array_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "Float32Array";
    case DType::kFloat64: return "Float64Array";
    case DType::kBFloat16: return "Uint16Array";
    case DType::kUint8: return "Uint8Array";
  }
  return "?";
}

// The elements of a batch, fetched before any of them is resolved. The vector
// is a per-thread spare that keeps its capacity between calls (a warm step
// allocates nothing); a call that starts while another is still fetching
// (re-entered from a getter) finds the spare taken and uses a vector of its own.
class FetchedItems {
 public:
  FetchedItems() {
    items_.swap(spare());
    items_.clear();
  }
  ~FetchedItems() {
    items_.clear();
    if (items_.capacity() > spare().capacity()) items_.swap(spare());
  }
  FetchedItems(const FetchedItems&) = delete;
  FetchedItems& operator=(const FetchedItems&) = delete;
  std::vector<napi_value>& items() { return items_; }

 private:
  static std::vector<napi_value>& spare() {
    thread_local std::vector<napi_value> vector;
    return vector;
  }
  std::vector<napi_value> items_;
};

// The role of slot `slot` under `layout`.
SlotRole role_of(const BatchLayout& layout, int slot) {
  if (layout.roles != nullptr) return layout.roles[slot];
  return SlotRole{slot < layout.slots - layout.state_slots ? SlotKind::kParam : SlotKind::kState, 0};
}

// Slots of the state's element type: state, and a factored param's row and column statistics.
bool state_typed(SlotKind kind) { return kind == SlotKind::kState || kind == SlotKind::kRows || kind == SlotKind::kCols; }

// The length a slot of `role` must have in a tensor of `length` elements
// (rows and columns are checked together, by factored_shape).
std::size_t expected_length(SlotRole role, std::size_t length) {
  switch (role.kind) {
    case SlotKind::kBlocks: return (length + std::size_t(role.size) - 1) / std::size_t(role.size);
    case SlotKind::kTable: return std::size_t(role.size);
    default: return length;
  }
}

}  // namespace

void read_batch_into(Napi::Env env, const Napi::Value& value, BatchLayout layout, const char* name,
                     ResolvedBatch& out, Napi::Array* owners) {
  const int slots = layout.slots;
  if (!value.IsArray()) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected an Array of Float32Array or Float64Array");
  }
  const Napi::Array list = value.As<Napi::Array>();
  const std::size_t count = list.Length();
  if (slots <= 0 || slots > kMaxSlots || layout.state_slots < 0 || layout.state_slots >= slots ||
      count % std::size_t(slots) != 0) {
    throw_range_error(env, "ERR_SHAPE_MISMATCH",
                      std::string(name) + ": expected a multiple of " + std::to_string(slots) + " buffers, got " +
                          std::to_string(count));
  }

  // 1. Fetch every element and check its type. Reading an element can run
  //    JavaScript (an index getter, or one on Array.prototype for a hole), and
  //    that code may detach a buffer fetched before it or call the addon again
  //    (which reuses `out`), so nothing is resolved to a pointer until every
  //    element is in hand. An element's type cannot change afterwards; its
  //    length and memory can, which is why they are read in step 2. Nothing is
  //    allocated from `count` itself: a sparse Array of length 2^32 - 2 fails
  //    at its first hole.
  FetchedItems fetched;
  std::vector<napi_value>& items = fetched.items();
  // Slot 0 fixes the params' type, the first state slot the state's.
  int first_state_slot = -1;
  for (int j = 0; j < slots && first_state_slot < 0; ++j) {
    if (state_typed(role_of(layout, j).kind)) first_state_slot = j;
  }
  DType param_dtype = DType::kFloat32;
  DType state_dtype = DType::kFloat32;
  for (std::size_t i = 0; i < count; ++i) {
    napi_value item;
    if (napi_get_element(env, list, uint32_t(i), &item) != napi_ok) throw Napi::Error::New(env);
    // napi_get_typedarray_info answers napi_invalid_arg for anything that is not
    // a typed array: one call checks the type (this loop runs for every buffer of
    // every step).
    napi_typedarray_type type;
    DType dtype;
    const int slot = int(i % std::size_t(slots));
    const SlotKind kind = role_of(layout, slot).kind;
    const bool typed = napi_get_typedarray_info(env, item, &type, nullptr, nullptr, nullptr, nullptr) == napi_ok &&
                       dtype_of(type, &dtype);
    switch (kind) {
      case SlotKind::kParam:
        if (!typed || (dtype != DType::kFloat32 && dtype != DType::kFloat64)) throw_not_a_tensor(env, name, i);
        break;
      case SlotKind::kState:
      case SlotKind::kRows:
      case SlotKind::kCols:
        if (!typed) throw_not_state(env, name, i);
        break;
      case SlotKind::kBlocks:
      case SlotKind::kTable:
        if (!typed || dtype != DType::kFloat32) {
          throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                           element(name, i) + (kind == SlotKind::kBlocks ? ": expected a Float32Array of block scales"
                                                                         : ": expected a Float32Array code map"));
        }
        break;
    }
    if (kind == SlotKind::kParam || state_typed(kind)) {
      const bool is_state = state_typed(kind);
      const std::size_t head = is_state ? std::size_t(first_state_slot) : 0;  // the slot that fixes this one's type
      DType& expected = is_state ? state_dtype : param_dtype;
      if (i == head) {
        expected = dtype;
      } else if (dtype != expected) {
        throw_type_error(env, "ERR_DTYPE_MISMATCH",
                         element(name, i) + ": expected a " + array_name(expected) + " like " + element(name, head));
      }
    }
    items.push_back(item);
  }
  if (first_state_slot < 0) state_dtype = param_dtype;

  // 2. Resolve them. No JavaScript runs from here until the kernel has its
  //    pointers: every length, detached flag and address read here holds.
  // A factored kernel's row and column statistics (at most one slot of each).
  int row_slot = -1, col_slot = -1;
  for (int j = 0; j < slots; ++j) {
    if (role_of(layout, j).kind == SlotKind::kRows) row_slot = j;
    if (role_of(layout, j).kind == SlotKind::kCols) col_slot = j;
  }
  const bool factored = row_slot >= 0 && col_slot >= 0;
  out.dims.resize(factored ? 3 * (count / std::size_t(slots)) : 0);
  out.slots = slots;
  out.buffers.resize(count);
  out.lengths.resize(count / std::size_t(slots));
  out.element_prefix.resize(out.lengths.size() + 1);
  out.element_prefix[0] = 0;
  for (std::size_t i = 0; i < count; ++i) {
    napi_typedarray_type type;
    std::size_t length = 0;
    void* data = nullptr;
    napi_value arraybuffer;
    std::size_t byte_offset = 0;
    if (napi_get_typedarray_info(env, items[i], &type, &length, &data, &arraybuffer, &byte_offset) != napi_ok) {
      throw_not_a_tensor(env, name, i);
    }
    if (length == 0) {
      bool detached = false;
      napi_is_detached_arraybuffer(env, arraybuffer, &detached);
      if (detached) {
        throw_type_error(env, "ERR_DETACHED_BUFFER", element(name, i) + ": its ArrayBuffer is detached");
      }
    }
    const std::size_t tensor = i / std::size_t(slots);
    const int slot = int(i % std::size_t(slots));
    if (slot == 0) {
      out.lengths[tensor] = length;
      out.element_prefix[tensor + 1] = out.element_prefix[tensor] + length;
    } else if (slot == row_slot || slot == col_slot) {
      // Kept until the tensor's last slot, where the pair is checked as a shape.
      out.dims[3 * tensor + (slot == row_slot ? 1 : 2)] = length;
    } else {
      const SlotRole role = role_of(layout, slot);
      const std::size_t expected = expected_length(role, out.lengths[tensor]);
      if (length != expected) {
        const std::string param = element(name, tensor * std::size_t(slots));
        const std::string what =
            role.kind == SlotKind::kBlocks ? " (one scale per " + std::to_string(role.size) + " elements of " + param + ")"
            : role.kind == SlotKind::kTable ? " (a code map)"
                                            : " like " + param;
        throw_range_error(env, "ERR_SHAPE_MISMATCH",
                          element(name, i) + ": expected length " + std::to_string(expected) + what + ", got " +
                              std::to_string(length));
      }
    }
    out.buffers[i] = data;
    if (factored && slot == slots - 1) {
      FactoredShape shape;
      const std::size_t row_stats = out.dims[3 * tensor + 1], col_stats = out.dims[3 * tensor + 2];
      if (!factored_shape(out.lengths[tensor], row_stats, col_stats, &shape)) {
        const std::size_t first = tensor * std::size_t(slots);
        throw_range_error(env, "ERR_SHAPE_MISMATCH",
                          element(name, first + std::size_t(row_slot)) + " and " + element(name, first + std::size_t(col_slot)) +
                              ": lengths " + std::to_string(row_stats) + " and " + std::to_string(col_stats) +
                              " are not the row and column statistics of a param of " + std::to_string(out.lengths[tensor]) +
                              " elements (matrices·rows and matrices·cols for matrices·rows·cols elements)");
      }
      out.dims[3 * tensor] = shape.matrices;
      out.dims[3 * tensor + 1] = shape.rows;
      out.dims[3 * tensor + 2] = shape.cols;
    }
  }
  out.param_dtype = param_dtype;
  out.state_dtype = state_dtype;

  // 3. For an asynchronous call: the very objects resolved above, in a new Array
  //    (reading the caller's Array again could run a getter that hands out others).
  if (owners != nullptr) {
    Napi::Array kept = Napi::Array::New(env, count);
    for (std::size_t i = 0; i < count; ++i) {
      if (napi_set_element(env, kept, uint32_t(i), items[i]) != napi_ok) throw Napi::Error::New(env);
    }
    *owners = kept;
  }
}

const double* read_scalars(Napi::Env env, const Napi::Value& value, int count, const char* name) {
  // One napi_get_typedarray_info call (the Napi:: accessors would make three).
  napi_typedarray_type type;
  std::size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected a Float64Array");
  }
  if (length != std::size_t(count)) {
    throw_range_error(env, "ERR_SHAPE_MISMATCH",
                      std::string(name) + ": expected " + std::to_string(count) + " values, got " + std::to_string(length));
  }
  return static_cast<const double*>(data);
}

int read_threads(Napi::Env env, const Napi::Value& value) { return read_int(env, value, 1, kMaxThreads, "threads"); }

namespace {

// The value of a JavaScript number in one Node-API call (it answers
// napi_number_expected for anything else): these run for every argument of
// every call, the planned step's included.
bool number_value(Napi::Env env, const Napi::Value& value, double* out) {
  return napi_get_value_double(env, value, out) == napi_ok;
}

}  // namespace

int read_int(Napi::Env env, const Napi::Value& value, int min, int max, const char* name) {
  double x = 0;
  if (!number_value(env, value, &x)) throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected an integer");
  if (!(x >= min && x <= max) || std::floor(x) != x) {
    // The library's one rule (lib/validate.ts refusedNumberCode): NaN and ±Infinity where a finite number is required are ERR_NON_FINITE.
    throw_range_error(env, std::isfinite(x) ? "ERR_OUT_OF_RANGE" : "ERR_NON_FINITE",
                      std::string(name) + ": expected an integer in [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
  }
  return int(x);
}

double read_number(Napi::Env env, const Napi::Value& value, const char* name) {
  double x = 0;
  if (!number_value(env, value, &x)) throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected a number");
  if (std::isnan(x)) throw_range_error(env, "ERR_NON_FINITE", std::string(name) + ": expected a number, got NaN");
  return x;
}

}  // namespace fusedoptim
