#include "args.h"

#include <cmath>
#include <string>

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
  return b;
}

ResolvedBatch read_batch(Napi::Env env, const Napi::Value& value, int slots, const char* name, Napi::Array* owners) {
  ResolvedBatch out;
  read_batch_into(env, value, slots, name, out, owners);
  return out;
}

namespace {

[[noreturn]] void throw_not_a_tensor(Napi::Env env, const char* name, std::size_t i) {
  throw_type_error(env, "ERR_INVALID_ARG_TYPE", element(name, i) + ": expected a Float32Array or Float64Array");
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

}  // namespace

void read_batch_into(Napi::Env env, const Napi::Value& value, int slots, const char* name, ResolvedBatch& out,
                     Napi::Array* owners) {
  if (!value.IsArray()) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected an Array of Float32Array or Float64Array");
  }
  const Napi::Array list = value.As<Napi::Array>();
  const std::size_t count = list.Length();
  if (slots <= 0 || slots > kMaxSlots || count % std::size_t(slots) != 0) {
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
  napi_typedarray_type first_type = napi_float32_array;
  for (std::size_t i = 0; i < count; ++i) {
    napi_value item;
    if (napi_get_element(env, list, uint32_t(i), &item) != napi_ok) throw Napi::Error::New(env);
    // napi_get_typedarray_info answers napi_invalid_arg for anything that is not
    // a typed array: one call checks the type (this loop runs for every buffer of
    // every step).
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, item, &type, nullptr, nullptr, nullptr, nullptr) != napi_ok) {
      throw_not_a_tensor(env, name, i);
    }
    if (type != napi_float32_array && type != napi_float64_array) throw_not_a_tensor(env, name, i);
    if (i == 0) {
      first_type = type;
    } else if (type != first_type) {
      throw_type_error(env, "ERR_DTYPE_MISMATCH",
                       element(name, i) + ": expected a " +
                           (first_type == napi_float32_array ? "Float32Array" : "Float64Array") + " like " +
                           element(name, 0));
    }
    items.push_back(item);
  }

  // 2. Resolve them. No JavaScript runs from here until the kernel has its
  //    pointers: every length, detached flag and address read here holds.
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
    if (i % std::size_t(slots) == 0) {
      out.lengths[tensor] = length;
      out.element_prefix[tensor + 1] = out.element_prefix[tensor] + length;
    } else if (length != out.lengths[tensor]) {
      throw_range_error(env, "ERR_SHAPE_MISMATCH",
                        element(name, i) + ": expected length " + std::to_string(out.lengths[tensor]) + " like " +
                            element(name, tensor * std::size_t(slots)) + ", got " + std::to_string(length));
    }
    out.buffers[i] = data;
  }
  out.is_double = first_type == napi_float64_array;

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

int read_int(Napi::Env env, const Napi::Value& value, int min, int max, const char* name) {
  if (!value.IsNumber()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected an integer");
  const double x = value.As<Napi::Number>().DoubleValue();
  if (!(x >= min && x <= max) || std::floor(x) != x) {
    throw_range_error(env, "ERR_OUT_OF_RANGE",
                      std::string(name) + ": expected an integer in [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
  }
  return int(x);
}

double read_number(Napi::Env env, const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", std::string(name) + ": expected a number");
  const double x = value.As<Napi::Number>().DoubleValue();
  if (std::isnan(x)) throw_range_error(env, "ERR_OUT_OF_RANGE", std::string(name) + ": expected a number, got NaN");
  return x;
}

}  // namespace fusedoptim
