// A plan holds what update() would resolve on every call: the kernel and its
// variant, the raw pointers and lengths of its buffers, and a weak reference
// to each distinct ArrayBuffer. A plan keeps nothing alive: their owners do
// (an optimizer its params and state, the caller its gradients), so a plan
// cached by an optimizer never holds a step's gradients beyond that step. A
// call over a plan one of whose buffers was collected is refused before any
// pointer is used (check_unchanged: the weak reference is then empty).
//
// What can still change between two calls is the memory behind those typed
// arrays: an ArrayBuffer may be transferred (detached: its memory belongs to
// another thread, or is freed) or, if resizable, shrink or grow. Every call
// therefore checks, before any kernel runs, that each distinct ArrayBuffer
// still has the byte length it had when the plan was made (check_unchanged):
// a detached buffer has length 0, and V8 never moves the memory of one that
// stays attached (a resizable one grows and shrinks in place), so an
// unchanged byte length means every view of it still has its length and its
// address. Checking per ArrayBuffer, not per view, is what makes a step over
// many small tensors carved from a few buffers (a model's flat parameters,
// an optimizer's state slab) cheap. Nothing else is read: the calls take no
// Array, so no getter or other JavaScript can run between that check and the
// kernel.
#include "plan.h"

#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "args.h"
#include "dispatch/kernel_table.h"
#include "reduce_call.h"
#include "update_call.h"

