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
#include <cmath>
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
        watched_.push_back(Watched{ref, nullptr, nullptr, length, i, length, true});
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
      watched_.push_back(Watched{ref, first_view, byte_length != 0 ? data : nullptr, byte_length, i, length, false});
    }
  }

  // Throws unless every ArrayBuffer still has the byte length it had when the
  // plan was made (see the header).
  void check_unchanged(Napi::Env env) const {
    for (const Watched& w : watched_) check_watched(env, w, -1);
  }

  // What the plan watches: one entry per distinct ArrayBuffer (per view of a SharedArrayBuffer).
  struct Watched {
    napi_ref ref;             // the ArrayBuffer (or, for a SharedArrayBuffer, the view itself)
    napi_ref first_view;      // the plan's first view of that ArrayBuffer, for messages
    const void* data;         // the ArrayBuffer's memory when the plan was made (null if none, or a view)
    std::size_t length;       // its byte length (the view's element length) when the plan was made
    uint32_t first;           // the index of that first view in the plan's buffers
    std::size_t first_length; // its element length then
    bool is_view;
  };
  const std::vector<Watched>& watched() const { return watched_; }

  // Throws unless `w` still has the length it was recorded with; `plan` is
  // the plan's index in a step, for messages (-1: a plan run on its own).
  // (Reading a lone view's length instead of its ArrayBuffer's byte length
  // was measured no cheaper: the Node-API calls cost the same.)
  static void check_watched(Napi::Env env, const Watched& w, int plan) {
    napi_value value = nullptr;
    std::size_t length = 0;
    if (napi_get_reference_value(env, w.ref, &value) != napi_ok) throw Napi::Error::New(env, "plan: a buffer could not be read");
    if (value == nullptr) {
      throw_type_error(env, "ERR_DETACHED_BUFFER",
                       buffer_name(w, plan) +
                           ": was garbage-collected (a plan does not keep its buffers alive; their owner must)");
    }
    const bool read = (w.is_view ? napi_get_typedarray_info(env, value, nullptr, &length, nullptr, nullptr, nullptr)
                                 : napi_get_arraybuffer_info(env, value, nullptr, &length)) == napi_ok;
    if (!read) throw Napi::Error::New(env, "plan: a buffer could not be read");
    if (length != w.length) throw_changed(env, value, w, plan);
  }

 private:
  // A reference count of 0 makes a weak reference: it does not keep its value alive.
  static constexpr uint32_t kWeak = 0;

  // "plan: buffers[3]", or in a step "step: plans[2].buffers[3]".
  static std::string buffer_name(const Watched& w, int plan) {
    return (plan < 0 ? std::string("plan: ") : "step: plans[" + std::to_string(plan) + "].") + "buffers[" +
           std::to_string(w.first) + "]";
  }

  [[noreturn]] static void throw_changed(Napi::Env env, napi_value value, const Watched& w, int plan) {
    const std::string name = buffer_name(w, plan);
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

// Runs every plan's kernel, each with its own scalars, read in turn from
// `scalars` (what updatePlanned and a step's run do).
void run_plans(const std::vector<Plan*>& plans, const double* scalars, int threads) {
  for (Plan* plan : plans) {
    plan->run(plan->batch().view(), scalars, threads);
    scalars += plan->kernel().scalar_count;
  }
}

// Reduces buffer `slot` of every tensor of `plans` (all of one element type:
// `is_double`), chained from `value` in plan order (what reducePlanned and a
// step's norm do).
double reduce_plans(const std::vector<Plan*>& plans, int slot, int kind, bool is_double, double p, int threads, double value) {
  for (Plan* plan : plans) {
    ResolvedBatch& batch = plan->batch();
    if (plan->blocks.block_prefix.empty()) plan->blocks.fit(batch.lengths);
    // The batch seen from `slot`: the reduction reads buffer 0 of each tensor.
    TensorBatch view = batch.view();
    view.buffers += slot;
    value = kernels().reduce[kind][is_double ? 1 : 0](view, p, threads, plan->blocks.scratch(), value);
  }
  return value;
}

// The step tag: a step is a plan list of its own, made once.
constexpr napi_type_tag kStepTag = {0x6675736564707431ULL, 0x737465702d763031ULL};

// The calls of one optimizer step, made once from their plans (createStep) and
// run by one call (runStep): every distinct ArrayBuffer of all the plans is
// checked once per run, however many plans and views share it, before any
// kernel runs; then, when the step clips, the norm over every plan's gradients
// and the clip coefficient; then every plan's kernel.
class Step {
 public:
  Step(napi_env env) : env_(env) {}
  ~Step() {
    for (napi_ref ref : plan_refs_) napi_delete_reference(env_, ref);
  }
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;

  // Adds plan `plan` (its External is `external`, held strongly: the step
  // keeps its plans, and they keep no buffer alive).
  void add(Napi::Env env, Plan* plan, napi_value external) {
    napi_ref ref;
    if (napi_create_reference(env, external, 1, &ref) != napi_ok) throw Napi::Error::New(env);
    plan_refs_.push_back(ref);
    const int index = int(plans_.size());
    plans_.push_back(plan);
    by_dtype_[plan->batch().is_double() ? 1 : 0].push_back(plan);
    // The kernel's gradient scale, where the clip coefficient goes.
    const UpdateKernel& kernel = plan->kernel();
    int grad_scale = -1;
    for (int s = 0; s < kernel.scalar_count; ++s) {
      if (std::string(kernel.scalar_names[s]) == "grad_scale") grad_scale = scalar_count_ + s;
    }
    grad_scale_.push_back(grad_scale);
    scalar_count_ += kernel.scalar_count;
    param_slots_ = std::min(param_slots_, kernel.slots - kernel.state_slots);
    for (const Plan::Watched& w : plan->watched()) {
      if (w.data != nullptr) {
        auto found = seen_.find(w.data);
        if (found != seen_.end()) {
          // Watched once: the very same ArrayBuffer (alive, not merely at the same address: plans
          // made at different times may have seen two buffers there), with the same byte length.
          const Entry& kept = watched_[found->second];
          if (kept.watched->length == w.length && same_object(env, kept.watched->ref, w.ref)) continue;
        } else {
          seen_.emplace(w.data, watched_.size());
        }
      }
      watched_.push_back(Entry{&w, index});
    }
  }

  // Sizes what a run uses, so that a run allocates nothing.
  void finish() {
    scaled_.resize(std::size_t(scalar_count_));
    for (Plan* plan : plans_) {
      if (plan->blocks.block_prefix.empty()) plan->blocks.fit(plan->batch().lengths);
    }
    seen_.clear();
  }

  int scalar_count() const { return scalar_count_; }

  // Whether two weak references hold one live object.
  static bool same_object(Napi::Env env, napi_ref a, napi_ref b) {
    napi_value x = nullptr, y = nullptr;
    bool same = false;
    if (napi_get_reference_value(env, a, &x) != napi_ok || napi_get_reference_value(env, b, &y) != napi_ok) return false;
    if (x == nullptr || y == nullptr) return false;
    return napi_strict_equals(env, x, y, &same) == napi_ok && same;
  }
  int param_slots() const { return param_slots_; }

  // Throws unless every distinct ArrayBuffer is as when its plan was made.
  void check_unchanged(Napi::Env env) const {
    for (const Entry& e : watched_) Plan::check_watched(env, *e.watched, e.plan);
  }

  // Σ (or max) over the gradients (slot 1) of every plan: the float32 plans'
  // tensors chained in order, then the float64 plans', the two merged as
  // lib/norm.ts mergeValues does: the bits of normOf over the same gradients.
  double reduce_gradients(int kind, double p, int threads) {
    double total = 0.0;
    for (int d = 0; d < 2; ++d) {
      if (by_dtype_[d].empty()) continue;
      const double value = reduce_plans(by_dtype_[d], 1, kind, d == 1, p, threads, 0.0);
      total = kind == int(ReduceKind::kMaxAbs) ? ((total != total || total > value) ? total : value) : total + value;
    }
    return total;
  }

  // Runs every plan's kernel with `scalars` (each plan's in turn).
  void run(const double* scalars, int threads) { run_plans(plans_, scalars, threads); }

  // `scalars` with each kernel's grad_scale multiplied by `coefficient`, as the
  // full step computes it: ±(gradScale · coefficient), the sign the kernel's
  // scalars gave gradScale (maximize). Throws if a kernel has no grad_scale, or
  // its scalar is not ±gradScale (an optimizer whose scalars fold gradScale
  // into another number cannot be clipped here).
  const double* scaled(Napi::Env env, const double* scalars, double grad_scale, double coefficient) {
    std::copy(scalars, scalars + scalar_count_, scaled_.begin());
    const double magnitude = grad_scale * coefficient;
    for (std::size_t k = 0; k < grad_scale_.size(); ++k) {
      const int at = grad_scale_[k];
      if (at < 0 || std::fabs(scalars[at]) != std::fabs(grad_scale)) {
        throw_range_error(env, "ERR_INVALID_ARG_VALUE",
                          "step: plans[" + std::to_string(k) + "]: its scalars hold no grad_scale equal to ±gradScale");
      }
      scaled_[std::size_t(at)] = std::signbit(scalars[at]) != std::signbit(grad_scale) ? -magnitude : magnitude;
    }
    return scaled_.data();
  }

 private:
  struct Entry {
    const Plan::Watched* watched;
    int plan;
  };
  napi_env env_;
  std::vector<Plan*> plans_;
  std::vector<napi_ref> plan_refs_;
  std::vector<Plan*> by_dtype_[2];
  std::vector<int> grad_scale_;
  std::vector<Entry> watched_;
  std::unordered_map<const void*, std::size_t> seen_;  // ArrayBuffer memory → index in watched_ (while adding)
  std::vector<double> scaled_;
  int scalar_count_ = 0;
  int param_slots_ = kMaxSlots;
};

void finalize_step(Napi::Env, Step* step) { delete step; }

Step* as_step(Napi::Env env, const Napi::Value& value) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(env, value, &kStepTag, &tagged) != napi_ok || !tagged) return nullptr;
  return value.As<Napi::External<Step>>().Data();
}

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
  run_plans(list.plans(), scalars, threads);
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
  const double value = read_number(env, info[5], "initial");
  list.check_unchanged(env);
  return Napi::Number::New(env, reduce_plans(list.plans(), slot, kind, is_double, p, threads, value));
}

}  // namespace fusedoptim

