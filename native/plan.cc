// A plan holds what update() would resolve on every call: the kernel, the raw
// pointers and lengths of its buffers, and a persistent reference to each
// typed array, so that none of them can be collected while the plan lives.
//
// What can still change between two calls is the state of those typed arrays:
// an ArrayBuffer may be transferred (detached: its memory belongs to another
// thread, or is freed) or, if resizable, shrink or grow. So every call reads
// each buffer's length again (two cheap Node-API calls, where
// update() needs three per buffer and the element fetches of an Array) and
// refuses to run if any differs from the plan's (see check_unchanged). Nothing else is read: the
// call takes no Array, so no getter or other JavaScript can run between that
// check and the kernel.
#include "plan.h"

#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "kernel_table.h"
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
    for (napi_ref ref : refs_) napi_delete_reference(env_, ref);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  const UpdateKernel& kernel() const { return kernel_; }
  ResolvedBatch& batch() { return batch_; }
  UpdateFn run = nullptr;  // the kernel's variant for the batch's element types
  std::vector<napi_ref>& refs() { return refs_; }

  // Throws unless every buffer still has the length it had when the plan was
  // made. The length alone says the memory is still there and still the same:
  // a detached view has length 0, and V8 never moves the memory of an
  // ArrayBuffer that stays attached (a resizable one grows and shrinks in
  // place, and a view past its end has length 0). A zero-length buffer is
  // never read or written. Asking only for the length also spares the call
  // the handle of each ArrayBuffer.
  void check_unchanged(Napi::Env env) const {
    for (std::size_t i = 0; i < refs_.size(); ++i) {
      napi_value value;
      std::size_t length = 0;
      if (napi_get_reference_value(env, refs_[i], &value) != napi_ok || value == nullptr ||
          napi_get_typedarray_info(env, value, nullptr, &length, nullptr, nullptr, nullptr) != napi_ok) {
        throw Napi::Error::New(env, "plan: a buffer could not be read");
      }
      const std::size_t expected = batch_.lengths[i / std::size_t(batch_.slots)];
      if (length != expected) throw_changed(env, value, i, expected, length);
    }
  }

 private:
  [[noreturn]] static void throw_changed(Napi::Env env, napi_value value, std::size_t i, std::size_t expected,
                                         std::size_t length) {
    const std::string name = "plan: buffers[" + std::to_string(i) + "]";
    if (length == 0) {
      napi_value arraybuffer;
      bool detached = false;
      napi_get_typedarray_info(env, value, nullptr, nullptr, nullptr, &arraybuffer, nullptr);
      napi_is_detached_arraybuffer(env, arraybuffer, &detached);
      if (detached) throw_type_error(env, "ERR_DETACHED_BUFFER", name + ": its ArrayBuffer is detached");
    }
    throw_range_error(env, "ERR_SHAPE_MISMATCH",
                      name + ": expected length " + std::to_string(expected) + " as when the plan was made, got " +
                          std::to_string(length));
  }

  napi_env env_;
  const UpdateKernel& kernel_;
  ResolvedBatch batch_;
  std::vector<napi_ref> refs_;
};

void finalize(Napi::Env, Plan* plan) { delete plan; }

Plan& read_plan(Napi::Env env, const Napi::Value& value) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(env, value, &kPlanTag, &tagged) != napi_ok || !tagged) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "plan: expected a plan made by createPlan");
  }
  return *value.As<Napi::External<Plan>>().Data();
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
  const uint32_t count = owners.Length();
  plan->refs().reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    napi_ref ref;
    if (napi_create_reference(env, owners.Get(i), 1, &ref) != napi_ok) throw Napi::Error::New(env);
    plan->refs().push_back(ref);
  }
  Napi::External<Plan> external = Napi::External<Plan>::New(env, plan.get(), finalize);
  plan.release();
  if (napi_type_tag_object(env, external, &kPlanTag) != napi_ok) throw Napi::Error::New(env);
  return external;
}

Napi::Value UpdatePlanned(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Plan& plan = read_plan(env, info[0]);
  const double* scalars = read_scalars(env, info[1], plan.kernel().scalar_count, "scalars");
  const int threads = read_threads(env, info[2]);
  plan.check_unchanged(env);
  plan.run(plan.batch().view(), scalars, threads);
  return env.Undefined();
}

}  // namespace fusedoptim