namespace fusedoptim {

namespace {

// Marks an External as one of our plans: anything else passed as `plan` (an
// External of another addon, a plain object) is refused instead of misread.
constexpr napi_type_tag kPlanTag = {0x6675736564707431ULL, 0x706c616e2d763031ULL};

class Plan {
 public:
  Plan(napi_env env, const UpdateKernel& kernel) : env_(env), kernel_(kernel) {}
  ~Plan() {
    for (const Watched& w : watched_) {
      napi_delete_reference(env_, w.ref);
      if (w.first_view != nullptr) napi_delete_reference(env_, w.first_view);
    }
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  const UpdateKernel& kernel() const { return kernel_; }
  ResolvedBatch& batch() { return batch_; }
  const ResolvedBatch& batch() const { return batch_; }
  UpdateFn run = nullptr;  // the kernel's variant for the batch's element types
  ReduceBlocks blocks;     // sized on the first reducePlanned

  // Watches `typed_arrays` (the addon's own Array of the buffers just resolved)
  // through a weak reference to each distinct ArrayBuffer, and records each
  // one's byte length.
  void watch(Napi::Env env, const Napi::Array& typed_arrays) {
    std::unordered_map<const void*, std::size_t> seen;  // ArrayBuffer data → index in watched_
    const uint32_t count = typed_arrays.Length();
    for (uint32_t i = 0; i < count; ++i) {
      const napi_value view = typed_arrays.Get(i);
      napi_value arraybuffer;
      void* data = nullptr;
      std::size_t byte_length = 0;
      std::size_t length = 0;
      if (napi_get_typedarray_info(env, view, nullptr, &length, nullptr, &arraybuffer, nullptr) != napi_ok) {
        throw Napi::Error::New(env, "plan: a buffer could not be read");
      }
      if (napi_get_arraybuffer_info(env, arraybuffer, &data, &byte_length) != napi_ok) {
        // Not an ArrayBuffer (a SharedArrayBuffer): watch the view's own length.
        napi_ref ref;
        if (napi_create_reference(env, view, kWeak, &ref) != napi_ok) throw Napi::Error::New(env);
        watched_.push_back(Watched{ref, nullptr, length, i, length, true});
        continue;
      }
      // Distinct attached ArrayBuffers have distinct memory; empty ones (no
      // memory to compare) are each watched on their own.
      if (byte_length != 0 && seen.count(data) != 0) continue;
      napi_ref ref;
      napi_ref first_view;
      if (napi_create_reference(env, arraybuffer, kWeak, &ref) != napi_ok ||
          napi_create_reference(env, view, kWeak, &first_view) != napi_ok) {
        throw Napi::Error::New(env);
      }
      if (byte_length != 0) seen.emplace(data, watched_.size());
      watched_.push_back(Watched{ref, first_view, byte_length, i, length, false});
    }
  }

  // Throws unless every ArrayBuffer still has the byte length it had when the
  // plan was made (see the header).
  void check_unchanged(Napi::Env env) const {
    for (const Watched& w : watched_) {
      napi_value value = nullptr;
      std::size_t length = 0;
      if (napi_get_reference_value(env, w.ref, &value) != napi_ok) throw Napi::Error::New(env, "plan: a buffer could not be read");
      if (value == nullptr) {
        throw_type_error(env, "ERR_DETACHED_BUFFER",
                         "plan: buffers[" + std::to_string(w.first) +
                             "]: was garbage-collected (a plan does not keep its buffers alive; their owner must)");
      }
      const bool read = (w.is_view ? napi_get_typedarray_info(env, value, nullptr, &length, nullptr, nullptr, nullptr)
                                   : napi_get_arraybuffer_info(env, value, nullptr, &length)) == napi_ok;
      if (!read) throw Napi::Error::New(env, "plan: a buffer could not be read");
      if (length != w.length) throw_changed(env, value, w);
    }
  }

 private:
  // A reference count of 0 makes a weak reference: it does not keep its value alive.
  static constexpr uint32_t kWeak = 0;

  struct Watched {
    napi_ref ref;             // the ArrayBuffer (or, for a SharedArrayBuffer, the view itself)
    napi_ref first_view;      // the plan's first view of that ArrayBuffer, for messages
    std::size_t length;       // its byte length (the view's element length) when the plan was made
    uint32_t first;           // the index of that first view in the plan's buffers
    std::size_t first_length; // its element length then
    bool is_view;
  };

  [[noreturn]] static void throw_changed(Napi::Env env, napi_value value, const Watched& w) {
    const std::string name = "plan: buffers[" + std::to_string(w.first) + "]";
    if (!w.is_view) {
      bool detached = false;
      napi_is_detached_arraybuffer(env, value, &detached);
      if (detached) throw_type_error(env, "ERR_DETACHED_BUFFER", name + ": its ArrayBuffer is detached");
    }
    // The first view's length now (a view of a resized buffer may keep its
    // length while another view of it went out of bounds).
    std::size_t now = 0;
    napi_value view = value;
    if (w.first_view != nullptr) napi_get_reference_value(env, w.first_view, &view);
    if (view != nullptr) napi_get_typedarray_info(env, view, nullptr, &now, nullptr, nullptr, nullptr);
    throw_range_error(env, "ERR_SHAPE_MISMATCH",
                      name + ": expected length " + std::to_string(w.first_length) +
                          " as when the plan was made, got " + std::to_string(now) +
                          (now == w.first_length ? " (its ArrayBuffer was resized)" : ""));
  }

  napi_env env_;
  const UpdateKernel& kernel_;
  ResolvedBatch batch_;
  std::vector<Watched> watched_;
};

void finalize(Napi::Env, Plan* plan) { delete plan; }

// The plan `value` is, or null for anything else.
Plan* as_plan(Napi::Env env, const Napi::Value& value) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(env, value, &kPlanTag, &tagged) != napi_ok || !tagged) return nullptr;
  return value.As<Napi::External<Plan>>().Data();
}

[[noreturn]] void throw_not_a_plan(Napi::Env env, const std::string& name) {
  throw_type_error(env, "ERR_INVALID_ARG_TYPE", name + ": expected a plan made by createPlan");
}

// The plans a call runs: one plan, or an Array of them (the calls of one
// optimizer step), every element read before any plan is checked (a getter
// cannot change what was checked) and every plan checked before any kernel
// runs, so a step over several plans that is refused has written nothing.
// The vector is a per-thread spare, as in args.cc: a warm step allocates nothing.
class PlanList {
 public:
  PlanList(Napi::Env env, const Napi::Value& value) {
    plans_.swap(spare());
    plans_.clear();
    if (!value.IsArray()) {
      Plan* plan = as_plan(env, value);
      if (plan == nullptr) throw_not_a_plan(env, "plan");
      plans_.push_back(plan);
      return;
    }
    const Napi::Array list = value.As<Napi::Array>();
    const uint32_t count = list.Length();
    if (count == 0) throw_range_error(env, "ERR_SHAPE_MISMATCH", "plan: expected a plan or a non-empty Array of plans, got an empty Array");
    for (uint32_t i = 0; i < count; ++i) {
      napi_value item;
      if (napi_get_element(env, list, i, &item) != napi_ok) throw Napi::Error::New(env);
      Plan* plan = as_plan(env, Napi::Value(env, item));
      if (plan == nullptr) throw_not_a_plan(env, "plan[" + std::to_string(i) + "]");
      plans_.push_back(plan);
    }
  }
  ~PlanList() {
    plans_.clear();
    if (plans_.capacity() > spare().capacity()) plans_.swap(spare());
  }
  PlanList(const PlanList&) = delete;
  PlanList& operator=(const PlanList&) = delete;