namespace fusedoptim {

Napi::Value CreateStep(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "plans: expected a non-empty Array of plans");
  const Napi::Array list = info[0].As<Napi::Array>();
  const uint32_t count = list.Length();
  if (count == 0) throw_range_error(env, "ERR_SHAPE_MISMATCH", "plans: expected a non-empty Array of plans, got an empty Array");
  // Every element read, and checked to be a plan, before the step is built.
  std::vector<std::pair<Plan*, napi_value>> plans;
  for (uint32_t i = 0; i < count; ++i) {
    napi_value item;
    if (napi_get_element(env, list, i, &item) != napi_ok) throw Napi::Error::New(env);
    Plan* plan = as_plan(env, Napi::Value(env, item));
    if (plan == nullptr) throw_not_a_plan(env, "plans[" + std::to_string(i) + "]");
    plans.emplace_back(plan, item);
  }
  auto step = std::make_unique<Step>(env);
  for (const auto& [plan, external] : plans) step->add(env, plan, external);
  step->finish();
  Napi::External<Step> external = Napi::External<Step>::New(env, step.get(), finalize_step);
  step.release();
  if (napi_type_tag_object(env, external, &kStepTag) != napi_ok) throw Napi::Error::New(env);
  return external;
}

Napi::Value RunStep(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Step* step = as_step(env, info[0]);
  if (step == nullptr) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "step: expected a step made by createStep");
  const double* scalars = read_scalars(env, info[1], step->scalar_count(), "scalars");
  const int threads = read_threads(env, info[2]);
  if (info[3].IsUndefined()) {
    step->check_unchanged(env);
    step->run(scalars, threads);
    return env.Undefined();
  }
  // The clip: [kind, gradScale, maxNorm, flags] (flags: 1 maxNorm given, 2 stop on a non-finite norm).
  const double* clip = read_scalars(env, info[3], 4, "clip");
  const double kind_value = clip[0];
  if (!(kind_value == double(int(ReduceKind::kSumSquares)) || kind_value == double(int(ReduceKind::kSumAbs)) ||
        kind_value == double(int(ReduceKind::kMaxAbs)))) {
    throw_range_error(env, "ERR_OUT_OF_RANGE", "clip[0]: expected the reduction of the 2-, 1- or ∞-norm (0, 1 or 2)");
  }
  const double grad_scale = clip[1];
  const double max_norm = clip[2];
  const double flags = clip[3];
  if (!std::isfinite(grad_scale)) throw_range_error(env, "ERR_NON_FINITE", "clip[1]: expected a finite gradScale");
  if (!(max_norm >= 0)) throw_range_error(env, "ERR_OUT_OF_RANGE", "clip[2]: expected a maxNorm >= 0 (or Infinity)");
  if (!(flags >= 0 && flags <= 3 && std::floor(flags) == flags)) {
    throw_range_error(env, "ERR_OUT_OF_RANGE", "clip[3]: expected flags in [0, 3]");
  }
  const int kind = int(kind_value);
  if (step->param_slots() < 2) throw_range_error(env, "ERR_OUT_OF_RANGE", "clip: a plan of the step has no gradient slot");
  const bool has_max = (int(flags) & 1) != 0;
  const bool stop = (int(flags) & 2) != 0;
  step->check_unchanged(env);
  // The norm's root as lib/norm.ts finishValue takes it (√ is correctly rounded in both).
  const double p = kind == int(ReduceKind::kSumSquares) ? 2.0 : kind == int(ReduceKind::kSumAbs) ? 1.0 : INFINITY;
  const double total = step->reduce_gradients(kind, p, threads);
  const double norm = kind == int(ReduceKind::kSumSquares) ? std::sqrt(total) : total;
  // lib/optim/core/step_checks.ts stepScale and lib/norm.ts clipScale, clipCoefficient, their twins:
  //   gradNorm = norm · |gradScale|; skip on a non-finite one when asked; coefficient = min(maxNorm / (gradNorm + 1e-6), 1).
  const double grad_norm = norm * std::fabs(grad_scale);
  if (!std::isfinite(grad_norm) && stop) return Napi::Number::New(env, norm);
  if (has_max) {
    const double raw = max_norm / (grad_norm + 1e-6);
    const double coefficient = raw > 1 ? 1 : raw;
    scalars = step->scaled(env, scalars, grad_scale, coefficient);
  }
  step->run(scalars, threads);
  return Napi::Number::New(env, norm);
}

}  // namespace fusedoptim