  const std::vector<Plan*>& plans() const { return plans_; }

  // Throws unless every plan's buffers are as when it was made (check_unchanged).
  void check_unchanged(Napi::Env env) const {
    for (const Plan* plan : plans_) plan->check_unchanged(env);
  }

 private:
  static std::vector<Plan*>& spare() {
    thread_local std::vector<Plan*> vector;
    return vector;
  }
  std::vector<Plan*> plans_;
};

}  // namespace

Napi::Value CreatePlan(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto plan = std::make_unique<Plan>(env, read_kernel(env, info[0]));
  Napi::Array owners;
  read_batch_into(env, info[1], layout_of(plan->kernel()), "buffers", plan->batch(), &owners);
  plan->run = variant_for(env, plan->kernel(), plan->batch());
  // `owners` is the addon's own Array of the typed arrays just resolved: reading
  // it runs no JavaScript.
  plan->watch(env, owners);
  Napi::External<Plan> external = Napi::External<Plan>::New(env, plan.get(), finalize);
  plan.release();
  if (napi_type_tag_object(env, external, &kPlanTag) != napi_ok) throw Napi::Error::New(env);
  return external;
}

Napi::Value UpdatePlanned(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const PlanList list(env, info[0]);
  int scalar_count = 0;
  for (const Plan* plan : list.plans()) scalar_count += plan->kernel().scalar_count;
  const double* scalars = read_scalars(env, info[1], scalar_count, "scalars");
  const int threads = read_threads(env, info[2]);
  list.check_unchanged(env);
  for (Plan* plan : list.plans()) {
    plan->run(plan->batch().view(), scalars, threads);
    scalars += plan->kernel().scalar_count;
  }
  return env.Undefined();
}

Napi::Value ReducePlanned(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const PlanList list(env, info[0]);
  // Only the slots of the param's element type (param, grad) can be reduced, and one
  // element type at a time: the partial results of float32 and float64 merge apart.
  int param_slots = kMaxSlots;
  const bool is_double = list.plans().front()->batch().is_double();
  for (const Plan* plan : list.plans()) {
    const UpdateKernel& kernel = plan->kernel();
    param_slots = std::min(param_slots, kernel.slots - kernel.state_slots);
    if (plan->batch().is_double() != is_double) {
      throw_type_error(env, "ERR_DTYPE_MISMATCH", "plan: expected plans whose params are all of one element type");
    }
  }
  const int slot = read_int(env, info[1], 0, param_slots - 1, "slot");
  const int kind = read_int(env, info[2], 0, kReduceKindCount - 1, "kind");
  const double p = read_number(env, info[3], "p");
  const int threads = read_threads(env, info[4]);
  double value = read_number(env, info[5], "initial");
  list.check_unchanged(env);
  for (Plan* plan : list.plans()) {
    ResolvedBatch& batch = plan->batch();
    if (plan->blocks.block_prefix.empty()) plan->blocks.fit(batch.lengths);
    // The batch seen from `slot`: the reduction reads buffer 0 of each tensor.
    TensorBatch view = batch.view();
    view.buffers += slot;
    value = kernels().reduce[kind][is_double ? 1 : 0](view, p, threads, plan->blocks.scratch(), value);
  }
  return Napi::Number::New(env, value);
}

}  // namespace fusedoptim
